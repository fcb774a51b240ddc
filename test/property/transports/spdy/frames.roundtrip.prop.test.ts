import fc from "fast-check";
import { PassThrough } from "node:stream";
import type { Socket } from "node:net";
import { constants, createDeflate } from "node:zlib";
import { describe, expect, it } from "vitest";
import { SPDY3_DICTIONARY } from "../../../../src/transports/spdy/dictionary.js";
import { encodeFrame, FLAG_FIN, FrameParser, type Frame } from "../../../../src/transports/spdy/frames.js";
import { clientFrame, WebSocketByteStream } from "../../../../src/transports/spdy/websocket-pipe.js";
import { encodeNameValues, HeaderCompressor, HeaderDecompressor, type Headers } from "../../../../src/transports/spdy/header-block.js";

const streamId = fc.integer({ min: 1, max: 0x7fffffff });
const u31 = fc.integer({ min: 0, max: 0x7fffffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const flags = fc.integer({ min: 0, max: 0xff });
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ type: fc.constant("synStream" as const), streamId, associatedId: u31, priority: fc.integer({ min: 0, max: 7 }), flags, headerBlock: bytes(64) }),
  fc.record({ type: fc.constant("synReply" as const), streamId, flags, headerBlock: bytes(64) }),
  fc.record({ type: fc.constant("rstStream" as const), streamId, status: fc.integer({ min: 1, max: 0xffffffff }) }),
  fc.record({
    type: fc.constant("settings" as const),
    flags,
    entries: fc.array(fc.record({ flags, id: fc.integer({ min: 0, max: 0xffffff }), value: u32 }), { maxLength: 5 }),
  }),
  fc.record({ type: fc.constant("ping" as const), id: fc.integer({ min: 1, max: 0xffffffff }) }),
  fc.record({ type: fc.constant("goAway" as const), lastGoodStreamId: u31, status: u32 }),
  fc.record({ type: fc.constant("headers" as const), streamId, flags, headerBlock: bytes(64) }),
  fc.record({ type: fc.constant("windowUpdate" as const), streamId: u31, delta: u31 }),
  fc.record({ type: fc.constant("data" as const), streamId, flags, data: bytes(2048) }),
);

const headerName = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/).filter((n) => !["host", "connection", "keep-alive", "proxy-connection", "transfer-encoding"].includes(n));
const headersArb: fc.Arbitrary<Headers> = fc
  .uniqueArray(fc.tuple(headerName, fc.string({ maxLength: 40 })), { selector: ([name]) => name, maxLength: 6 })
  .map((pairs) => pairs.map(([n, v]) => [n, v] as [string, string]));

/** Splits bytes at arbitrary points, as TCP reads or WebSocket messages may. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, point));
    from = point;
  }
  return chunks;
}

describe("SPDY/3.1 framer", () => {
  it("decodes every frame type back to what was encoded, however the bytes are split", () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 8 }), (frames, cuts) => {
        const parser = new FrameParser();
        const wire = Buffer.concat(frames.map(encodeFrame));
        const decoded = split(wire, cuts).flatMap((chunk) => parser.push(chunk));
        expect(decoded).toEqual(frames);
      }),
    );
  });

  it("with streamData, hands out DATA as pieces that add up to each frame (FIN on the last only), control frames whole", () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 8 }), (frames, cuts) => {
        const parser = new FrameParser({ streamData: true });
        const wire = Buffer.concat(frames.map(encodeFrame));
        const chunks = split(wire, cuts);
        const decoded = chunks.flatMap((chunk) => parser.push(chunk));
        // Put consecutive pieces back together: a frame's pieces are adjacent and only its last may FIN.
        const joined: Frame[] = [];
        let open: Extract<Frame, { type: "data" }> | undefined;
        for (const frame of decoded) {
          if (frame.type !== "data") {
            expect(open).toBeUndefined();
            joined.push(frame);
            continue;
          }
          open = open ? { ...open, flags: frame.flags, data: Buffer.concat([open.data, frame.data]) } : { ...frame };
          expect(frame.streamId).toBe(open.streamId);
          // Pieces are views of the chunks, not copies: each lies inside the chunk it came from.
          if (frame.data.length) expect(chunks.some((c) => c.buffer === frame.data.buffer)).toBe(true);
          const expected = frames[joined.length];
          if (expected?.type === "data" && open.data.length === expected.data.length) {
            joined.push(open);
            open = undefined;
          } else {
            expect(frame.flags & FLAG_FIN).toBe(0);
          }
        }
        expect(open).toBeUndefined();
        expect(joined).toEqual(frames);
      }),
    );
  });

  it("carries header blocks through one shared zlib context per direction, across many frames", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(headersArb, { minLength: 1, maxLength: 20 }), async (blocks) => {
        const compressor = new HeaderCompressor();
        const decompressor = new HeaderDecompressor();
        try {
          // Start all decodes at once: the decompressor must keep them in order by itself.
          const decoded = await Promise.all(blocks.map((headers) => decompressor.decompress(compressor.compress(headers))));
          expect(decoded).toEqual(blocks);
        } finally {
          decompressor.close();
        }
      }),
      { numRuns: 60 },
    );
  });

  it("reads header blocks from a real deflate with the SPDY dictionary and sync flushes (what Go's zlib writer sends)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(headersArb, { minLength: 1, maxLength: 10 }), async (blocks) => {
        const deflate = createDeflate({ dictionary: SPDY3_DICTIONARY });
        const compressed: Buffer[] = [];
        for (const headers of blocks) {
          const raw = encodeNameValues(headers);
          const out: Buffer[] = [];
          const onData = (chunk: Buffer) => out.push(chunk);
          deflate.on("data", onData);
          deflate.write(raw);
          await new Promise<void>((resolve) => deflate.flush(constants.Z_SYNC_FLUSH, () => resolve()));
          deflate.off("data", onData);
          compressed.push(Buffer.concat(out));
        }
        deflate.close();
        const decompressor = new HeaderDecompressor();
        try {
          const decoded = await Promise.all(compressed.map((block) => decompressor.decompress(block)));
          expect(decoded).toEqual(blocks);
        } finally {
          decompressor.close();
        }
      }),
      { numRuns: 30 },
    );
  });
});

/** A server's WebSocket frame (unmasked unless a mask is given), with any of the three length forms. */
function wsFrame(fin: boolean, opcode: number, payload: Buffer, form: 0 | 1 | 2, mask?: Buffer): Buffer {
  const length = payload.length;
  const code = form === 2 || length > 0xffff ? 127 : form === 1 || length > 125 ? 126 : length;
  const header = Buffer.alloc(2 + (code === 126 ? 2 : code === 127 ? 8 : 0));
  header[0] = (fin ? 0x80 : 0) | opcode;
  header[1] = (mask ? 0x80 : 0) | code;
  if (code === 126) header.writeUInt16BE(length, 2);
  if (code === 127) header.writeBigUInt64BE(BigInt(length), 2);
  if (!mask) return Buffer.concat([header, payload]);
  return Buffer.concat([header, mask, Buffer.from(payload.map((b, i) => b ^ (mask[i & 3] as number)))]);
}

