import { decodeRow, serviceOf, type EventRow, type NewEvent, type StoredEvent } from "../../src/store/events.js";
import {
  ANY_VERSION,
  ConcurrencyError,
  validateForAppend,
  type AppendResult,
  type EventFilter,
  type EventStore,
} from "../../src/store/event-store.js";

interface MemoryRow extends EventRow {
  service: string | undefined;
}

/** In-memory twin of the SQLite store, for fast unit and property tests; same contract. */
export class MemoryEventStore implements EventStore {
  private readonly rows: MemoryRow[] = [];
  private readonly versions = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  append(stream: string, events: readonly NewEvent[], expectedVersion: number): AppendResult {
    validateForAppend(stream, events);
    const current = this.streamVersion(stream);
    if (expectedVersion !== ANY_VERSION && expectedVersion !== current) {
      throw new ConcurrencyError(stream, expectedVersion, current);
    }
    const time = this.now();
    let version = current;
    const added: MemoryRow[] = [];
    for (const event of events) {
      version += 1;
      added.push({
        seq: this.rows.length + added.length + 1,
        stream,
        version,
        type: event.type,
        data: JSON.stringify(event.data),
        time,
        service: serviceOf(event),
      });
    }
    this.rows.push(...added);
    this.versions.set(stream, version);
    return { version, lastSeq: this.rows.length };
  }

  streamVersion(stream: string): number {
    return this.versions.get(stream) ?? 0;
  }

  read(filter: EventFilter = {}): StoredEvent[] {
    const types = filter.types?.length ? new Set(filter.types) : undefined;
    const matching = this.rows.filter(
      (row) =>
        (filter.stream === undefined || row.stream === filter.stream) &&
        (filter.service === undefined || row.service === filter.service) &&
        (types === undefined || types.has(row.type)) &&
        (filter.since === undefined || row.time >= filter.since) &&
        (filter.until === undefined || row.time < filter.until) &&
        (filter.afterSeq === undefined || row.seq > filter.afterSeq),
    );
    const limited = filter.limit === undefined ? matching : matching.slice(Math.max(0, matching.length - filter.limit));
    return limited.map(decodeRow);
  }

  /** Test hook: store a raw row as an older or buggier build might have written it. */
  appendRaw(row: Omit<EventRow, "seq">): void {
    this.rows.push({ ...row, seq: this.rows.length + 1, service: undefined });
    this.versions.set(row.stream, Math.max(row.version, this.streamVersion(row.stream)));
  }

  close(): void {
    // Nothing to release.
  }
}
