// SPDY/3.1 frame layout as moby/spdystream (the kubelet's and API server's side) reads and writes it
// (spdy/{read,write,types}.go). Header blocks stay compressed here; header-block.ts owns the zlib
// contexts, which must see every block of the session in order.

export const SPDY_VERSION = 3;
export const FLAG_FIN = 0x01;
export const MAX_STREAM_ID = 0x7fffffff;
export const MAX_FRAME_LENGTH = 0xffffff;

export const ControlType = {
  synStream: 1,
  synReply: 2,
  rstStream: 3,
  settings: 4,
  ping: 6,
  goAway: 7,
  headers: 8,
  windowUpdate: 9,
} as const;

export const RstStatus = { protocolError: 1, invalidStream: 2, refusedStream: 3, cancel: 5, internalError: 6 } as const;

export type SettingsEntry = { flags: number; id: number; value: number };

export type Frame =
  | { type: "synStream"; streamId: number; associatedId: number; priority: number; flags: number; headerBlock: Buffer }
  | { type: "synReply"; streamId: number; flags: number; headerBlock: Buffer }
  | { type: "rstStream"; streamId: number; status: number }
  | { type: "settings"; flags: number; entries: SettingsEntry[] }
  | { type: "ping"; id: number }
  | { type: "goAway"; lastGoodStreamId: number; status: number }
  | { type: "headers"; streamId: number; flags: number; headerBlock: Buffer }
  | { type: "windowUpdate"; streamId: number; delta: number }
  | { type: "data"; streamId: number; flags: number; data: Buffer };

/** A frame the peer sent that the protocol does not allow; the session cannot continue after it. */
export class SpdyProtocolError extends Error {
  constructor(message: string) {
    super(`SPDY protocol error: ${message}`);
  }
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_LENGTH) throw new RangeError(`SPDY frame payload too long: ${payload.length}`);
  const header = Buffer.alloc(8);
  header.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  header.writeUInt16BE(type, 2);
  header.writeUInt32BE(((flags & 0xff) << 24 | payload.length) >>> 0, 4);
  return Buffer.concat([header, payload]);
}

function words(...values: number[]): Buffer {
  const buffer = Buffer.alloc(values.length * 4);
  values.forEach((value, i) => buffer.writeUInt32BE(value >>> 0, i * 4));
  return buffer;
}

/** The 8 bytes before a DATA frame's payload (the payload follows unchanged, so it need not be copied). */
export function dataFrameHeader(streamId: number, flags: number, length: number): Buffer {
  if (length > MAX_FRAME_LENGTH) throw new RangeError(`SPDY data frame too long: ${length}`);
  return words(streamId & MAX_STREAM_ID, ((flags & 0xff) << 24 | length) >>> 0);
}

/** The wire bytes of one frame. */
export function encodeFrame(frame: Frame): Buffer {
  switch (frame.type) {
    case "synStream": {
      const fixed = Buffer.alloc(10);
      fixed.writeUInt32BE(frame.streamId & MAX_STREAM_ID, 0);
      fixed.writeUInt32BE(frame.associatedId & MAX_STREAM_ID, 4);
      fixed.writeUInt8((frame.priority & 0x7) << 5, 8);
      return controlFrame(ControlType.synStream, frame.flags, Buffer.concat([fixed, frame.headerBlock]));
    }
    case "synReply":
      return controlFrame(ControlType.synReply, frame.flags, Buffer.concat([words(frame.streamId & MAX_STREAM_ID), frame.headerBlock]));
    case "headers":
      return controlFrame(ControlType.headers, frame.flags, Buffer.concat([words(frame.streamId & MAX_STREAM_ID), frame.headerBlock]));
    case "rstStream":
      return controlFrame(ControlType.rstStream, 0, words(frame.streamId & MAX_STREAM_ID, frame.status));
    case "settings":
      return controlFrame(
        ControlType.settings,
        frame.flags,
        words(frame.entries.length, ...frame.entries.flatMap((e) => [((e.flags & 0xff) << 24 | (e.id & 0xffffff)) >>> 0, e.value])),
      );
    case "ping":
      return controlFrame(ControlType.ping, 0, words(frame.id));
    case "goAway":
      return controlFrame(ControlType.goAway, 0, words(frame.lastGoodStreamId & MAX_STREAM_ID, frame.status));
    case "windowUpdate":
      return controlFrame(ControlType.windowUpdate, 0, words(frame.streamId & MAX_STREAM_ID, frame.delta & MAX_STREAM_ID));
    case "data":
      return Buffer.concat([dataFrameHeader(frame.streamId, frame.flags, frame.data.length), frame.data]);
  }
}

