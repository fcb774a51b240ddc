import { once } from "node:events";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { FLAG_FIN } from "../../../../src/transports/spdy/frames.js";
import { PortForwardConnection } from "../../../../src/transports/spdy/port-forward-connection.js";

const closers: (() => void)[] = [];
afterEach(() => closers.splice(0).forEach((close) => close()));

function sender() {
  const resumed: number[] = [];
  const resets: number[] = [];
  const given: Buffer[] = [];
  return {
    resumed,
    resets,
    given,
    pipeline: true,
    maxDataFrame: 64 * 1024,
    sendData: () => undefined,
    sendReset: (id: number) => void resets.push(id),
    resumeStream: (id: number) => void resumed.push(id),
    forget: () => undefined,
    giveBack: (piece: Buffer) => void given.push(piece),
  };
}

/** A real loopback TCP pair: `local` is the daemon's accepted socket, `client` the user's program. */
async function socketPair(): Promise<{ local: net.Socket; client: net.Socket }> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const accepted = once(server, "connection") as Promise<[net.Socket]>;
  const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  const [local] = await accepted;
  closers.push(() => (local.destroy(), client.destroy(), server.close()));
  return { local, client };
}

/** Counts the socket's write calls and how many pieces each carried. */
function countWrites(socket: net.Socket): number[] {
  const writes: number[] = [];
  const internals = socket as unknown as { _write: (...a: unknown[]) => void; _writev: (chunks: unknown[], cb: unknown) => void };
  const write = internals._write.bind(socket);
  const writev = internals._writev.bind(socket);
  internals._write = (...args: unknown[]) => (writes.push(1), write(...args));
  internals._writev = (chunks: unknown[], cb: unknown) => (writes.push(chunks.length), writev(chunks, cb));
  return writes;
}

describe("a spdy connection writing straight to the local socket (forwardTo)", () => {
  it("writes the pieces of one event-loop turn as one writev, counts them, and ends the socket after the pod's FIN", async () => {
    const { local, client } = await socketPair();
    const writes = countWrites(local);
    const session = sender();
    const connection = new PortForwardConnection(session, 80, 1, 3);
    let counted = 0;
    const forwarded = connection.forwardTo(local, (bytes) => (counted += bytes));
    const received: Buffer[] = [];
    client.on("data", (chunk: Buffer) => received.push(chunk));
    const clientEnded = once(client, "end");
    connection.onData(1, Buffer.alloc(0), FLAG_FIN); // the error stream ends empty: no dial error
    const pieces = Array.from({ length: 3 }, (_, i) => Buffer.alloc(16 * 1024 + i, i));
    for (const piece of pieces) connection.onData(3, piece, 0);
    connection.onData(3, Buffer.from("end"), FLAG_FIN);
    await forwarded;
    await clientEnded;
    expect(Buffer.concat(received).equals(Buffer.concat([...pieces, Buffer.from("end")]))).toBe(true);
    expect(writes).toEqual([4]);
    expect(counted).toBe(3 * 16 * 1024 + 3 + 3);
    expect(connection.readableLength).toBe(0); // nothing went through the readable side
    // Every piece goes back to the session once written (its memory may be read into again).
    expect(session.given).toEqual([...pieces, Buffer.from("end")]);
    expect(session.given[0]).toBe(pieces[0]);
  });

  it("gives a piece back only after the socket wrote it, and never when the write failed", async () => {
    const { local, client } = await socketPair();
    client.pause();
    const session = sender();
    const connection = new PortForwardConnection(session, 80, 1, 3);
    void connection.forwardTo(local).catch(() => undefined);
    // More than the kernel takes: the later pieces wait in the socket's queue, not given back.
    let sent = 0;
    while (local.writableLength === 0 && sent < 1024) {
      connection.onData(3, Buffer.alloc(64 * 1024, sent), 0);
      sent += 1;
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (let more = 0; more < 8; more++) {
      connection.onData(3, Buffer.alloc(64 * 1024, sent), 0);
      sent += 1;
      await new Promise((resolve) => setImmediate(resolve));
    }
    // The socket counts a piece as queued until its write's callback: none of those is back yet.
    const queued = Math.ceil(local.writableLength / (64 * 1024));
    expect(queued).toBeGreaterThan(0);
    expect(session.given.length).toBeLessThanOrEqual(sent - queued);
    local.destroy();
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Destroyed: the pieces it never wrote stay out (one already handed to the kernel may finish).
    expect(session.given.length).toBeLessThanOrEqual(sent - queued + 1);
    expect(session.given.length).toBeLessThan(sent);
    expect(session.given.map((piece) => piece[0])).toEqual(Array.from({ length: session.given.length }, (_, i) => i % 256));
    connection.destroy();
  });

  it("says the reader is full once 256 KiB wait in the local socket, and resumes the session's stream on drain", async () => {
    const { local, client } = await socketPair();
    client.pause();
    const session = sender();
    const connection = new PortForwardConnection(session, 80, 1, 3);
    void connection.forwardTo(local).catch(() => undefined);
    let more = true;
    let sent = 0;
    // Up to the socket buffers' size and beyond: each turn's pieces are written before the next.
    while (more && sent < 64 * 1024 * 1024) {
      more = connection.onData(3, Buffer.alloc(64 * 1024), 0);
      sent += 64 * 1024;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(more).toBe(false);
    expect(local.writableNeedDrain).toBe(true);
    // Full at the connection's 256 KiB, as on the readable side: not at the socket's own 16 KiB
    // mark, which paused the session on nearly every write (0.72x kubectl on loopback).
    expect(local.writableLength).toBeGreaterThanOrEqual(256 * 1024);
    const resumedBefore = session.resumed.length;
    client.resume();
    await once(local, "drain");
    expect(session.resumed.length).toBeGreaterThan(resumedBefore);
    expect(session.resumed.at(-1)).toBe(3);
    connection.destroy();
  });

  it("destroys the local socket and rejects when the pod's side fails", async () => {
    const { local, client } = await socketPair();
    const connection = new PortForwardConnection(sender(), 80, 1, 3);
    const forwarded = connection.forwardTo(local);
    const clientClosed = once(client, "close");
    connection.onData(1, Buffer.from("error forwarding port 80 to pod p: dial tcp 10.0.0.1:80: connect: connection refused"), FLAG_FIN);
    await expect(forwarded).rejects.toThrow(/connection refused/);
    expect(local.destroyed).toBe(true);
    await clientClosed;
  });

  it("rejects when the local socket goes first, as pipeline would", async () => {
    const { local } = await socketPair();
    const connection = new PortForwardConnection(sender(), 80, 1, 3);
    const forwarded = connection.forwardTo(local);
    local.destroy();
    await expect(forwarded).rejects.toThrow(/premature close/i);
    connection.destroy();
  });
});
