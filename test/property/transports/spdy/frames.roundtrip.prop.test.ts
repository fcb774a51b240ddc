import fc from "fast-check";
import { constants, createDeflate } from "node:zlib";
import { describe, expect, it } from "vitest";
import { SPDY3_DICTIONARY } from "../../../../src/transports/spdy/dictionary.js";
import { encodeFrame, FrameParser, type Frame } from "../../../../src/transports/spdy/frames.js";
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
