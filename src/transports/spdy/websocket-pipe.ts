import { createHash, randomBytes, randomFillSync } from "node:crypto";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { noGiveBack, type GiveBack } from "./read-slabs.js";

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

// Pieces written together (a corked burst, see _writev) go out as messages of at most this much.
const MAX_MESSAGE_BYTES = 256 * 1024;

/**
 * A client frame: header and masked payload in one buffer, one copy of the payload (of all the
 * pieces, in order). RFC 6455 has clients mask every byte; XOR-ing 4 bytes at a time is what keeps
 * an upload from costing more CPU here than everything else on the byte path (a byte loop took
 * ~2.5 ms per MB).
 */
export function clientFrame(opcode: number, payload: Buffer | readonly Buffer[]): Buffer {
  const pieces = Buffer.isBuffer(payload) ? [payload] : payload;
  let length = 0;
  for (const piece of pieces) length += piece.length;
  const extended = length < 126 ? 0 : length <= 0xffff ? 2 : 8;
  const start = 2 + extended + 4;
  const frame = Buffer.allocUnsafe(start + length);
  frame[0] = 0x80 | opcode; // FIN: never fragmented
  frame[1] = 0x80 | (extended === 0 ? length : extended === 2 ? 126 : 127); // MASK: clients always mask
  if (extended === 2) frame.writeUInt16BE(length, 2);
  if (extended === 8) frame.writeBigUInt64BE(BigInt(length), 2);
  randomFillSync(frame, 2 + extended, 4);
  let at = start;
  for (const piece of pieces) at += piece.copy(frame, at);
  maskInPlace(frame, start, frame.subarray(2 + extended, start));
  return frame;
}

/** XORs `buffer` from `start` on with the 4-byte `mask` (mask[0] on buffer[start]). */
function maskInPlace(buffer: Buffer, start: number, mask: Buffer): void {
  const end = buffer.length;
  let i = start;
  // Byte by byte up to a 4-byte boundary of the underlying memory, then whole words.
  while (i < end && (buffer.byteOffset + i) % 4 !== 0) {
    buffer[i] = (buffer[i] as number) ^ (mask[(i - start) & 3] as number);
    i += 1;
  }
  const words = (end - i) >>> 2;
  if (words > 0) {
    // The mask rotated to this word boundary, in the machine's own byte order.
    const rotated = new Uint8Array(4);
    for (let k = 0; k < 4; k += 1) rotated[k] = mask[(i - start + k) & 3] as number;
    const word = new Uint32Array(rotated.buffer)[0] as number;
    const view = new Uint32Array(buffer.buffer, buffer.byteOffset + i, words);
    for (let w = 0; w < words; w += 1) view[w] = (view[w] as number) ^ word;
    i += words * 4;
  }
  for (; i < end; i += 1) buffer[i] = (buffer[i] as number) ^ (mask[(i - start) & 3] as number);
}

/**
 * The bytes carried in binary messages, as one stream (message boundaries mean nothing to SPDY).
 * A text message is the server reporting an error; close ends the stream. Back-pressure: a full
 * reader pauses the socket; writes complete when the socket took the frame.
 */
export class WebSocketByteStream extends Duplex {
  /** The frame header being read, when it arrived split (at most 14 bytes are ever copied). */
  private readonly head = Buffer.alloc(14);
  private headLength = 0;
  /** The frame whose payload is arriving, and how much of it is still to come. */
  private frame: { opcode: number; mask: Buffer | undefined; masked: number } | undefined;
  private remaining = 0;
  /** A control or text frame's payload so far (small; data frames are never gathered). */
  private parts: Buffer[] = [];
  /** Where binary payload goes when fed directly (see feed), instead of this stream's readable side. */
  private receiver: ((chunk: Buffer) => void) | undefined;
  /** A continuation frame continues the last data or text frame. */
  private messageOpcode: number = Opcode.binary;
  private closeSent = false;
  /** Where read bytes that are done with go back (read-slabs.ts). */
  private readonly giveBack: GiveBack;

  /**
   * `source`, when given, is how the socket's reads reach this stream instead of its "data" events
   * (a socket read with `onread`, see raw-upgrade.ts), and where bytes done with are given back.
   */
  constructor(
    private readonly socket: Socket,
    head: Buffer,
    source?: { feed(receive: (chunk: Buffer) => void): void; giveBack: GiveBack },
  ) {
    super({ allowHalfOpen: false, readableHighWaterMark: READ_BUFFER_BYTES });
    this.giveBack = source?.giveBack ?? noGiveBack;
    if (source) source.feed((chunk) => this.onBytes(chunk));
    else socket.on("data", (chunk: Buffer) => this.onBytes(chunk));
    socket.on("end", () => this.push(null));
    socket.on("close", () => this.destroy());
    socket.on("error", (error) => this.destroy(error));
    if (head.length) this.onBytes(head);
  }

