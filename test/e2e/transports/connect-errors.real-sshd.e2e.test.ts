// Connect errors against real OpenSSH: a key sshd does not authorize, a host key that is not the
// pinned one and an sshd sharing no cipher with loc are permanent (no retry can succeed), and an
// expose meeting one fails at once with the reason instead of retrying until --connect-timeout.
// Nothing listening, or a peer that hangs up, stays transient.
import net from "node:net";
import os from "node:os";
import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { ExposeSession } from "../../../src/expose/session.js";
import { MemoryExposeCluster } from "../../support/memory-expose-cluster.js";
import { classifyConnectError, PermanentConnectError, permanentReason } from "../../../src/transports/connect-errors.js";
import { SshReverseTransport } from "../../../src/transports/ssh-reverse.js";
import type { ForwardTransport, PodTarget, ReverseConnector, ReverseConnectorOptions, ReverseTransport } from "../../../src/transports/transport.js";
import { freeLoopbackPort, startSshd, type Sshd } from "../../cluster/helpers.js";

const user = os.userInfo().username;
const target = { namespace: "ns-ssh", pod: "loc-proxy-abc" };
const PROXY_PORT = 2222;
/** Far above what a refused login takes: a failure before it was not waiting for the timeout. */
const CONNECT_TIMEOUT_MS = 30_000;
const AT_ONCE_MS = 5_000;

/** Connects to a loopback port (the test's sshd) instead of a pod. */
class LoopbackForward implements ForwardTransport {
  readonly kind = "forward";
  readonly name = "loopback";
  port = 0;
  opens = 0;

  open(_target: PodTarget): Promise<Duplex> {
    this.opens += 1;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port: this.port }, () => resolve(socket));
      socket.once("error", reject);
    });
  }
}

/** The real SSH transport, keeping the plan it prepared so the test's sshd can use its keys. */
class CapturingTransport implements ReverseTransport {
  readonly kind = "reverse";
  readonly name = "ssh";
  plan: ReverseConnector | undefined;
  constructor(private readonly real: ReverseTransport) {}
  prepare(options: ReverseConnectorOptions): ReverseConnector {
    this.plan = this.real.prepare(options);
    return this.plan;
  }
}

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const ssh = (forward: LoopbackForward) => new SshReverseTransport(forward, { readyTimeoutMs: 10_000, keepaliveIntervalMs: 5_000 });

/** sshd with `hostKeyOf`'s host key (a fresh one when omitted) authorizing `keysOf`'s client key. */
async function sshd(keysOf: ReverseConnector, hostKeyOf?: ReverseConnector, configLines: string[] = []): Promise<Sshd> {
  const server = await startSshd({
    ...(hostKeyOf ? { hostKeyPrivate: hostKeyOf.proxy.secretFiles.ssh_host_ed25519_key ?? "" } : {}),
    authorizedKeys: keysOf.proxy.secretFiles.authorized_keys ?? "",
    configLines,
  });
  cleanups.push(() => server.stop());
  return server;
}

async function connectError(plan: ReverseConnector): Promise<Error> {
  const started = Date.now();
  const outcome = await plan.connect(target, [], AbortSignal.timeout(CONNECT_TIMEOUT_MS)).then(
    (session) => (cleanups.push(() => session.close()), new Error("connected")),
    (error: Error) => error,
  );
  expect(Date.now() - started).toBeLessThan(AT_ONCE_MS);
  expect(outcome.message).not.toMatch(/PRIVATE KEY|AAAA/);
  return outcome;
}