function need(payload: Buffer, length: number, what: string): void {
  if (payload.length < length) throw new SpdyProtocolError(`${what} frame of ${payload.length} bytes is too short`);
}

function exactly(payload: Buffer, length: number, what: string): void {
  if (payload.length !== length) throw new SpdyProtocolError(`${what} frame has ${payload.length} bytes, not ${length}`);
}

function nonZeroStream(streamId: number, what: string): number {
  if (streamId === 0) throw new SpdyProtocolError(`${what} on stream 0`);
  return streamId;
}

/** One control frame from its type, flags and payload; undefined for a type SPDY/3.1 lets us ignore. */
function decodeControl(type: number, flags: number, payload: Buffer): Frame | undefined {
  const u32 = (offset: number) => payload.readUInt32BE(offset);
  const streamAt = (offset: number) => u32(offset) & MAX_STREAM_ID;
  switch (type) {
    case ControlType.synStream:
      need(payload, 10, "SYN_STREAM");
      return { type: "synStream", streamId: nonZeroStream(streamAt(0), "SYN_STREAM"), associatedId: streamAt(4), priority: (payload[8] ?? 0) >> 5, flags, headerBlock: payload.subarray(10) };
    case ControlType.synReply:
      need(payload, 4, "SYN_REPLY");
      return { type: "synReply", streamId: nonZeroStream(streamAt(0), "SYN_REPLY"), flags, headerBlock: payload.subarray(4) };
    case ControlType.headers:
      need(payload, 4, "HEADERS");
      return { type: "headers", streamId: nonZeroStream(streamAt(0), "HEADERS"), flags, headerBlock: payload.subarray(4) };
    case ControlType.rstStream: {
      exactly(payload, 8, "RST_STREAM");
      const status = u32(4);
      if (status === 0) throw new SpdyProtocolError("RST_STREAM with status 0");
      return { type: "rstStream", streamId: nonZeroStream(streamAt(0), "RST_STREAM"), status };
    }
    case ControlType.settings: {
      need(payload, 4, "SETTINGS");
      const count = u32(0);
      exactly(payload, 4 + count * 8, "SETTINGS");
      const entries = Array.from({ length: count }, (_, i) => {
        const flagsAndId = u32(4 + i * 8);
        return { flags: flagsAndId >>> 24, id: flagsAndId & 0xffffff, value: u32(8 + i * 8) };
      });
      return { type: "settings", flags, entries };
    }
    case ControlType.ping: {
      exactly(payload, 4, "PING");
      const id = u32(0);
      if (id === 0) throw new SpdyProtocolError("PING with id 0");
      return { type: "ping", id };
    }
    case ControlType.goAway:
      exactly(payload, 8, "GOAWAY");
      return { type: "goAway", lastGoodStreamId: streamAt(0), status: u32(4) };
    case ControlType.windowUpdate:
      exactly(payload, 8, "WINDOW_UPDATE");
      return { type: "windowUpdate", streamId: streamAt(0), delta: streamAt(4) };
    default:
      return undefined; // SPDY/3.1 §2.2.1: unknown control frames are ignored.
  }
}

