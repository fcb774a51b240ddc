// Connect errors classified: a failure every retry would meet again (refused key, wrong host key, no
// common protocol, RBAC saying no) fails the expose at once with its reason; network failures are
// retried as before. The real sshd cases are in test/e2e/transports/connect-errors.real-sshd.e2e.test.ts.
import { KubeConfig } from "@kubernetes/client-node";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { describe, expect, it, onTestFinished } from "vitest";
import { ExposeSession, type ExposeOptions } from "../../../src/expose/session.js";
import { MemoryExposeCluster } from "../../support/memory-expose-cluster.js";
import { classifyConnectError, PermanentConnectError, permanentReason } from "../../../src/transports/connect-errors.js";
import { KubePortForwardTransport } from "../../../src/transports/kube-port-forward.js";
import { SshReverseTransport } from "../../../src/transports/ssh-reverse.js";
import type { ReverseConnector } from "../../../src/transports/transport.js";
import { FakeReverseTransport } from "../../helpers/fake-reverse.js";

/** ssh2's errors carry a `level`; these mimic them as ssh2 raises them. */
const ssh2Error = (message: string, level: string) => Object.assign(new Error(message), { level });
const systemError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:2222`), { code });

const PERMANENT = {
  "auth refused": new PermanentConnectError("sshd in proxy pod shop/loc-web-s1 refused this session's key: All configured authentication methods failed", "h", "SSH_AUTH_FAILED", "authentication"),
  "host key mismatch": new PermanentConnectError("the host key of proxy pod shop/loc-web-s1 did not match the pinned one (pinned SHA256:a, presented SHA256:b)", "h", "SSH_HOST_KEY_MISMATCH", "host-key"),
  "protocol error": ssh2Error("Handshake failed: no matching cipher", "handshake"),
  "port-forward forbidden": new PermanentConnectError("port-forward to shop/loc-web-s1:2222 refused: HTTP 403", "h", "PORT_FORWARD_FORBIDDEN", "forbidden"),
};
const TRANSIENT = {
  ECONNREFUSED: systemError("ECONNREFUSED"),
  ECONNRESET: systemError("ECONNRESET"),
  "handshake timeout": ssh2Error("Timed out while waiting for handshake", "client-timeout"),
  "socket error": ssh2Error("read ECONNRESET", "client-socket"),
  "peer hung up before the SSH banner": ssh2Error("Connection lost before handshake", "protocol"),
  "API server 503": Object.assign(new Error("port-forward to shop/loc-web-s1:2222 refused: HTTP 503"), { status: 503 }),
};

describe("classifyConnectError", () => {
  it.each(Object.entries(PERMANENT))("%s is permanent", (_, error) => {
    expect(classifyConnectError(error)).toBe("permanent");
  });

  it.each(Object.entries(TRANSIENT))("%s is transient", (_, error) => {
    expect(classifyConnectError(error)).toBe("transient");
  });

  it("names the reason, following wrappers' causes, and treats anything unknown as transient", () => {
    expect(permanentReason(ssh2Error("All configured authentication methods failed", "client-authentication"))).toBe("authentication");
    expect(permanentReason(ssh2Error("Bad packet length", "protocol"))).toBe("protocol");
    expect(permanentReason(new Error("SSH connection failed", { cause: ssh2Error("Bad packet length", "protocol") }))).toBe("protocol");
    for (const unknown of [new Error("boom"), "a string", undefined, null, { level: "client-dns" }]) expect(classifyConnectError(unknown)).toBe("transient");
    const cyclic: Error & { cause?: unknown } = new Error("loop");
    cyclic.cause = cyclic;
    expect(classifyConnectError(cyclic)).toBe("transient");
  });
});

describe("port-forward refusals by HTTP status", () => {
  async function openAgainst(status: number | "closed"): Promise<unknown> {
    const server = http.createServer((_request, response) => response.writeHead(status === "closed" ? 500 : status).end("no"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    if (status === "closed") await new Promise<void>((resolve) => server.close(() => resolve()));
    else onTestFinished(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
    const config = new KubeConfig();
    config.loadFromOptions({ clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }], users: [{ name: "u" }], contexts: [{ name: "x", cluster: "c", user: "u" }], currentContext: "x" });
    return new KubePortForwardTransport(config).open({ namespace: "shop", pod: "loc-web-s1", port: 2222 }).then(
      (stream) => (stream.destroy(), "opened"),
      (error: unknown) => error,
    );
  }

  it.each([401, 403])("HTTP %i is permanent, with a hint", async (status) => {
    const error = await openAgainst(status);
    expect(error).toBeInstanceOf(PermanentConnectError);
    expect(error).toMatchObject({ reason: "forbidden", message: `port-forward to shop/loc-web-s1:2222 refused: HTTP ${status}`, hint: expect.stringMatching(/./) });
  });

  it.each([404, 500, 503, "closed" as const])("HTTP %s is transient", async (status) => {
    const error = await openAgainst(status);
    expect((error as Error).message).toMatch(status === "closed" ? /ECONNREFUSED/ : new RegExp(`refused: HTTP ${status}$`));
    expect(classifyConnectError(error)).toBe("transient");
  });
});

describe("the SSH transport's own failures, against a peer that is not sshd", () => {
  /** Connects the real SSH transport to a loopback server that does `serve` to each connection. */
  async function connectTo(serve: (socket: net.Socket) => void): Promise<Error> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => (sockets.add(socket), socket.on("error", () => undefined), serve(socket)));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    onTestFinished(() => new Promise<void>((resolve) => (sockets.forEach((socket) => socket.destroy()), server.close(() => resolve()))));
    const port = (server.address() as AddressInfo).port;
    const forward = {
      kind: "forward" as const,
      name: "loopback",
      open: () => new Promise<net.Socket>((resolve, reject) => net.connect({ host: "127.0.0.1", port }, function (this: net.Socket) { resolve(this); }).once("error", reject)),
    };
    const plan = new SshReverseTransport(forward, { readyTimeoutMs: 5_000 }).prepare({ user: "loc", port: 2222 });
    return plan.connect({ namespace: "shop", pod: "loc-web-s1" }, []).then(
      async (session) => (await session.close(), new Error("connected")),
      (error: Error) => error,
    );
  }

  // ssh2 calls this a protocol error; it is what a pod port that is not listening yet looks like.
  it("a peer that hangs up before its banner is transient", async () => {
    const error = await connectTo((socket) => socket.destroy());
    expect(error.message).toBe("SSH connection to proxy pod shop/loc-web-s1 failed: Connection lost before handshake");
    expect(classifyConnectError(error)).toBe("transient");
  });

  it("a peer that breaks the SSH handshake is a permanent protocol failure", async () => {
    // A banner, then a packet (length 12, padding 4) of message type 99 where KEXINIT belongs.
    const packet = Buffer.from([0, 0, 0, 12, 4, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const error = await connectTo((socket) => socket.write(Buffer.concat([Buffer.from("SSH-2.0-NotReallySsh\r\n"), packet])));
    expect(error).toBeInstanceOf(PermanentConnectError);
    expect(error).toMatchObject({ reason: "protocol", code: "SSH_PROTOCOL", message: expect.stringMatching(/^SSH handshake with proxy pod shop\/loc-web-s1 failed: /) });
  });
});

/** The fake transport, failing its next connects with the given errors, in order. */
class FailingTransport extends FakeReverseTransport {
  readonly failures: unknown[] = [];

  override prepare(): ReverseConnector {
    const plan = super.prepare();
    return {
      proxy: plan.proxy,
      connect: async (target, forwards, signal) => {
        if (this.failures.length === 0) return plan.connect(target, forwards, signal);
        this.connectAttempts += 1;
        throw this.failures.shift();
      },
    };
  }
}

const CONNECT_TIMEOUT_MS = 10_000;

function world() {
  const cluster = new MemoryExposeCluster();
  cluster.addNamespace("shop");
  cluster.addService({ metadata: { namespace: "shop", name: "web" }, spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } });
  cluster.addDeployment("shop", "web", 2, { app: "web" });
  const transport = new FailingTransport();
  const options: ExposeOptions = { namespace: "shop", name: "web", maps: [], image: "img", user: "abc", runAsUser: 911, sshPort: 2222, readyTimeoutMs: 2_000, connectTimeoutMs: CONNECT_TIMEOUT_MS, localHost: "127.0.0.1" };
  const session = new ExposeSession(options, { cluster, transport, owner: "alice.laptop", record: () => undefined, pollMs: 5, backoff: { baseMs: 5, capMs: 20, resetAfterMs: 60_000 }, sessionId: "s1" });
  const untouched = () => cluster.workload({ kind: "Deployment", namespace: "shop", name: "web" })?.replicas === 2 && cluster.pods("shop").length === 2 && cluster.secrets("shop").length === 0;
  return { cluster, transport, session, untouched };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("expose session on the cluster twin, by connect error class", () => {
  it.each(Object.entries(PERMANENT))("%s fails at once, not after the connect timeout, with the reason, and is undone", async (_, error) => {
    const { transport, session, untouched } = world();
    transport.failures.push(error);
    const started = Date.now();
    session.start();
    const outcome = await session.done;
    expect(Date.now() - started).toBeLessThan(CONNECT_TIMEOUT_MS / 5);
    expect(transport.connectAttempts).toBe(1);
    expect(outcome).toMatchObject({ state: "failed", undone: true, error: expect.stringContaining((error as Error).message) });
    expect((outcome as { error: string }).error).toMatch(/^could not connect to the proxy pod \((authentication|host-key|protocol|forbidden) failure, not retried\): /);
    expect(untouched()).toBe(true);
  });

  it.each(Object.entries(TRANSIENT))("%s is retried until the proxy answers", async (_, error) => {
    const { transport, session } = world();
    transport.failures.push(error, error, error);
    session.start();
    await until(() => session.status().state === "active", "active");
    expect(transport.connectAttempts).toBe(4);
    await session.stop("done");
  });

  it("a host key that changes after a loss fails the session and undoes it instead of retrying forever", async () => {
    const { transport, session, untouched } = world();
    session.start();
    await until(() => session.status().state === "active", "active");
    transport.failures.push(TRANSIENT.ECONNRESET, PERMANENT["host key mismatch"]);
    transport.current?.lose("stream reset");
    const outcome = await session.done;
    expect(outcome).toMatchObject({ state: "failed", undone: true, error: expect.stringContaining("did not match the pinned one") });
    // The first connect, the transient retry, the refused one: nothing after it.
    expect(transport.connectAttempts).toBe(3);
    expect(untouched()).toBe(true);
  });

  it("a transient failure after a loss is still retried", async () => {
    const { transport, session } = world();
    session.start();
    await until(() => session.status().state === "active", "active");
    transport.failures.push(TRANSIENT.ECONNREFUSED, TRANSIENT["handshake timeout"]);
    transport.current?.lose("stream reset");
    await until(() => transport.sessions.length === 2 && session.status().state === "active", "reconnected");
    expect(transport.connectAttempts).toBe(4);
    await session.stop("done");
  });
});
