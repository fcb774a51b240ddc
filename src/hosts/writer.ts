import { Subject } from "rxjs";
import { coalesceWindows, timerScheduler, type Scheduler } from "./coalesce.js";
import { type HostEntry, normalizeEntries } from "./host-entry.js";
import { type HostsFs, type WriteOutcome, writeHostsEntries } from "./hosts-io.js";
import type { LockOptions } from "./lock.js";

export type { Scheduler } from "./coalesce.js";

export interface HostsFileWriterOptions {
  path: string;
  /** How long updates gather before one write; the first unwritten update starts the window. */
  coalesceMs?: number;
  schedule?: Scheduler;
  /** Failures of writes the timer started (flush/remove reject instead). The entries are kept for a retry. */
  onError?: (error: unknown) => void;
  /** Told about every write that changed the file. */
  onWrite?: (outcome: Exclude<WriteOutcome, "unchanged">, entries: HostEntry[]) => void;
  fs?: HostsFs;
  lock?: LockOptions;
  /** Replaces loc's block; defaults to writing the file here (a privileged helper process may do it instead). */
  write?: (path: string, entries: HostEntry[]) => Promise<WriteOutcome>;
}

/**
 * Keeps loc's hosts block equal to the latest `update()`. Each update is the whole desired set;
 * a burst of them within `coalesceMs` is one write (a window, not a debounce, so a steady stream of
 * updates cannot postpone writing forever). Writes run one at a time.
 */
export class HostsFileWriter {
  private pending: HostEntry[] | undefined;
  /** A pulse per update; the window each burst opens ends in one write (coalesce.ts). */
  private readonly updates = new Subject<void>();
  /** flush() closes the open window: it writes at once itself. */
  private readonly windowClosed = new Subject<void>();
  private queue: Promise<void> = Promise.resolve();
  private writeCount = 0;
  /** The entries the file is known to hold (written, or found already there), as text. */
  private written: string | undefined;

  constructor(private readonly options: HostsFileWriterOptions) {
    this.updates
      .pipe(coalesceWindows(options.schedule ?? timerScheduler, options.coalesceMs ?? 50, this.windowClosed))
      .subscribe(() => this.drain().catch((error: unknown) => this.options.onError?.(error)));
  }

  /** Files written so far (writes skipped because nothing changed don't count). */
  get writes(): number {
    return this.writeCount;
  }

  /** Throws at once on an invalid IP or name, so a bad entry never reaches the timer. */
  update(entries: readonly HostEntry[]): void {
    const normalized = normalizeEntries(entries);
    // Most daemon passes change endpoints, not names: nothing to write, so not even a re-read.
    if (this.pending === undefined && entriesKey(normalized) === this.written) return;
    this.pending = normalized;
    this.updates.next();
  }

  /** Writes any pending update now and waits for it and any write already running. */
  async flush(): Promise<void> {
    this.windowClosed.next();
    await this.drain();
  }

  /** Removes loc's block, e.g. on clean shutdown. */
  async remove(): Promise<void> {
    this.pending = [];
    await this.flush();
  }

  private drain(): Promise<void> {
    const run = this.queue.then(() => this.writePending());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async writePending(): Promise<void> {
    const entries = this.pending;
    if (entries === undefined) return;
    this.pending = undefined;
    try {
      const { path, fs, lock, write } = this.options;
      const outcome = await (write ? write(path, entries) : writeHostsEntries(path, entries, { fs, lock }));
      this.written = entriesKey(entries);
      if (outcome === "unchanged") return;
      this.writeCount++;
      this.options.onWrite?.(outcome, entries);
    } catch (error) {
      this.written = undefined;
      this.pending ??= entries; // keep the desired state unless a newer update replaced it
      throw error;
    }
  }
}

function entriesKey(entries: readonly HostEntry[]): string {
  return JSON.stringify(entries);
}
