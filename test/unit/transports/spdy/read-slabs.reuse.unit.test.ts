import { describe, expect, it } from "vitest";
import { ReadSlabs, SLAB_BYTES, SPARE_SLABS } from "../../../../src/transports/spdy/read-slabs.js";

/** Reads up to `length` bytes of `fill` into the slabs, as the socket's onread does. */
function read(slabs: ReadSlabs, length: number, fill: number): Buffer {
  const into = slabs.free();
  const n = Math.min(length, into.length);
  into.fill(fill, 0, n);
  return slabs.take(n, into);
}

/** Reads whole 16 KiB records until a 64 KiB slab is in use, and returns them. */
function growToFullSlabs(slabs: ReadSlabs): Buffer[] {
  const chunks: Buffer[] = [];
  while ((chunks.at(-1)?.buffer.byteLength ?? 0) < SLAB_BYTES) chunks.push(read(slabs, 16 * 1024, chunks.length));
  return chunks;
}

describe("ReadSlabs", () => {
  it("reads into a slab again only once it is full and every byte lent from it came back", () => {
    const slabs = new ReadSlabs();
    const first = growToFullSlabs(slabs).at(-1) as Buffer;
    const slab = first.buffer;
    const rest = [read(slabs, 16 * 1024, 1), read(slabs, 16 * 1024, 2), read(slabs, 16 * 1024, 3)];
    for (const chunk of [first, ...rest]) expect(chunk.buffer).toBe(slab);
    // All but one given back: the next slab is new, and the held chunk keeps its bytes.
    for (const chunk of [first, ...rest.slice(0, 2)]) slabs.giveBack(chunk.buffer, chunk.length);
    const held = rest[2] as Buffer;
    const next = read(slabs, 16 * 1024, 9);
    expect(next.buffer).not.toBe(slab);
    expect(held.every((byte) => byte === 3)).toBe(true);
    // Once it is back too, that slab is the next one read into after the current fills.
    slabs.giveBack(held.buffer, held.length);
    for (let i = 0; i < 3; i++) read(slabs, 16 * 1024, 9);
    const allocated = slabs.allocated;
    expect(read(slabs, 16 * 1024, 7).buffer).toBe(slab);
    expect(slabs.allocated).toBe(allocated);
  });

  it("keeps a steady reader and writer to the few slabs between them", () => {
    const slabs = new ReadSlabs();
    growToFullSlabs(slabs);
    const before = slabs.allocated;
    const inFlight: Buffer[] = [];
    for (let i = 0; i < 4096; i++) {
      inFlight.push(read(slabs, 16 * 1024, i & 0xff));
      // The writer is up to 12 records (3 slabs) behind the reader.
      if (inFlight.length > 12) {
        const done = inFlight.shift() as Buffer;
        slabs.giveBack(done.buffer, done.length);
      }
    }
    // The writer holds three slabs, the reader one: four in the cycle, whatever the spare count.
    expect(slabs.allocated - before).toBeLessThanOrEqual(4);
    expect(SPARE_SLABS).toBeLessThan(4);
  });

  it("never reuses a slab with bytes nobody gave back, or one given back more than it lent", () => {
    const slabs = new ReadSlabs();
    const grown = growToFullSlabs(slabs);
    // A slab's worth: one chunk held for good (say a control frame), the others given back.
    const others = [grown.at(-1) as Buffer, read(slabs, 16 * 1024, 4), read(slabs, 16 * 1024, 4)];
    const kept = read(slabs, 16 * 1024, 5);
    for (const chunk of others) slabs.giveBack(chunk.buffer, chunk.length);
    // The next two slabs' chunks each given back with a byte too many. (Counting catches an excess
    // only once the count goes below zero, not one that lands on zero or that a missing give-back
    // cancels: every give-back must be exact, which the path tests check byte for byte.)
    const overdrawn: Buffer[] = [];
    for (let i = 0; i < 8; i++) overdrawn.push(read(slabs, 16 * 1024, 6));
    for (const chunk of overdrawn) slabs.giveBack(chunk.buffer, chunk.length + 1);
    slabs.giveBack(new ArrayBuffer(8), 8); // memory it never lent: ignored
    // Many slabs' worth of reads later, none of those bytes has been read over.
    for (let i = 0; i < 64; i++) read(slabs, 16 * 1024, 8);
    expect(kept.every((byte) => byte === 5)).toBe(true);
    for (const chunk of overdrawn) expect(chunk.every((byte) => byte === 6)).toBe(true);
  });
});
