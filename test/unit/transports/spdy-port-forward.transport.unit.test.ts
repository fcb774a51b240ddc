import { KubeConfig } from "@kubernetes/client-node";
import { once } from "node:events";
import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { SpdyPortForwardTransport, type SessionEvent, type SpdyTransportOptions } from "../../../src/transports/spdy-port-forward.js";
import { PodDialError } from "../../../src/transports/dial-verdict.js";
import { bytePipe, FakeSpdyServer, REFUSED_AFTER_FIN_PORT, REFUSED_PORT } from "../../helpers/fake-spdy-server.js";

const transports: SpdyPortForwardTransport[] = [];
afterEach(() => transports.splice(0).forEach((t) => t.close()));

function transport(options: SpdyTransportOptions = {}) {
  const servers: FakeSpdyServer[] = [];
  const events: SessionEvent[] = [];
  let dials = 0;
  let failNextDial: Error | undefined;
  const t = new SpdyPortForwardTransport(new KubeConfig(), {
    ...options,
    onSessionEvent: (event) => events.push(event),
    dial: async () => {
      dials += 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (failNextDial) {
        const error = failNextDial;
        failNextDial = undefined;
        throw error;
      }
      const [client, server] = bytePipe();
      servers.push(new FakeSpdyServer(server));
      return { socket: client, path: "websocket" };
    },
  });
  transports.push(t);
  // Streams still open when the transport is closed after a test error then; that is not under test.
  const open = t.open.bind(t);
  t.open = async (...args) => (await open(...args)).on("error", () => undefined);
  return { t, servers, events, dials: () => dials, failNext: (e: Error) => (failNextDial = e) };
}

async function echo(stream: Duplex, text: string): Promise<string> {
  stream.write(text);
  const [data] = (await once(stream, "data")) as [Buffer];
  return data.toString();
}

const target = { namespace: "ns", pod: "web-0", port: 80 };

describe("spdy forward transport", () => {
  it("shares one lazily opened session among concurrent connections to a pod, and opens one per pod", async () => {
    const { t, dials } = transport();
    expect(t.sessionState(target)).toBe("none");
    const streams = await Promise.all(Array.from({ length: 20 }, () => t.open(target)));
    expect(dials()).toBe(1);
    expect(await Promise.all(streams.map((s, i) => echo(s, `c${i}`)))).toEqual(streams.map((_, i) => `c${i}`));
    await t.open({ ...target, pod: "web-1" });
    expect(dials()).toBe(2);
    expect(t.sessionCount).toBe(2);
    expect(t.sessionState(target)).toBe("up");
  });

  it("replaces a session after GOAWAY: live connections finish, new ones get a new session", async () => {
    const { t, servers, dials } = transport();
    const live = await t.open(target);
    expect(await echo(live, "a")).toBe("a");
    servers[0]?.send({ type: "goAway", lastGoodStreamId: 3, status: 0 });
    await new Promise((resolve) => setImmediate(resolve));
    const next = await t.open(target);
    expect(dials()).toBe(2);
    expect(await echo(next, "b")).toBe("b");
    expect(await echo(live, "c")).toBe("c");
  });

  it("replaces a session after its socket is lost; the lost one's connections error", async () => {
    const { t, servers, events } = transport();
    const first = await t.open(target);
    const failed = once(first, "error");
    servers[0]?.socket.destroy();
    await failed;
    expect(events.map((e) => e.type)).toEqual(["opened", "closed"]);
    expect(await echo(await t.open(target), "again")).toBe("again");
    expect(events.map((e) => e.type)).toEqual(["opened", "closed", "opened"]);
  });

  it("closes a session idle for idleMs, and opens a new one on the next connection", async () => {
    const { t, events, dials } = transport({ idleMs: 30 });
    const stream = await t.open(target);
    expect(await echo(stream, "x")).toBe("x");
    stream.destroy();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(events.at(-1)).toMatchObject({ type: "closed", cause: "idle" });
    expect(t.sessionState(target)).toBe("none");
    await t.open(target);
    expect(dials()).toBe(2);
  });

  it("closes a session that carried only probes after probeIdleMs, one that carried a connection after idleMs", async () => {
    const { t, events } = transport({ idleMs: 10_000, probeIdleMs: 30 });
    const probed = { ...target, pod: "probed" };
    const used = { ...target, pod: "used" };
    (await t.open({ ...probed, probe: true })).destroy();
    (await t.open({ ...used, probe: true })).destroy();
    const stream = await t.open(used);
    expect(await echo(stream, "x")).toBe("x");
    stream.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events.filter((e) => e.type === "closed")).toMatchObject([{ pod: { pod: "probed" }, cause: "idle" }]);
    expect(t.sessionState(probed)).toBe("none");
    expect(t.sessionState(used)).toBe("up");
  });

  it("probes a pod port by its dial verdict: accepted when it closes cleanly, the kubelet's error when it cannot dial", async () => {
    const { t, servers } = transport({ probeIdleMs: 60_000 });
    // The fake pod echoes our FIN: a port that takes the connection closes cleanly after our half-close.
    await expect(t.probe(target)).resolves.toBeUndefined();
    await expect(t.probe({ ...target, port: REFUSED_PORT })).rejects.toThrow(PodDialError);
    await expect(t.probe({ ...target, port: REFUSED_PORT })).rejects.toThrow(/connection refused/);
    // kwok's order: FIN on the data stream first, the error text after it.
    await expect(t.probe({ ...target, port: REFUSED_AFTER_FIN_PORT })).rejects.toThrow(/no forward found for port 2/);
    // One session for all of it: a refused dial is that connection's alone.
    expect(servers).toHaveLength(1);
    expect(t.sessionState(target)).toBe("up");
  });

  it("fails the connections waiting for a dial that fails, and dials again next time", async () => {
    const { t, failNext, dials } = transport();
    failNext(Object.assign(new Error("refused: HTTP 503"), { status: 503 }));
    const results = await Promise.allSettled([t.open(target), t.open(target)]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(dials()).toBe(1);
    expect(await echo(await t.open(target), "ok")).toBe("ok");
  });

  it("lets one caller give up waiting without cancelling the shared dial", async () => {
    const { t, dials } = transport();
    const controller = new AbortController();
    const abandoned = t.open(target, controller.signal);
    const kept = t.open(target);
    controller.abort();
    await expect(abandoned).rejects.toThrow(/aborted/);
    expect(await echo(await kept, "kept")).toBe("kept");
    expect(dials()).toBe(1);
  });
});