describe("SSH connect errors against real sshd", () => {
  it("a client key sshd does not authorize is a permanent authentication failure", async () => {
    const forward = new LoopbackForward();
    const [plan, other] = [ssh(forward).prepare({ user, port: PROXY_PORT }), ssh(forward).prepare({ user, port: PROXY_PORT })];
    forward.port = (await sshd(other, plan)).port;
    const error = await connectError(plan);
    expect(error).toBeInstanceOf(PermanentConnectError);
    expect(error).toMatchObject({ reason: "authentication", code: "SSH_AUTH_FAILED" });
    expect(error.message).toMatch(/refused this session's key/);
  });

  it("a host key that is not the pinned one is a permanent host-key failure", async () => {
    const forward = new LoopbackForward();
    const plan = ssh(forward).prepare({ user, port: PROXY_PORT });
    forward.port = (await sshd(plan)).port;
    const error = await connectError(plan);
    expect(error).toMatchObject({ reason: "host-key", code: "SSH_HOST_KEY_MISMATCH" });
    expect(classifyConnectError(error)).toBe("permanent");
    expect(error.message).toContain(plan.proxy.fingerprint);
  });

  it("an sshd that shares no cipher with loc is a permanent protocol failure", async () => {
    const forward = new LoopbackForward();
    const plan = ssh(forward).prepare({ user, port: PROXY_PORT });
    // CBC ciphers are ones ssh2 supports but never offers by default.
    forward.port = (await sshd(plan, plan, ["Ciphers aes256-cbc"])).port;
    const error = await connectError(plan);
    expect(error).toMatchObject({ reason: "protocol", code: "SSH_PROTOCOL" });
    expect(error.message).toMatch(/SSH handshake with proxy pod ns-ssh\/loc-proxy-abc failed: .*cipher/i);
  });

  it("nothing listening, or a peer that hangs up before speaking SSH, is transient", async () => {
    const forward = new LoopbackForward();
    const plan = ssh(forward).prepare({ user, port: PROXY_PORT });
    forward.port = await freeLoopbackPort();
    const refused = await connectError(plan);
    expect(refused.message).toMatch(/ECONNREFUSED/);
    expect(classifyConnectError(refused)).toBe("transient");

    const hangUp = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => hangUp.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => hangUp.close(resolve)));
    forward.port = (hangUp.address() as net.AddressInfo).port;
    const closed = await connectError(plan);
    expect(closed.message).toMatch(/SSH connection to proxy pod ns-ssh\/loc-proxy-abc failed/);
    expect(permanentReason(closed)).toBeUndefined();
  });
});

describe("expose on the cluster twin over real sshd", () => {
  async function exposeAgainst(start: (plan: ReverseConnector) => Promise<Sshd>) {
    const cluster = new MemoryExposeCluster();
    cluster.addNamespace("shop");
    cluster.addService({ metadata: { namespace: "shop", name: "web" }, spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } });
    cluster.addDeployment("shop", "web", 2, { app: "web" });
    const forward = new LoopbackForward();
    const transport = new CapturingTransport(ssh(forward));
    const session = new ExposeSession(
      { namespace: "shop", name: "web", maps: [], image: "img", user, runAsUser: 911, sshPort: PROXY_PORT, readyTimeoutMs: 5_000, connectTimeoutMs: CONNECT_TIMEOUT_MS, localHost: "127.0.0.1" },
      { cluster, transport, owner: "alice.laptop", record: () => undefined, pollMs: 5, backoff: { baseMs: 50, capMs: 200, resetAfterMs: 60_000 }, sessionId: "s1" },
    );
    forward.port = (await start(transport.plan!)).port;
    const started = Date.now();
    session.start();
    const outcome = await session.done;
    return { outcome, elapsed: Date.now() - started, forward, cluster };
  }

  it("a wrong pinned host key fails the expose at once with the reason, and undoes it", async () => {
    const { outcome, elapsed, forward, cluster } = await exposeAgainst((plan) => sshd(plan));
    expect(elapsed).toBeLessThan(AT_ONCE_MS);
    expect(forward.opens).toBe(1);
    expect(outcome).toMatchObject({ state: "failed", undone: true, error: expect.stringMatching(/^could not connect to the proxy pod \(host-key failure, not retried\): the host key of proxy pod shop\/loc-web-s1 did not match/) });
    expect(cluster.workload({ kind: "Deployment", namespace: "shop", name: "web" })?.replicas).toBe(2);
    expect(cluster.pods("shop").filter((p) => p.labels["loc.dev/session"])).toEqual([]);
  });

  it("a key sshd refuses fails the expose at once with the reason", async () => {
    const other = ssh(new LoopbackForward()).prepare({ user, port: PROXY_PORT });
    const { outcome, elapsed, forward } = await exposeAgainst((plan) => sshd(other, plan));
    expect(elapsed).toBeLessThan(AT_ONCE_MS);
    expect(forward.opens).toBe(1);
    expect(outcome).toMatchObject({ state: "failed", undone: true, error: expect.stringMatching(/^could not connect to the proxy pod \(authentication failure, not retried\): sshd in proxy pod shop\/loc-web-s1 refused this session's key/) });
  });
});
