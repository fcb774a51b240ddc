// The SSH reverse transport against real OpenSSH: sshd runs with the plan's host key and
// authorized_keys, the forward transport is a plain TCP connection to it (the kube port-forward
// path is tested elsewhere), and "cluster" clients are TCP connections to sshd's remote forwards.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { Duplex } from "node:stream";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { freeLoopbackPort, sshdBinary, startSshd, waitFor, type Sshd } from "../../cluster/helpers.js";
import { publicKeyBlob, sha256Fingerprint } from "../../../src/transports/ssh-keys.js";
import { SshReverseTransport } from "../../../src/transports/ssh-reverse.js";
import type { ForwardTransport, PodTarget, ReverseConnector, ReverseSession } from "../../../src/transports/transport.js";

const run = promisify(execFile);
const user = os.userInfo().username;
const target = { namespace: "ns-ssh", pod: "loc-proxy-abc" };
const PROXY_PORT = 2222;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** A forward transport that connects to a loopback port instead of a pod, and records its targets. */
class LoopbackForward implements ForwardTransport {
  readonly kind = "forward";
  readonly name = "loopback";
  readonly targets: PodTarget[] = [];
  readonly streams: net.Socket[] = [];
  /** Where open() connects: the test sshd's port. */
  port = 0;

  open(podTarget: PodTarget): Promise<Duplex> {
    this.targets.push(podTarget);
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port: this.port }, () => resolve(socket));
      socket.once("error", reject);
      this.streams.push(socket);
    });
  }
}

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sshdFor(plan: ReverseConnector, hostKeyOf: ReverseConnector = plan, keysOf: ReverseConnector = plan): Promise<Sshd> {
  return startSshd({
    hostKeyPrivate: hostKeyOf.proxy.secretFiles.ssh_host_ed25519_key ?? "",
    authorizedKeys: keysOf.proxy.secretFiles.authorized_keys ?? "",
  }).then((sshd) => (cleanups.push(() => sshd.stop()), sshd));
}

async function connectTo(plan: ReverseConnector, forwards: Parameters<ReverseConnector["connect"]>[1]): Promise<ReverseSession> {
  const session = await plan.connect(target, forwards, AbortSignal.timeout(30_000));
  cleanups.push(() => session.close());
  return session;
}

async function startHttpServer(): Promise<number> {
  const server = http.createServer((request, response) => response.end(`hello from the laptop: ${request.method} ${request.url}`));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve))));
  return (server.address() as net.AddressInfo).port;
}

function httpGet(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: "127.0.0.1", port, path: urlPath, agent: false, timeout: 15_000 }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error("HTTP request timed out")));
    request.on("error", reject);
  });
}

/** Connects to a loopback port: "refused", or what happened to a connection that was accepted. */
function probe(port: number, timeoutMs = 10_000): Promise<"refused" | { data: string; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let data = "";
    let connected = false;
    socket.setTimeout(timeoutMs, () => (socket.destroy(), reject(new Error(`connection to ${port} still open after ${timeoutMs} ms`))));
    socket.on("connect", () => (connected = true));
    socket.setEncoding("utf8").on("data", (chunk: string) => (data += chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (!connected && error.code === "ECONNREFUSED") resolve("refused");
      else if (connected) resolve({ data, ended: true });
      else reject(error);
    });
    socket.on("close", () => connected && resolve({ data, ended: true }));
  });
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

function pendingAfter<T>(promise: Promise<T>, ms: number): Promise<"pending" | T> {
  return Promise.race([promise, new Promise<"pending">((resolve) => setTimeout(() => resolve("pending"), ms))]);
}

