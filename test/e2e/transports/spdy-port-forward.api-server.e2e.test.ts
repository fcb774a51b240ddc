// The spdy forward transport against the real API server (v1.36) and kwok's kubelet endpoint: one
// SPDY/3.1 session per pod, tunnelled over WebSocket or by a direct upgrade, two streams per
// connection. kwok dials what the pod's PortForward names: a local echo server.
import { KubeConfig } from "@kubernetes/client-node";
import { createHash, randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { dialSession, type SessionPath } from "../../../src/transports/spdy/dial-session.js";
import { FrameParser } from "../../../src/transports/spdy/frames.js";
import { SpdyPortForwardTransport, type SessionEvent, type SpdyTransportOptions } from "../../../src/transports/spdy-port-forward.js";
import { connect, createDeployment, createNamespace, createPodPortForward, deleteNamespace, startEchoServer, waitFor, waitForReadyPods, type Kube, type TcpServerHandle } from "../../cluster/helpers.js";

const echoPort = 7000;
const unforwardedPort = 7001;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** Writes `payload`, half-closes, and resolves with the first payload.length bytes that come back. */
function exchange(stream: Duplex, payload: Buffer, timeoutMs = 60_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = setTimeout(() => fail(new Error(`no full echo in ${timeoutMs} ms (${received} of ${payload.length})`)), timeoutMs);
    const fail = (error: Error) => (clearTimeout(timer), stream.destroy(), reject(error));
    stream.on("error", fail);
    stream.on("end", () => received < payload.length && fail(new Error(`ended after ${received} of ${payload.length} bytes`)));
    stream.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= payload.length) {
        clearTimeout(timer);
        stream.destroy();
        resolve(Buffer.concat(chunks).subarray(0, payload.length));
      }
    });
    stream.end(payload);
  });
}

