// The memory a tunnel's socket is read into (ADR 0014), and given back (ADR 0015).
//
// Reads land in slabs handed out front to back; what a read filled goes on as a view, which the
// layers above may keep. A slab is read into again only once every byte lent from it has been given
// back: by the parsers for the header bytes they consumed (copied or read at once), by a connection
// for the bytes its local socket finished writing. Bytes nobody gives back (control frames, a
// connection read as a stream, an error text) keep their slab out of reuse; it is then the garbage
// collector's, as every slab was before. So a missed give-back costs an allocation, never a byte.
//
// Why: a 256 MB download allocated 4,096 fresh 64 KB slabs, and V8 runs a scavenge for every ~16 MB
// of young ArrayBuffer memory ("external memory pressure" in --trace-gc: one per ~130 ms), whose
// cost grows with what the long-lived daemon keeps alive.

/** Gives `bytes` of `memory` back to the reader that lent them. Memory it did not lend is ignored. */
export type GiveBack = (memory: ArrayBufferLike, bytes: number) => void;

/** For readers whose memory is never reused: nothing to give back to. */
export const noGiveBack: GiveBack = () => undefined;

/** A connection's first slab is this small (most sessions carry a probe or a few requests)... */
const FIRST_SLAB_BYTES = 4 * 1024;
/** ...each next one twice the last, up to this; only slabs of this size are reused. */
export const SLAB_BYTES = 64 * 1024;
/** A slab with less room than a TLS record (or a quarter of itself) is retired for the next read. */
const MIN_READ_BYTES = 16 * 1024 + 64;
/**
 * Whole slabs kept for reuse. A fast local reader gives a slab back within a turn or two of the
 * event loop, so one or two make the cycle; a slow one holds up to 256 KiB queued (see
 * port-forward-connection.ts), and then the reader, not allocation, sets the pace. Each spare is
 * memory a session keeps while it lives.
 */
export const SPARE_SLABS = 2;

interface Lent {
  /** Bytes handed out and not given back yet. */
  out: number;
  /** No longer read into: once `out` is 0 it may be read into again. */
  retired: boolean;
}

export class ReadSlabs {
  private slab: Buffer | undefined;
  private used = 0;
  /** Weak: a slab whose bytes are never all given back is simply collected. */
  private readonly lent = new WeakMap<ArrayBufferLike, Lent>();
  private readonly spare: Buffer[] = [];
  /** Slabs allocated (not reused), for tests and diagnostics. */
  allocated = 0;

  /** The memory the next read goes into. */
  free(): Buffer {
    if (!this.slab) this.slab = this.fresh(FIRST_SLAB_BYTES);
    else if (this.slab.length - this.used < Math.min(MIN_READ_BYTES, this.slab.length / 4)) {
      this.retire(this.slab);
      this.slab = this.spare.pop() ?? this.fresh(Math.min(SLAB_BYTES, this.slab.length * 2));
      if (this.slab.length === SLAB_BYTES) this.lent.set(this.slab.buffer, { out: 0, retired: false });
      this.used = 0;
    }
    return this.slab.subarray(this.used);
  }

  /** A read of `length` bytes into `buffer` (what free() returned): the view to hand on. */
  take(length: number, buffer: Uint8Array): Buffer {
    const chunk = Buffer.from(buffer.buffer, buffer.byteOffset, length);
    if (this.slab && buffer.buffer === this.slab.buffer) {
      this.used = buffer.byteOffset - this.slab.byteOffset + length;
      const lent = this.lent.get(buffer.buffer);
      if (lent) lent.out += length;
    }
    return chunk;
  }

  readonly giveBack: GiveBack = (memory, bytes) => {
    const lent = this.lent.get(memory);
    if (!lent) return;
    lent.out -= bytes;
    // More back than lent is a bug above; whatever it is, that slab is never read into again.
    if (lent.out < 0) this.lent.delete(memory);
    else if (lent.out === 0 && lent.retired) this.reuse(memory);
  };

  private fresh(bytes: number): Buffer {
    this.allocated += 1;
    // Never from Node's shared pool: a slab must be the only user of its memory.
    return Buffer.allocUnsafeSlow(bytes);
  }

  private retire(slab: Buffer): void {
    const lent = this.lent.get(slab.buffer);
    if (!lent) return;
    lent.retired = true;
    if (lent.out === 0) this.reuse(slab.buffer);
  }

  private reuse(memory: ArrayBufferLike): void {
    this.lent.delete(memory);
    if (this.spare.length < SPARE_SLABS) this.spare.push(Buffer.from(memory, 0, SLAB_BYTES));
  }
}
