import { adler32 } from "./adler32.js";
import { SPDY3_DICTIONARY } from "./dictionary.js";
import { SpdyProtocolError } from "./frames.js";
import { constants, createInflate, type Inflate } from "node:zlib";

export type Headers = [name: string, value: string][];

// spdystream rejects these on a SYN_STREAM and ends the session (read.go invalidReqHeaders).
const FORBIDDEN_NAMES = new Set(["connection", "host", "keep-alive", "proxy-connection", "transfer-encoding"]);

/** The uncompressed name/value block: u32 count, then u32 length + bytes for each name and value. */
export function encodeNameValues(headers: Headers): Buffer {
  const names = new Set<string>();
  const parts: Buffer[] = [u32(headers.length)];
  for (const [name, value] of headers) {
    if (name !== name.toLowerCase() || names.has(name) || FORBIDDEN_NAMES.has(name)) throw new Error(`SPDY header name not allowed: ${name}`);
    names.add(name);
    for (const text of [name, value]) {
      const bytes = Buffer.from(text, "utf8");
      parts.push(u32(bytes.length), bytes);
    }
  }
  return Buffer.concat(parts);
}

export function decodeNameValues(block: Buffer): Headers {
  let offset = 0;
  const read = (length: number) => {
    if (offset + length > block.length) throw new SpdyProtocolError("header block shorter than its lengths");
    const slice = block.subarray(offset, offset + length);
    offset += length;
    return slice;
  };
  const count = read(4).readUInt32BE(0);
  const headers: Headers = [];
  for (let i = 0; i < count; i += 1) {
    const name = read(read(4).readUInt32BE(0)).toString("utf8");
    const value = read(read(4).readUInt32BE(0)).toString("utf8");
    headers.push([name, value]);
  }
  if (offset !== block.length) throw new SpdyProtocolError("header block longer than its headers");
  return headers;
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value, 0);
  return buffer;
}

const STORED_BLOCK_MAX = 0xffff;
const SYNC_FLUSH_MARKER = Buffer.of(0x00, 0x00, 0x00, 0xff, 0xff);

/**
 * Our side of the session's header zlib stream. It announces the SPDY/3 dictionary (FDICT, its
 * Adler-32) but writes stored deflate blocks: port-forward's headers are ~60 bytes, and stored blocks
 * need no async zlib round trip, so a SYN_STREAM is built synchronously and stream ids stay in write
 * order. Each block ends in a sync flush, as Go's zlib writer does and spdystream's reader needs.
 */
export class HeaderCompressor {
  private started = false;

  compress(headers: Headers): Buffer {
    const raw = encodeNameValues(headers);
    const parts: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      // CMF 0x78 (deflate, 32 KiB window), FLG 0x20 (FDICT; 0x7820 % 31 === 0), then the DICTID.
      parts.push(Buffer.of(0x78, 0x20), u32(adler32(SPDY3_DICTIONARY)));
    }
    let offset = 0;
    do {
      const chunk = raw.subarray(offset, offset + STORED_BLOCK_MAX);
      const header = Buffer.alloc(5);
      header.writeUInt8(0, 0); // BFINAL 0, BTYPE 00 (stored): the stream goes on with the next block.
      header.writeUInt16LE(chunk.length, 1);
      header.writeUInt16LE(~chunk.length & 0xffff, 3);
      parts.push(header, chunk);
      offset += STORED_BLOCK_MAX;
    } while (offset < raw.length);
    // The sync-flush marker (an empty stored block). Go's inflater hands out a stored block's bytes
    // only when it reads the next block header; without the marker it reads past the frame and fails.
    parts.push(SYNC_FLUSH_MARKER);
    return Buffer.concat(parts);
  }
}

/**
 * The peer's header zlib stream: one inflate context for the session's life, fed every header block
 * in arrival order (SYN_STREAM, SYN_REPLY and HEADERS alike), or later blocks would not decode.
 */
export class HeaderDecompressor {
  // Header blocks are ~100 bytes: a 1 KiB output buffer, not zlib's default 16 KiB, which every
  // pod session kept for its whole life (1,000 idle sessions: ~15 MB). Longer output still comes
  // out whole, in more chunks.
  private readonly inflate: Inflate = createInflate({ dictionary: SPDY3_DICTIONARY, chunkSize: 1024 });
  private queue: Promise<unknown> = Promise.resolve();
  private output: Buffer[] = [];
  private failure: Error | undefined;

  constructor() {
    this.inflate.on("data", (chunk: Buffer) => this.output.push(chunk));
    this.inflate.on("error", (error) => (this.failure = new SpdyProtocolError(`header block does not inflate: ${error.message}`)));
  }

  /** Resolves with this block's headers once every earlier block has been decoded. */
  decompress(block: Buffer): Promise<Headers> {
    const result = this.queue.then(() => this.inflateBlock(block));
    this.queue = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.inflate.close();
  }

  private inflateBlock(block: Buffer): Promise<Headers> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.inflate.write(block);
      // The flush callback runs after all output for the bytes written so far has been emitted.
      this.inflate.flush(constants.Z_SYNC_FLUSH, () => {
        if (this.failure) return reject(this.failure);
        const raw = Buffer.concat(this.output);
        this.output = [];
        try {
          resolve(decodeNameValues(raw));
        } catch (error) {
          reject(error as Error);
        }
      });
    });
  }
}