  /**
   * Binary payload goes on as views of the socket's chunks as they arrive, whatever the message
   * and frame boundaries: nothing is copied or held until a message is complete (the API server
   * sends ~16 KB messages, each split over three TLS records, so gathering them cost two copies).
   */
  private onBytes(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && !this.destroyed) {
      if (this.frame === undefined) {
        // Header bytes are read (or copied) at once: done with.
        const next = this.readHeader(chunk, offset);
        this.giveBack(chunk.buffer, next - offset);
        offset = next;
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - offset);
      let piece = chunk.subarray(offset, offset + take);
      offset += take;
      this.remaining -= take;
      const { opcode, mask } = this.frame;
      if (mask) {
        // Servers must not mask; unmask a copy anyway rather than corrupt the stream.
        const start = this.frame.masked;
        piece = Buffer.from(piece.map((byte, i) => byte ^ (mask[(start + i) & 3] as number)));
        this.frame.masked += take;
        this.giveBack(chunk.buffer, take);
      }
      if (opcode === Opcode.binary) {
        if (this.receiver) {
          if (piece.length) this.receiver(piece);
        } else if (piece.length && !this.push(piece)) this.socket.pause();
      } else {
        this.parts.push(piece);
      }
      if (this.remaining === 0) this.endFrame();
    }
  }

  /**
   * Hands binary payload to `receive` as it is read, skipping this stream's readable side (a
   * Readable's push and "data" per piece; four pieces per 16 KB on the API server's tunnel). The
   * readable side then carries only the end. Back-pressure is the receiver's: the returned controls
   * pause and resume the socket itself; what it is done with of a piece it gives back.
   */
  feed(receive: (chunk: Buffer) => void): { pause(): void; resume(): void; giveBack: GiveBack } {
    this.receiver = receive;
    this.resume();
    return { pause: () => this.socket.pause(), resume: () => this.socket.resume(), giveBack: this.giveBack };
  }

  /** Reads (part of) a frame header from `chunk` at `offset`; returns the offset after what it used. */
  private readHeader(chunk: Buffer, offset: number): number {
    // How long this header is, once its first two bytes are known.
    const size = (second: number) => 2 + ((second & 0x7f) === 126 ? 2 : (second & 0x7f) === 127 ? 8 : 0) + (second & 0x80 ? 4 : 0);
    let bytes: Buffer;
    let at: number;
    let next: number;
    if (this.headLength === 0 && chunk.length - offset >= 2 && chunk.length - offset >= size(chunk[offset + 1] as number)) {
      bytes = chunk;
      at = offset;
      next = offset + size(chunk[offset + 1] as number);
    } else {
      // Gather byte by byte up to the header's size (known after two bytes): at most 14 bytes.
      next = offset;
      while (next < chunk.length && (this.headLength < 2 || this.headLength < size(this.head[1] as number))) this.head[this.headLength++] = chunk[next++] as number;
      if (this.headLength < 2 || this.headLength < size(this.head[1] as number)) return next;
      bytes = this.head;
      at = 0;
      this.headLength = 0;
    }
    const first = bytes[at] as number;
    const second = bytes[at + 1] as number;
    const lengthCode = second & 0x7f;
    const length = lengthCode === 126 ? bytes.readUInt16BE(at + 2) : lengthCode === 127 ? Number(bytes.readBigUInt64BE(at + 2)) : lengthCode;
    const maskAt = at + 2 + (lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0);
    const mask = second & 0x80 ? Buffer.from(bytes.subarray(maskAt, maskAt + 4)) : undefined;
    let opcode = first & 0x0f;
    if (opcode === Opcode.continuation) opcode = this.messageOpcode;
    else if (opcode === Opcode.binary || opcode === Opcode.text) this.messageOpcode = opcode;
    this.frame = { opcode, mask, masked: 0 };
    this.remaining = length;
    if (length === 0) this.endFrame();
    return next;
  }

  /** The current frame's payload is all here: act on a control or text frame. */
  private endFrame(): void {
    const opcode = this.frame?.opcode;
    this.frame = undefined;
    if (opcode === Opcode.binary || opcode === undefined) return;
    const payload = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    this.parts = [];
    this.onFrame(opcode, payload);
  }

  private onFrame(opcode: number, payload: Buffer): void {
    switch (opcode) {
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
    if (!this.receiver && this.socket.isPaused()) this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.socket.destroyed || this.closeSent) return callback(new Error("port-forward tunnel closed"));
    this.socket.write(clientFrame(Opcode.binary, chunk), callback);
  }

  /**
   * Pieces written while corked (a SPDY frame's header and its DATA, the session's whole burst) are
   * masked into one message with one copy, instead of being joined first and copied again.
   */
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    if (this.socket.destroyed || this.closeSent) return callback(new Error("port-forward tunnel closed"));
    let group: Buffer[] = [];
    let bytes = 0;
    for (const { chunk } of chunks) {
      if (bytes > 0 && bytes + chunk.length > MAX_MESSAGE_BYTES) {
        this.socket.write(clientFrame(Opcode.binary, group));
        group = [];
        bytes = 0;
      }
      group.push(chunk);
      bytes += chunk.length;
    }
    this.socket.write(clientFrame(Opcode.binary, group), callback);
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
