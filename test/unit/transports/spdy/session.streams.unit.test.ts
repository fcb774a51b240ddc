import { once } from "node:events";
import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import type { PodDialError } from "../../../../src/transports/dial-verdict.js";
import { encodeFrame, FLAG_FIN } from "../../../../src/transports/spdy/frames.js";
import { PortForwardConnection } from "../../../../src/transports/spdy/port-forward-connection.js";
import { SpdySession, type SessionOptions } from "../../../../src/transports/spdy/session.js";
import { bytePipe, FakeSpdyServer, REFUSED_AFTER_FIN_PORT, REFUSED_PORT } from "../../../helpers/fake-spdy-server.js";

const sessions: SpdySession[] = [];
const connections: Duplex[] = [];
afterEach(() => {
  // A connection still open when its session is closed errors; these tests are done with them.
  connections.splice(0).forEach((connection) => connection.on("error", () => undefined));
  sessions.splice(0).forEach((session) => session.close());
});

function connect(options: SessionOptions = {}) {
  const [client, server] = bytePipe();
  const session = new SpdySession(client, options);
  const openConnection = session.openConnection.bind(session);
  session.openConnection = (port: number) => {
    const connection = openConnection(port);
    connections.push(connection);
    return connection;
  };
  sessions.push(session);
  return { session, server: new FakeSpdyServer(server) };
}

async function exchange(stream: Duplex, payload: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  stream.end(payload);
  await once(stream, "end");
  return Buffer.concat(chunks);
}

describe("SPDY port-forward session", () => {
  it("carries each connection on an error + data stream pair, headers as kubectl sends them", async () => {
    const { session, server } = connect();
    const payloads = [Buffer.alloc(300_000, 1), Buffer.from("second connection")];
    const echoed = await Promise.all(payloads.map((p) => exchange(session.openConnection(8080), p)));
    expect(echoed).toEqual(payloads);
    const syns = server.received.filter((f) => f.type === "synStream").map((f) => f.streamId);
    expect(syns).toEqual([1, 3, 5, 7]); // odd and increasing in write order
    expect(Object.fromEntries(server.headersByStream.get(1) ?? [])).toEqual({ streamtype: "error", port: "8080", requestid: "0" });
    expect(Object.fromEntries(server.headersByStream.get(3) ?? [])).toEqual({ streamtype: "data", port: "8080", requestid: "0" });
    expect(server.headersByStream.get(7)?.get("requestid")).toBe("1");
  });

  it("pipelines: the first bytes go out with the SYN_STREAMs, before any SYN_REPLY", async () => {
    const { session, server } = connect();
    const connection = session.openConnection(80);
    connection.write("hello");
    await once(connection, "data");
    expect(server.received.slice(0, 4).map((f) => f.type)).toEqual(["synStream", "data", "synStream", "data"]);
  });

  it("without pipelining, holds the first bytes until the data stream's SYN_REPLY", async () => {
    const { session, server } = connect({ pipeline: false });
    const echoed = await exchange(session.openConnection(80), Buffer.from("later"));
    expect(echoed.toString()).toBe("later");
    expect(server.received.filter((f) => f.type === "data" && f.data.length > 0)).toHaveLength(1);
  });

  it("fails only the connection whose port the server cannot dial; the session keeps carrying others", async () => {
    const { session } = connect();
    const healthy = session.openConnection(80);
    const refused = session.openConnection(REFUSED_PORT);
    refused.resume();
    const [error] = (await once(refused, "error")) as [Error];
    expect(error.message).toBe("port-forward: nothing listens on the pod's port 1 (connection refused)");
    expect((error as PodDialError).detail).toMatch(/error forwarding port 1 to pod fake/);
    expect(session.isOpen).toBe(true);
    expect((await exchange(healthy, Buffer.from("still here"))).toString()).toBe("still here");
  });

  it("reports a dial error that arrives after the data stream's FIN (kwok's order) instead of a clean end", async () => {
    const { session } = connect();
    const refused = session.openConnection(REFUSED_AFTER_FIN_PORT);
    refused.on("end", () => expect.unreachable("a refused connection must not end cleanly"));
    refused.resume();
    const [error] = (await once(refused, "error")) as [Error];
    expect(error.message).toBe("port-forward: no forward found for port 2");
    expect(session.isOpen).toBe(true);
  });

  it("ends the session on a malformed frame from the server, every connection erroring (no hang)", async () => {
    const { session, server } = connect();
    const connections = [session.openConnection(80), session.openConnection(81)];
    const errors = connections.map((c) => once(c, "error") as Promise<[Error]>);
    server.sendRaw(Buffer.from("8002000600000004deadbeef", "hex")); // a SPDY/2 PING
    const messages = (await Promise.all(errors)).map(([e]) => e.message);
    expect(messages.every((m) => /protocol error/.test(m))).toBe(true);
    expect(session.isClosed).toBe(true);
    expect(() => session.openConnection(80)).toThrow(/closed/);
  });

  it("after GOAWAY takes no new streams but lets live connections finish, then closes", async () => {
    const { session, server } = connect();
    const live = session.openConnection(80);
    live.write("a");
    await once(live, "data");
    const goAway = once(session, "goaway");
    server.send({ type: "goAway", lastGoodStreamId: 3, status: 0 });
    await goAway;
    expect(session.isOpen).toBe(false);
    expect(() => session.openConnection(80)).toThrow(/goingAway/);
    const closed = once(session, "closed");
    expect((await exchange(live, Buffer.from("b"))).toString()).toBe("b");
    await closed;
  });

  it("counts a session with unanswered pings as dead", async () => {
    const { session, server } = connect({ pingIntervalMs: 20, maxMissedPings: 2 });
    server.answerPings = false;
    const connection = session.openConnection(80);
    const failed = once(connection, "error");
    const [reason] = (await once(session, "closed")) as [Error];
    expect(reason.message).toMatch(/2 pings unanswered/);
    expect(((await failed) as [Error])[0].message).toMatch(/pings unanswered/);
  });

  it("stays up while data flows though no ping is answered, and dies once it stops", async () => {
    const { session, server } = connect({ pingIntervalMs: 20, maxMissedPings: 2 });
    server.answerPings = false;
    const connection = session.openConnection(80);
    connection.on("data", () => undefined).on("error", () => undefined);
    // The fake pod echoes: a write every 5 ms keeps bytes coming back over ten ping intervals.
    const writer = setInterval(() => connection.write("tick"), 5);
    await new Promise((resolve) => setTimeout(resolve, 200));
    clearInterval(writer);
    expect(session.isOpen).toBe(true);
    const [reason] = (await once(session, "closed")) as [Error];
    expect(reason.message).toMatch(/2 pings unanswered/);
  });

  it("stays up while the server answers pings", async () => {
    const { session, server } = connect({ pingIntervalMs: 10, maxMissedPings: 2 });
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(session.isOpen).toBe(true);
    expect(server.received.filter((f) => f.type === "ping").length).toBeGreaterThan(4);
  });

  it("holds the server back while a local reader is full, with bounded buffering", async () => {
    const { session, server } = connect();
    const slow = session.openConnection(80);
    slow.write("x");
    await once(slow, "readable");
    const chunk = Buffer.alloc(64 * 1024, 2);
    let sent = 0;
    // The server writes 16 MB as fast as the pipe lets it; nobody reads the connection meanwhile.
    const blast = async () => {
      for (let i = 0; i < 256; i += 1) {
        sent += chunk.length;
        if (!server.socket.write(encodeFrame({ type: "data", streamId: 3, flags: 0, data: chunk }))) await once(server.socket, "drain");
      }
    };
    void blast();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sent).toBeLessThan(4 * 1024 * 1024);
    expect(slow.readableLength).toBeLessThan(512 * 1024);
    let received = 0;
    slow.on("data", (data: Buffer) => (received += data.length));
    while (received < 256 * chunk.length + 1) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(received).toBe(256 * chunk.length + 1);
  });
});