describe("SSH reverse transport with real sshd", () => {
  const transport = (forward = new LoopbackForward()) => ({
    forward,
    ssh: new SshReverseTransport(forward, { readyTimeoutMs: 10_000, keepaliveIntervalMs: 5_000 }),
  });

  it("pins a host key whose fingerprint is the one ssh-keygen prints", async () => {
    const { ssh } = transport();
    const plan = ssh.prepare({ user, port: PROXY_PORT });
    const dir = await mkdtemp(path.join(os.tmpdir(), "loc-ssh-key-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const keyFile = path.join(dir, "key");
    await writeFile(keyFile, plan.proxy.secretFiles.ssh_host_ed25519_key ?? "", { mode: 0o600 });
    const { stdout } = await run("ssh-keygen", ["-lf", keyFile]);
    expect(stdout.split(" ")[1]).toBe(plan.proxy.fingerprint);
    expect(plan.proxy.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    // The client key in authorized_keys is another key than the host key.
    const clientBlob = publicKeyBlob((plan.proxy.secretFiles.authorized_keys ?? "").split(" ").slice(1).join(" "));
    expect(sha256Fingerprint(clientBlob)).not.toBe(plan.proxy.fingerprint);
  });

  it("carries an HTTP request from a remote forward to a local server and back, counting it", async () => {
    const { ssh, forward } = transport();
    const plan = ssh.prepare({ user, port: PROXY_PORT });
    const sshd = await sshdFor(plan);
    forward.port = sshd.port;
    expect(sha256Fingerprint(publicKeyBlob(sshd.hostKeyPublic))).toBe(plan.proxy.fingerprint);
    const localPort = await startHttpServer();
    const remotePort = await freeLoopbackPort();

    const session = await connectTo(plan, [{ remotePort, localHost: "127.0.0.1", localPort }]);
    expect(forward.targets).toEqual([{ ...target, port: PROXY_PORT }]);
    expect(session.stats).toEqual({ connections: 0, openConnections: 0, bytesIn: 0, bytesOut: 0 });

    const reply = await httpGet(remotePort, "/orders?id=7");
    expect(reply).toEqual({ status: 200, body: "hello from the laptop: GET /orders?id=7" });
    await waitFor("the connection to be counted closed", async () => session.stats.openConnections === 0 || undefined, {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    expect(session.stats.connections).toBe(1);
    expect(session.stats.bytesIn).toBeGreaterThan("GET /orders?id=7 HTTP/1.1\r\n".length);
    expect(session.stats.bytesOut).toBeGreaterThan("hello from the laptop: GET /orders?id=7".length);

    await session.close();
    // Ending the session ends sshd's listener for the forward, and was not a loss.
    await waitFor("the remote forward to stop listening", async () => ((await probe(remotePort)) === "refused") || undefined, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    expect(await pendingAfter(session.lost, 300)).toBe("pending");
    await session.close();
  });

  it("refuses a server whose host key is not the pinned one and opens no forward", async () => {
    const { ssh, forward } = transport();
    const plan = ssh.prepare({ user, port: PROXY_PORT });
    const impostor = ssh.prepare({ user, port: PROXY_PORT });
    const sshd = await sshdFor(plan, impostor);
    forward.port = sshd.port;
    const remotePort = await freeLoopbackPort();

    const outcome = await plan
      .connect(target, [{ remotePort, localHost: "127.0.0.1", localPort: 9 }])
      .then((session) => (cleanups.push(() => session.close()), "connected"), (error: Error) => error);
    expect(outcome).toBeInstanceOf(Error);
    const message = (outcome as Error).message;
    expect(message).toMatch(/host key of proxy pod ns-ssh\/loc-proxy-abc did not match the pinned one/);
    expect(message).toContain(plan.proxy.fingerprint);
    expect(message).toContain(impostor.proxy.fingerprint);
    expect(message).not.toMatch(/PRIVATE KEY|AAAA/);
    expect(await probe(remotePort)).toBe("refused");
    expect(sshd.log()).not.toMatch(/Accepted publickey/);
  });

  it("is refused by a server that does not authorize its client key", async () => {
    const { ssh, forward } = transport();
    const plan = ssh.prepare({ user, port: PROXY_PORT });
    const other = ssh.prepare({ user, port: PROXY_PORT });
    const sshd = await sshdFor(plan, plan, other);
    forward.port = sshd.port;
    const remotePort = await freeLoopbackPort();

    const outcome = await plan
      .connect(target, [{ remotePort, localHost: "127.0.0.1", localPort: 9 }])
      .then((session) => (cleanups.push(() => session.close()), "connected"), (error: Error) => error);
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(/refused this session's key: All configured authentication methods failed/);
    expect((outcome as Error).message).not.toMatch(/PRIVATE KEY|AAAA/);
    expect(await probe(remotePort)).toBe("refused");
  });

  it("fails with the port sshd would not listen on and gives up the forwards it had", async () => {
    const { ssh, forward } = transport();
    const plan = ssh.prepare({ user, port: PROXY_PORT });
    const okPort = await freeLoopbackPort();
    const busyPort = await freeLoopbackPort();
    // sshd may listen on the first port only, so it refuses the second.
    const sshd = await startSshd({
      hostKeyPrivate: plan.proxy.secretFiles.ssh_host_ed25519_key ?? "",
      authorizedKeys: plan.proxy.secretFiles.authorized_keys ?? "",
      configLines: [`PermitListen ${okPort}`],
    });
    cleanups.push(() => sshd.stop());
    forward.port = sshd.port;

    const outcome = await plan
      .connect(target, [
        { remotePort: okPort, localHost: "127.0.0.1", localPort: 9 },
        { remotePort: busyPort, localHost: "127.0.0.1", localPort: 9 },
      ])
      .then((session) => (cleanups.push(() => session.close()), "connected"), (error: Error) => error);
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toBe(
      `sshd in proxy pod ns-ssh/loc-proxy-abc refused to listen on port ${busyPort}: Unable to bind to 0.0.0.0:${busyPort}`,
    );
    // The client is gone, so sshd dropped the forward that had worked.
    await waitFor("the first forward to stop listening", async () => ((await probe(okPort)) === "refused") || undefined, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    expect(forward.streams.every((stream) => stream.destroyed)).toBe(true);
    expect(sshd.log()).toContain(`remote forward to host 0.0.0.0 port ${busyPort}, but the request was denied`);
  });

  it("reports the session lost when sshd dies, and close() afterwards is harmless", async () => {
    const { ssh, forward } = transport();
    const plan = ssh.prepare({ user, port: PROXY_PORT });
    const sshd = await sshdFor(plan);
    forward.port = sshd.port;
    // A laptop-side server that holds its connections open: the loss must end them.
    const laptopClosed = deferred<void>();
    const held = net.createServer((socket) => socket.on("close", () => laptopClosed.resolve()).on("error", () => undefined));
    await new Promise<void>((resolve) => held.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => held.close(resolve)));
    const remotePort = await freeLoopbackPort();
    const session = await connectTo(plan, [{ remotePort, localHost: "127.0.0.1", localPort: (held.address() as net.AddressInfo).port }]);
    const clusterClient = net.connect({ host: "127.0.0.1", port: remotePort });
    clusterClient.on("error", () => undefined);
    cleanups.push(() => clusterClient.destroy());
    await waitFor("the held connection", async () => session.stats.openConnections === 1 || undefined, { timeoutMs: 10_000, intervalMs: 20 });
    expect(await pendingAfter(session.lost, 200)).toBe("pending");

    await sshd.stop();
    const reason = await pendingAfter(session.lost, 10_000);
    expect(reason).toBeInstanceOf(Error);
    expect((reason as Error).message).toMatch(/SSH session to proxy pod ns-ssh\/loc-proxy-abc lost/);
    await expect(pendingAfter(laptopClosed.promise, 5_000)).resolves.toBeUndefined();
    expect(session.stats.openConnections).toBe(0);
    await expect(pendingAfter(session.close(), 5_000)).resolves.toBeUndefined();
  });

  it("moves 20 MB each way through one forwarded connection byte-identical", async () => {
    const { ssh, forward } = transport();
    const plan = ssh.prepare({ user, port: PROXY_PORT });
    const sshd = await sshdFor(plan);
    forward.port = sshd.port;
    const toLaptop = randomBytes(20 * 1024 * 1024);
    const toCluster = randomBytes(20 * 1024 * 1024);

    const localPort = deferred<number>();
    // Both sides start reading late, so backpressure has to hold each sender back, and the laptop
    // side is done with its socket while bytes for the cluster still wait for SSH window.
    const laptopReceived = new Promise<string>((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true }, (socket) => {
        const hash = createHash("sha256");
        socket.pause();
        setTimeout(() => socket.resume(), 1_000);
        socket.on("data", (chunk: Buffer) => hash.update(chunk));
        socket.on("end", () => resolve(hash.digest("hex")));
        socket.on("error", reject);
        socket.end(toCluster);
      });
      server.listen(0, "127.0.0.1");
      cleanups.push(() => new Promise((done) => server.close(done)));
      server.once("listening", () => localPort.resolve((server.address() as net.AddressInfo).port));
    });
    const remotePort = await freeLoopbackPort();
    const session = await connectTo(plan, [{ remotePort, localHost: "127.0.0.1", localPort: await localPort.promise }]);

    const clusterReceived = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port: remotePort, allowHalfOpen: true });
      const hash = createHash("sha256");
      socket.pause();
      setTimeout(() => socket.resume(), 2_500);
      socket.on("data", (chunk: Buffer) => hash.update(chunk));
      socket.on("end", () => (socket.end(), resolve(hash.digest("hex"))));
      socket.on("error", reject);
      socket.write(toLaptop);
      socket.end();
    });
    expect(clusterReceived).toBe(sha256(toCluster));
    expect(await laptopReceived).toBe(sha256(toLaptop));
    await waitFor("the connection to close", async () => session.stats.openConnections === 0 || undefined, { timeoutMs: 10_000, intervalMs: 20 });
    expect(session.stats).toEqual({ connections: 1, openConnections: 0, bytesIn: toLaptop.length, bytesOut: toCluster.length });
  });

  it("closes a forwarded connection whose local port has no listener and keeps serving", async () => {
    const { ssh, forward } = transport();
    const plan = ssh.prepare({ user, port: PROXY_PORT });
    const sshd = await sshdFor(plan);
    forward.port = sshd.port;
    const deadRemote = await freeLoopbackPort();
    const liveRemote = await freeLoopbackPort();
    const session = await connectTo(plan, [
      { remotePort: deadRemote, localHost: "127.0.0.1", localPort: await freeLoopbackPort() },
      { remotePort: liveRemote, localHost: "127.0.0.1", localPort: await startHttpServer() },
    ]);

    expect(await probe(deadRemote)).toEqual({ data: "", ended: true });
    expect(await httpGet(liveRemote, "/after")).toEqual({ status: 200, body: "hello from the laptop: GET /after" });
    expect(await probe(deadRemote)).toEqual({ data: "", ended: true });
    await waitFor("connections to close", async () => session.stats.openConnections === 0 || undefined, { timeoutMs: 10_000, intervalMs: 20 });
    expect(session.stats.connections).toBe(3);
    expect(await pendingAfter(session.lost, 200)).toBe("pending");
  });

  it("rejects and drops the stream when the signal aborts during the SSH handshake", async () => {
    // A server that accepts and never speaks SSH: the handshake hangs until the abort.
    const silent = new Set<net.Socket>();
    const closedByPeer = deferred<void>();
    const server = net.createServer((socket) => {
      silent.add(socket);
      socket.resume();
      socket.on("close", () => closedByPeer.resolve());
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => (silent.forEach((s) => s.destroy()), server.close(resolve))));
    const { ssh, forward } = transport();
    forward.port = (server.address() as net.AddressInfo).port;
    const plan = ssh.prepare({ user, port: PROXY_PORT });

    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("user pressed Ctrl-C")), 300);
    const started = Date.now();
    await expect(plan.connect(target, [{ remotePort: 8080, localHost: "127.0.0.1", localPort: 9 }], controller.signal)).rejects.toThrow(
      /SSH connection to proxy pod ns-ssh\/loc-proxy-abc aborted/,
    );
    expect(Date.now() - started).toBeLessThan(1_500);
    // The stream to the "pod" is gone right away, not left to a timeout.
    await expect(pendingAfter(closedByPeer.promise, 1_000)).resolves.toBeUndefined();
  });

  it("ships an sshd_config that real OpenSSH accepts, with the settings the proxy relies on", async () => {
    const plan = new SshReverseTransport(new LoopbackForward()).prepare({ user: "loc", port: PROXY_PORT });
    const dir = await mkdtemp(path.join(os.tmpdir(), "loc-ssh-config-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    for (const [name, content] of Object.entries(plan.proxy.secretFiles)) {
      // Only the mount path changes: the Secret's files land in a temp dir instead of /etc/loc-ssh.
      await writeFile(path.join(dir, name), content.replaceAll(plan.proxy.mountPath, dir), { mode: 0o600 });
    }
    expect(plan.proxy.command).toEqual(["/usr/sbin/sshd", "-D", "-e", "-f", "/etc/loc-ssh/sshd_config"]);
    const config = path.join(dir, "sshd_config");
    await mkdir("/run/sshd", { recursive: true, mode: 0o755 }).catch(() => undefined);

    const checked = await run(sshdBinary, ["-t", "-f", config]).then(
      ({ stderr }) => stderr,
      (error: Error & { stderr?: string }) => `FAILED: ${error.stderr ?? error.message}`,
    );
    expect(checked).toBe("");
    const { stdout } = await run(sshdBinary, ["-T", "-f", config]);
    const effective = new Set(stdout.split("\n"));
    for (const line of [
      "port 2222",
      "listenaddress 0.0.0.0:2222",
      `hostkey ${dir}/ssh_host_ed25519_key`,
      "pubkeyauthentication yes",
      "passwordauthentication no",
      "kbdinteractiveauthentication no",
      "permitrootlogin no",
      "allowusers loc",
      "allowtcpforwarding remote",
      "gatewayports clientspecified",
      "allowagentforwarding no",
      "x11forwarding no",
      "permittty no",
      "permittunnel no",
      "strictmodes no",
      "usepam no",
      "clientaliveinterval 15",
      "clientalivecountmax 3",
      "pidfile /tmp/loc-sshd.pid",
    ]) {
      expect(effective, line).toContain(line);
    }
  });
});
