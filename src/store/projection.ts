import type { StoredEvent } from "./events.js";

/** What the log says about one stream right now: the read model behind `loc list` and recovery. */
export interface StreamSummary {
  stream: string;
  service: string | undefined;
  /** The phase named by the stream's latest known event, e.g. `forwarding`, `active`, `stopped`. */
  phase: string;
  version: number;
  lastSeq: number;
  since: number;
  /** Rows this build could not decode; they are counted, never dropped silently. */
  unreadable: number;
  /** Intents recorded without an outcome yet: what recovery must check and undo. */
  pendingIntents: string[];
}

export type Summaries = ReadonlyMap<string, StreamSummary>;

export const EMPTY_SUMMARIES: Summaries = new Map();

/** Phase after an event: the part of the type after the dot, with a few names made clearer. */
function phaseOf(event: StoredEvent & { known: true }, previous: string): string {
  switch (event.type) {
    case "expose.intent":
    case "expose.outcome":
      return "applying";
    case "expose.step":
      return event.data.step;
    case "expose.warning":
    case "watch.failed":
    case "watch.relisted":
    case "hosts.written":
    case "address.assigned":
    case "address.released":
      return previous;
    default:
      return event.type.slice(event.type.indexOf(".") + 1);
  }
}

/** Pure fold step. Events of a stream arrive in version order; anything else is ignored. */
export function evolve(state: Summaries, event: StoredEvent): Summaries {
  const before = state.get(event.stream);
  if (before && event.version <= before.version) return state;
  const base: StreamSummary = before ?? {
    stream: event.stream,
    service: undefined,
    phase: "new",
    version: 0,
    lastSeq: 0,
    since: event.time,
    unreadable: 0,
    pendingIntents: [],
  };
  const next: StreamSummary = { ...base, version: event.version, lastSeq: event.seq };
  if (!event.known) {
    next.unreadable += 1;
  } else {
    const data = event.data as { service?: string };
    next.service = data.service ?? base.service;
    const phase = phaseOf(event, base.phase);
    if (phase !== base.phase) next.since = event.time;
    next.phase = phase;
    if (event.type === "expose.intent") next.pendingIntents = [...base.pendingIntents, intentKey(event.data)];
    if (event.type === "expose.outcome") {
      const key = intentKey(event.data);
      next.pendingIntents = base.pendingIntents.filter((pending) => pending !== key);
    }
  }
  const out = new Map(state);
  out.set(event.stream, next);
  return out;
}

function intentKey(data: { action: string; target: string }): string {
  return `${data.action} ${data.target}`;
}

export function fold(events: Iterable<StoredEvent>, initial: Summaries = EMPTY_SUMMARIES): Summaries {
  let state = initial;
  for (const event of events) state = evolve(state, event);
  return state;
}