describe("SPDY port-forward connection, reading side", () => {
  const sender = () => {
    const resumed: number[] = [];
    return {
      resumed,
      pipeline: true,
      maxDataFrame: 64 * 1024,
      sendData: () => undefined,
      sendReset: () => undefined,
      resumeStream: (id: number) => void resumed.push(id),
      forget: () => undefined,
      giveBack: () => undefined,
    };
  };

  it("hands on the DATA pieces of one event-loop turn as one chunk of at most 64 KiB, in order, before its FIN", async () => {
    const connection = new PortForwardConnection(sender(), 80, 1, 3);
    const chunks: Buffer[] = [];
    connection.on("data", (chunk: Buffer) => chunks.push(chunk));
    const ended = once(connection, "end");
    connection.onData(1, Buffer.alloc(0), FLAG_FIN); // the error stream ends empty: no dial error
    const pieces = Array.from({ length: 10 }, (_, i) => Buffer.alloc(16 * 1024, i));
    for (const piece of pieces) connection.onData(3, piece, 0);
    connection.onData(3, Buffer.from("end"), FLAG_FIN);
    await ended;
    expect(Buffer.concat(chunks)).toEqual(Buffer.concat([...pieces, Buffer.from("end")]));
    expect(chunks.map((c) => c.length)).toEqual([65536, 65536, 32768 + 3]);
  });

  it("says the reader is full once buffered plus pending bytes reach its limit, and resumes the session when drained", async () => {
    const session = sender();
    const connection = new PortForwardConnection(session, 80, 1, 3);
    let more = true;
    let pushed = 0;
    while (more) {
      more = connection.onData(3, Buffer.alloc(16 * 1024), 0);
      pushed += 16 * 1024;
    }
    expect(pushed).toBe(256 * 1024);
    await new Promise((resolve) => setImmediate(resolve));
    expect(connection.readableLength).toBe(256 * 1024);
    connection.read();
    await new Promise((resolve) => setImmediate(resolve));
    expect(session.resumed).toContain(3);
    connection.destroy();
  });
});