/** Reads the 8-byte frame header's fields. */
function frameHeader(bytes: Buffer, at: number): { first: number; flags: number; length: number } {
  return { first: bytes.readUInt32BE(at), flags: bytes[at + 4] ?? 0, length: bytes.readUInt32BE(at + 4) & MAX_FRAME_LENGTH };
}

export interface FrameParserOptions {
  /**
   * Hand out a DATA frame's payload piece by piece as its bytes arrive, each piece a `data` frame of
   * the same stream, FIN only on the last: no payload is copied or held back. Without it a DATA frame
   * comes out whole (one copy when it arrived split).
   */
  streamData?: boolean;
  /** Told of the header bytes it has read from a chunk (read or copied at once: done with). */
  consumed?: (memory: ArrayBufferLike, bytes: number) => void;
}

/**
 * Cuts a byte stream into frames, however the bytes were split across reads or WebSocket messages.
 * Throws SpdyProtocolError on bytes that are not SPDY/3; the caller must then end the session.
 *
 * Payload bytes are never copied when a frame arrived in one chunk (or with `streamData`): the
 * frames hold views of the caller's chunks, which socket reads hand out fresh and nobody reuses.
 */
export class FrameParser {
  /** The frame header being read, when it arrived split (at most 8 bytes are ever copied). */
  private readonly head = Buffer.alloc(8);
  private headLength = 0;
  /** The frame whose payload is arriving: its header, payload bytes still to come, pieces so far. */
  private current: { first: number; flags: number; length: number; streamed: boolean } | undefined;
  private remaining = 0;
  private parts: Buffer[] = [];

  constructor(private readonly options: FrameParserOptions = {}) {}

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      const current = this.current;
      if (current === undefined) {
        // A header: straight from the chunk when it is whole there, else gathered across chunks.
        let header: { first: number; flags: number; length: number };
        if (this.headLength === 0 && chunk.length - offset >= 8) {
          header = frameHeader(chunk, offset);
          offset += 8;
          this.options.consumed?.(chunk.buffer, 8);
        } else {
          const take = Math.min(8 - this.headLength, chunk.length - offset);
          chunk.copy(this.head, this.headLength, offset, offset + take);
          this.headLength += take;
          offset += take;
          this.options.consumed?.(chunk.buffer, take);
          if (this.headLength < 8) break;
          this.headLength = 0;
          header = frameHeader(this.head, 0);
        }
        this.begin(header, frames);
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - offset);
      const piece = chunk.subarray(offset, offset + take);
      offset += take;
      this.remaining -= take;
      if (current.streamed) {
        const last = this.remaining === 0;
        frames.push({ type: "data", streamId: current.first & MAX_STREAM_ID, flags: last ? current.flags : current.flags & ~FLAG_FIN, data: piece });
        if (last) this.current = undefined;
      } else {
        this.parts.push(piece);
        if (this.remaining === 0) this.finish(frames);
      }
    }
    return frames;
  }

  /** A frame header has been read: check what can be checked now; an empty frame is done at once. */
  private begin(header: { first: number; flags: number; length: number }, frames: Frame[]): void {
    const isData = (header.first & 0x80000000) === 0;
    if (isData) nonZeroStream(header.first & MAX_STREAM_ID, "DATA");
    else {
      const version = (header.first >>> 16) & 0x7fff;
      if (version !== SPDY_VERSION) throw new SpdyProtocolError(`control frame of version ${version}`);
    }
    this.current = { first: header.first, flags: header.flags, length: header.length, streamed: isData && this.options.streamData === true };
    this.remaining = header.length;
    if (header.length === 0) this.finish(frames);
  }

  private finish(frames: Frame[]): void {
    const current = this.current;
    if (current === undefined) return;
    this.current = undefined;
    const payload = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    this.parts = [];
    if ((current.first & 0x80000000) === 0) {
      frames.push({ type: "data", streamId: current.first & MAX_STREAM_ID, flags: current.flags, data: payload });
      return;
    }
    const frame = decodeControl(current.first & 0xffff, current.flags, payload);
    if (frame) frames.push(frame);
  }
}