describe("spdy port-forward transport on the test cluster", () => {
  let kube: Kube;
  let config: KubeConfig;
  let namespace: string;
  let pod: string;
  let echo: TcpServerHandle;
  const transports: SpdyPortForwardTransport[] = [];

  function transport(options: SpdyTransportOptions = {}) {
    const events: SessionEvent[] = [];
    const t = new SpdyPortForwardTransport(config, { ...options, onSessionEvent: (event) => events.push(event) });
    transports.push(t);
    return { t, events, opened: () => events.filter((e) => e.type === "opened") };
  }

  beforeAll(async () => {
    kube = connect(inject("kubeconfig"));
    config = new KubeConfig();
    config.loadFromFile(inject("kubeconfig"));
    echo = await startEchoServer();
    namespace = await createNamespace(kube, "spdy");
    await createDeployment(kube, namespace, "echo", 1, { labels: { app: "echo" }, ports: [{ name: "echo", containerPort: echoPort }] });
    pod = (await waitForReadyPods(kube, namespace, { app: "echo" }, 1))[0]?.metadata?.name ?? "";
    await createPodPortForward(kube, namespace, pod, [{ ports: [echoPort], target: { address: "127.0.0.1", port: echo.port } }]);
    // kwok learns about the PortForward through a watch; wait until it answers.
    const { t } = transport();
    const hello = Buffer.from("hello");
    await waitFor("kwok to serve the PortForward", async () => {
      const stream = await t.open({ namespace, pod, port: echoPort });
      return (await exchange(stream, hello, 3_000).catch(() => Buffer.alloc(0))).equals(hello) || undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
  });

  afterEach(() => transports.splice(0).forEach((t) => t.close()));

  afterAll(async () => {
    await echo?.close();
    if (namespace) await deleteNamespace(kube, namespace);
  });

  it.each<[SessionPath, number]>([
    ["websocket", 10 * 1024 * 1024],
    ["upgrade", 2 * 1024 * 1024],
  ])("carries bytes both ways sha256-identical over the %s path (%i bytes)", async (only, size) => {
    const { t, opened } = transport({ only });
    const payload = randomBytes(size);
    const echoed = await exchange(await t.open({ namespace, pod, port: echoPort }), payload);
    expect(echoed.length).toBe(size);
    expect(sha256(echoed)).toBe(sha256(payload));
    expect(opened()).toEqual([expect.objectContaining({ path: only })]);
  });

  it("carries 200 concurrent connections on one session, every one byte-correct", async () => {
    const { t, opened, events } = transport();
    const payloads = Array.from({ length: 200 }, () => randomBytes(32 * 1024));
    const before = echo.connections();
    const echoed = await Promise.all(payloads.map(async (payload) => exchange(await t.open({ namespace, pod, port: echoPort }), payload)));
    expect(echoed.map(sha256)).toEqual(payloads.map(sha256));
    expect(echo.connections() - before).toBe(200);
    expect(opened()).toHaveLength(1);
    expect(events.filter((e) => e.type === "closed")).toEqual([]);
  });

  it("fails only the connections to a port nothing answers; others on the same session keep flowing", async () => {
    const { t, opened, events } = transport();
    const live = await t.open({ namespace, pod, port: echoPort });
    live.on("error", () => undefined); // asserted by its echoes below
    const liveEchoes: string[] = [];
    live.on("data", (chunk: Buffer) => liveEchoes.push(chunk.toString()));
    live.write("before;");
    await waitFor("the live connection's first echo", async () => liveEchoes.join("").includes("before;") || undefined);

    const failures = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const doomed = await t.open({ namespace, pod, port: unforwardedPort });
        return exchange(doomed, Buffer.from("nobody listens"), 10_000).then(() => "echoed?!", (error: Error) => error.message);
      }),
    );
    for (const message of failures) expect(message).toMatch(new RegExp(`(forward not found|no forward found) for port ${unforwardedPort}`));

    live.write("after;");
    await waitFor("the live connection's echo after the failures", async () => liveEchoes.join("").includes("after;") || undefined);
    expect(await exchange(await t.open({ namespace, pod, port: echoPort }), Buffer.from("new"))).toEqual(Buffer.from("new"));
    expect(opened()).toHaveLength(1);
    expect(events.filter((e) => e.type === "closed")).toEqual([]);
    live.destroy();
  });

  it("pipelines: SYN_STREAMs and the first DATA leave in one message, before any reply, and the server accepts it", async () => {
    const firstWrites: Buffer[] = [];
    let bytesReadBeforeFirstWrite = -1;
    const { t } = transport({
      dial: async (target) => {
        const dialed = await dialSession(config, target);
        let read = 0;
        dialed.socket.on("data", (chunk: Buffer) => (read += chunk.length));
        // What the tunnel sends as one WebSocket message: one _write, or one _writev of corked pieces.
        type Done = (error?: Error | null) => void;
        const pipe = dialed.socket as unknown as { _write(c: Buffer, e: string, d: Done): void; _writev(c: { chunk: Buffer }[], d: Done): void };
        const [single, several] = [pipe._write.bind(pipe), pipe._writev.bind(pipe)];
        const record = (bytes: Buffer) => {
          if (firstWrites.length === 0) bytesReadBeforeFirstWrite = read;
          firstWrites.push(bytes);
        };
        pipe._write = (chunk, encoding, done) => (record(Buffer.from(chunk)), single(chunk, encoding, done));
        pipe._writev = (chunks, done) => (record(Buffer.concat(chunks.map((c) => c.chunk))), several(chunks, done));
        return dialed;
      },
    });
    const stream = await t.open({ namespace, pod, port: echoPort });
    const echoed = exchange(stream, Buffer.from("first bytes"));
    expect((await echoed).toString()).toBe("first bytes");
    const frames = new FrameParser().push(firstWrites[0] ?? Buffer.alloc(0));
    expect(bytesReadBeforeFirstWrite).toBe(0);
    expect(frames.slice(0, 4).map((f) => f.type)).toEqual(["synStream", "data", "synStream", "data"]);
    expect(frames[3]?.type === "data" && frames[3].data.toString()).toBe("first bytes");
  });

  it("replaces a session whose connection to the API server is lost: its connections fail, new ones work", async () => {
    const sockets: Duplex[] = [];
    const { t, events, opened } = transport({
      dial: async (target) => {
        const dialed = await dialSession(config, target);
        sockets.push(dialed.socket);
        return dialed;
      },
    });
    const victim = await t.open({ namespace, pod, port: echoPort });
    victim.write("x");
    await new Promise((resolve) => victim.once("data", resolve));
    const failed = new Promise<Error>((resolve) => victim.once("error", resolve));
    sockets[0]?.destroy();
    expect((await failed).message).toMatch(/session connection closed/);
    expect(events.filter((e) => e.type === "closed")).toHaveLength(1);
    expect(await exchange(await t.open({ namespace, pod, port: echoPort }), Buffer.from("after"))).toEqual(Buffer.from("after"));
    expect(opened()).toHaveLength(2);
  });

  it("closes an idle session and opens a new one for the next connection", async () => {
    const { t, events, opened } = transport({ idleMs: 200 });
    expect(await exchange(await t.open({ namespace, pod, port: echoPort }), Buffer.from("one"))).toEqual(Buffer.from("one"));
    await waitFor("the idle close", async () => events.find((e) => e.type === "closed"), { timeoutMs: 5_000, intervalMs: 50 });
    expect(events.find((e) => e.type === "closed")).toMatchObject({ cause: "idle" });
    expect(t.sessionState({ namespace, pod })).toBe("none");
    expect(await exchange(await t.open({ namespace, pod, port: echoPort }), Buffer.from("two"))).toEqual(Buffer.from("two"));
    expect(opened()).toHaveLength(2);
  });
});