describe("WebSocket byte stream (the SPDY tunnel's reader)", () => {
  it("reads the binary payload of fragmented messages, pings and empty frames as one byte stream, however the bytes are split", async () => {
    const message = fc.record({
      fragments: fc.array(bytes(300), { minLength: 1, maxLength: 4 }),
      form: fc.constantFrom(0 as const, 1 as const, 2 as const),
      ping: fc.boolean(),
      mask: fc.option(fc.uint8Array({ minLength: 4, maxLength: 4 }).map((a) => Buffer.from(a)), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(message, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), fc.nat({ max: 40 }), async (messages, cuts, headLength) => {
        const wire = Buffer.concat(
          messages.flatMap(({ fragments, form, ping, mask }) => [
            ...fragments.map((fragment, i) => wsFrame(i === fragments.length - 1, i === 0 ? 2 : 0, fragment, form, mask)),
            ...(ping ? [wsFrame(true, 9, Buffer.from("p"), 0)] : []),
          ]),
        );
        const socket = new PassThrough();
        const pongs: Buffer[] = [];
        socket.write = ((chunk: Buffer) => (pongs.push(chunk), true)) as never;
        const head = wire.subarray(0, Math.min(headLength, wire.length));
        const stream = new WebSocketByteStream(socket as unknown as Socket, head);
        const out: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => out.push(chunk));
        for (const chunk of split(wire.subarray(head.length), cuts)) socket.emit("data", chunk);
        await new Promise((resolve) => setImmediate(resolve));
        expect(Buffer.concat(out)).toEqual(Buffer.concat(messages.flatMap((m) => m.fragments)));
        expect(pongs.length).toBe(messages.filter((m) => m.ping).length);
        stream.destroy();
      }),
      { numRuns: 200 },
    );
  });
});

describe("WebSocket client frames", () => {
  it("mask every payload byte with the frame's key (RFC 6455 5.3), whatever its length and memory alignment", () => {
    fc.assert(
      fc.property(fc.nat({ max: 70_000 }), fc.nat({ max: 7 }), fc.integer({ min: 0, max: 255 }), (length, offset, seed) => {
        // A payload view at any offset of its memory, as subarrays of socket reads are.
        const backing = Buffer.alloc(length + offset);
        for (let i = 0; i < backing.length; i++) backing[i] = (i * 31 + seed) & 0xff;
        const payload = backing.subarray(offset);
        const frame = clientFrame(2, payload);
        const code = (frame[1] as number) & 0x7f;
        const at = 2 + (code === 126 ? 2 : code === 127 ? 8 : 0);
        const declared = code === 126 ? frame.readUInt16BE(2) : code === 127 ? Number(frame.readBigUInt64BE(2)) : code;
        expect(frame[0]).toBe(0x82);
        expect((frame[1] as number) & 0x80).toBe(0x80);
        expect(declared).toBe(length);
        const mask = frame.subarray(at, at + 4);
        const unmasked = Buffer.from(frame.subarray(at + 4).map((b, i) => b ^ (mask[i & 3] as number)));
        expect(unmasked.equals(payload)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
