import { once } from "node:events";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketByteStream } from "../../../../src/transports/spdy/websocket-pipe.js";

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((cleanup) => cleanup()));

/** An unmasked server frame, as an API server sends them. */
function serverFrame(opcode: number, payload: Buffer): Buffer {
  const header = payload.length < 126 ? Buffer.of(0x80 | opcode, payload.length) : Buffer.of(0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff);
  return Buffer.concat([header, payload]);
}

/** Decodes the client's masked frames (a server must unmask them). */
function clientFrames(bytes: Buffer): { opcode: number; masked: boolean; payload: Buffer }[] {
  const frames = [];
  let offset = 0;
  while (offset < bytes.length) {
    const opcode = (bytes[offset] as number) & 0x0f;
    const masked = ((bytes[offset + 1] as number) & 0x80) !== 0;
    let length = (bytes[offset + 1] as number) & 0x7f;
    let at = offset + 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at));
      at += 8;
    }
    const mask = bytes.subarray(at, at + 4);
    at += 4;
    const payload = Buffer.from(bytes.subarray(at, at + length).map((b, i) => b ^ (mask[i & 3] as number)));
    frames.push({ opcode, masked, payload });
    offset = at + length;
  }
  return frames;
}

async function connectedPair() {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  const [peer] = (await once(server, "connection")) as [net.Socket];
  cleanups.push(() => (client.destroy(), peer.destroy(), server.close()));
  const received: Buffer[] = [];
  peer.on("data", (chunk: Buffer) => received.push(chunk));
  return { client, peer, received: () => clientFrames(Buffer.concat(received)) };
}

describe("WebSocket byte stream (RFC 6455 client for the SPDY tunnel)", () => {
  it("reads binary messages as one byte stream, however they are split, including bytes from the upgrade response", async () => {
    const { client, peer } = await connectedPair();
    const wire = Buffer.concat([serverFrame(2, Buffer.from("abc")), serverFrame(2, Buffer.alloc(300, 1)), serverFrame(2, Buffer.from("z"))]);
    const stream = new WebSocketByteStream(client, wire.subarray(0, 4));
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    peer.write(wire.subarray(4, 100));
    await new Promise((resolve) => setTimeout(resolve, 20));
    peer.write(wire.subarray(100));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(Buffer.concat(chunks)).toEqual(Buffer.concat([Buffer.from("abc"), Buffer.alloc(300, 1), Buffer.from("z")]));
  });

  it("sends masked binary frames, answers pings with masked pongs, and closes with 1000", async () => {
    const { client, peer, received } = await connectedPair();
    const stream = new WebSocketByteStream(client, Buffer.alloc(0));
    stream.write(Buffer.alloc(70_000, 3));
    peer.write(serverFrame(9, Buffer.from("are you there")));
    await new Promise((resolve) => setTimeout(resolve, 30));
    stream.end();
    await new Promise((resolve) => setTimeout(resolve, 30));
    const frames = received();
    expect(frames.every((f) => f.masked)).toBe(true);
    expect(frames.map((f) => f.opcode)).toEqual([2, 10, 8]);
    expect(frames[0]?.payload).toEqual(Buffer.alloc(70_000, 3));
    expect(frames[1]?.payload.toString()).toBe("are you there");
    expect(frames[2]?.payload).toEqual(Buffer.of(0x03, 0xe8));
  });

  it("treats a text message as the server's error, and a close as the end of the stream", async () => {
    const failing = await connectedPair();
    const stream = new WebSocketByteStream(failing.client, Buffer.alloc(0));
    const error = once(stream, "error");
    failing.peer.write(serverFrame(1, Buffer.from("pods \"web\" not found")));
    expect(((await error) as [Error])[0].message).toBe('port-forward tunnel: pods "web" not found');

    const closing = await connectedPair();
    const closed = new WebSocketByteStream(closing.client, Buffer.alloc(0));
    closed.resume();
    const ended = once(closed, "end");
    closing.peer.write(serverFrame(8, Buffer.of(0x03, 0xe8)));
    await ended;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(closing.received().map((f) => f.opcode)).toEqual([8]);
  });

  it("feeds binary payload straight to a receiver, pauses the socket itself, and still ends", async () => {
    const { client, peer } = await connectedPair();
    const stream = new WebSocketByteStream(client, Buffer.alloc(0));
    const fed: Buffer[] = [];
    const reading = stream.feed((chunk) => fed.push(chunk));
    stream.on("data", () => expect.fail("nothing goes through the readable side when fed"));
    peer.write(Buffer.concat([serverFrame(2, Buffer.from("ab")), serverFrame(9, Buffer.from("ping")), serverFrame(2, Buffer.from("cd"))]));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(Buffer.concat(fed).toString()).toBe("abcd");
    reading.pause();
    expect(client.isPaused()).toBe(true);
    peer.write(serverFrame(2, Buffer.from("later")));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(Buffer.concat(fed).toString()).toBe("abcd");
    reading.resume();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(Buffer.concat(fed).toString()).toBe("abcdlater");
    const ended = once(stream, "end");
    peer.write(serverFrame(8, Buffer.of(0x03, 0xe8)));
    await ended;
  });

  it("masks pieces written together into one message, in order, and a burst into messages of at most 256 KiB", async () => {
    const { client, received } = await connectedPair();
    const stream = new WebSocketByteStream(client, Buffer.alloc(0));
    const pieces = [Buffer.from("header"), Buffer.alloc(1000, 7), Buffer.from("tail")];
    stream.cork();
    for (const piece of pieces) stream.write(piece);
    stream.uncork();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(received().map((f) => [f.opcode, f.masked, f.payload.length])).toEqual([[2, true, 1010]]);
    expect(received()[0]?.payload.equals(Buffer.concat(pieces))).toBe(true);
    // 5 x 100 KiB corked: 200 + 200 + 100 KiB, the bytes in order.
    const burst = Array.from({ length: 5 }, (_, i) => Buffer.alloc(100 * 1024, i + 1));
    stream.cork();
    for (const piece of burst) stream.write(piece);
    const written = new Promise((resolve) => stream.write(Buffer.alloc(0), resolve));
    stream.uncork();
    await written;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const frames = received().slice(1);
    expect(frames.map((f) => f.payload.length)).toEqual([200 * 1024, 200 * 1024, 100 * 1024]);
    expect(Buffer.concat(frames.map((f) => f.payload)).equals(Buffer.concat(burst))).toBe(true);
  });
});
