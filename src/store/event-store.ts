import { payloadProblem, type NewEvent, type StoredEvent } from "./events.js";

/** Appending at a version other than the stream's current one: someone else appended first. */
export class ConcurrencyError extends Error {
  constructor(
    readonly stream: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`stream ${stream} is at version ${actual}, not the expected ${expected}`);
    this.name = "ConcurrencyError";
  }
}

/** Which events to read. All fields combine with AND; `types` is an OR within itself. */
export interface EventFilter {
  stream?: string;
  /** `ns/svc`: every event about that service, whatever stream it is in. */
  service?: string;
  types?: readonly string[];
  /** Inclusive lower bound, milliseconds since the epoch. */
  since?: number;
  /** Exclusive upper bound, milliseconds since the epoch. */
  until?: number;
  /** Only events with a global sequence greater than this (for following). */
  afterSeq?: number;
  /** The newest N matching events (still returned oldest first). */
  limit?: number;
}

export interface AppendResult {
  /** The stream's version after the append. */
  version: number;
  /** Global sequence of the last appended event. */
  lastSeq: number;
}

/**
 * The append-only event log. Versions start at 1 per stream; `expectedVersion` is the version the
 * caller last saw (0 for a new stream). All events of one append land together or not at all.
 */
export interface EventStore {
  append(stream: string, events: readonly NewEvent[], expectedVersion: number): AppendResult;
  /** Current version of a stream (0 when it has no events). */
  streamVersion(stream: string): number;
  read(filter?: EventFilter): StoredEvent[];
  close(): void;
}

/** `expectedVersion` meaning "whatever the stream is at": for single-writer streams like `daemon`. */
export const ANY_VERSION = -1;

const SECRET_FIELD = /pass(word)?|secret|token|private.?key|credential/i;

/** Refuses payloads that look like they carry secrets: history is readable and long-lived. */
export function assertNoSecrets(event: NewEvent): void {
  const visit = (value: unknown, path: string): void => {
    if (typeof value !== "object" || value === null) return;
    for (const [key, inner] of Object.entries(value)) {
      if (SECRET_FIELD.test(key)) throw new Error(`refusing to store ${event.type}: field ${path}${key} looks secret`);
      visit(inner, `${path}${key}.`);
    }
  };
  visit(event.data, "");
}

/** Checks events before they are written, so malformed or secret-bearing payloads never land. */
export function validateForAppend(stream: string, events: readonly NewEvent[]): void {
  if (stream.length === 0) throw new Error("stream id must not be empty");
  for (const event of events) {
    const problem = payloadProblem(event.type, event.data);
    if (problem) throw new Error(`invalid ${event.type} event: ${problem}`);
    assertNoSecrets(event);
  }
}
