import { createHash, randomBytes, randomFillSync } from "node:crypto";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { leadingBytes } from "./frames.js";

// A minimal RFC 6455 client, only as much as a byte tunnel needs. Why not `ws`: it refuses the
// subprotocol `SPDY/3.1+portforward.k8s.io` ('/' is not an HTTP token character), and answering
// without a requested subprotocol is an error there too; the API server insists on exactly that name.

const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
// Enough to hold a few SPDY frames, so a fast session is not paused and resumed for every message.
const READ_BUFFER_BYTES = 256 * 1024;
const Opcode = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** The headers of a WebSocket upgrade request offering `protocol`, and the answer to expect. */
export function webSocketHandshake(protocol: string): { headers: Record<string, string>; accept: string } {
  const key = randomBytes(16).toString("base64");
  return {
    headers: { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": key, "Sec-WebSocket-Protocol": protocol },
    accept: createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64"),
  };
}

function clientFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const extended = length < 126 ? 0 : length <= 0xffff ? 2 : 8;
  const header = Buffer.alloc(2 + extended + 4);
  header[0] = 0x80 | opcode; // FIN: never fragmented
  header[1] = 0x80 | (extended === 0 ? length : extended === 2 ? 126 : 127); // MASK: clients always mask
  if (extended === 2) header.writeUInt16BE(length, 2);
  if (extended === 8) header.writeBigUInt64BE(BigInt(length), 2);
  const mask = header.subarray(2 + extended);
  randomFillSync(mask);
  const masked = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i += 1) masked[i] = (payload[i] as number) ^ (mask[i & 3] as number);
  return Buffer.concat([header, masked]);
}

/**
 * The bytes carried in binary messages, as one stream (message boundaries mean nothing to SPDY).
 * A text message is the server reporting an error; close ends the stream. Back-pressure: a full
 * reader pauses the socket; writes complete when the socket took the frame.
 */
export class WebSocketByteStream extends Duplex {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private closeSent = false;

  constructor(private readonly socket: Socket, head: Buffer) {
    super({ allowHalfOpen: false, readableHighWaterMark: READ_BUFFER_BYTES });
    socket.on("data", (chunk: Buffer) => this.onBytes(chunk));
    socket.on("end", () => this.push(null));
    socket.on("close", () => this.destroy());
    socket.on("error", (error) => this.destroy(error));
    if (head.length) this.onBytes(head);
  }

  private onBytes(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      const frame = this.nextFrame();
      if (!frame) return;
      this.onFrame(frame.opcode, frame.payload);
      if (this.destroyed) return;
    }
  }

  private nextFrame(): { opcode: number; payload: Buffer } | undefined {
    if (this.buffered < 2) return undefined;
    // Join the chunks only once a whole message is here: a big message in many reads stays linear.
    const first = this.chunks[0] as Buffer;
    const head = leadingBytes(this.chunks, 14);
    const lengthCode = (head[1] as number) & 0x7f;
    const masked = ((head[1] as number) & 0x80) !== 0;
    const offset = 2 + (lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0);
    if (head.length < offset) return undefined;
    const length = lengthCode === 126 ? head.readUInt16BE(2) : lengthCode === 127 ? Number(head.readBigUInt64BE(2)) : lengthCode;
    const start = offset + (masked ? 4 : 0);
    if (this.buffered < start + length) return undefined;
    const bytes = this.chunks.length === 1 ? first : Buffer.concat(this.chunks);
    let payload = bytes.subarray(start, start + length);
    if (masked) {
      const mask = bytes.subarray(offset, offset + 4);
      payload = Buffer.from(payload.map((byte, i) => byte ^ (mask[i & 3] as number)));
    }
    const rest = bytes.subarray(start + length);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return { opcode: (bytes[0] as number) & 0x0f, payload };
  }

  private onFrame(opcode: number, payload: Buffer): void {
    switch (opcode) {
      case Opcode.binary:
      case Opcode.continuation:
        if (payload.length && !this.push(payload)) this.socket.pause();
        return;
      case Opcode.text:
        this.destroy(new Error(`port-forward tunnel: ${payload.toString("utf8")}`));
        return;
      case Opcode.ping:
        this.socket.write(clientFrame(Opcode.pong, payload));
        return;
      case Opcode.close:
        this.sendClose();
        this.push(null);
        this.socket.end();
        return;
      default:
        return; // pong, or an opcode we do not use
    }
  }

  private sendClose(): void {
    if (this.closeSent || this.socket.destroyed) return;
    this.closeSent = true;
    this.socket.write(clientFrame(Opcode.close, Buffer.of(0x03, 0xe8))); // 1000: normal closure
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.socket.destroyed || this.closeSent) return callback(new Error("port-forward tunnel closed"));
    this.socket.write(clientFrame(Opcode.binary, chunk), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.sendClose();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }
}
