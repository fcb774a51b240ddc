/**
 * Every event loc records, as one discriminated union. The event log is the source of truth for
 * `loc history` and `loc recover`, so the shapes here are a persisted contract: add fields, never
 * change the meaning of existing ones.
 */

/** Field kinds checked when a row is read back; enough to catch malformed rows, not a schema language. */
type FieldKind = "string" | "number" | "boolean" | "object" | "array" | "string?" | "number?" | "object?" | "array?";

/** Types of the event `data` payloads, keyed by event type. */
export interface EventPayloads {
  "daemon.started": { pid: number; version: string; scope: string; hostsFile?: string };
  "daemon.stopped": { pid: number; reason: string };
  "watch.failed": { resource: string; message: string; retryInMs?: number };
  "watch.relisted": { resource: string; reason: string };
  "hosts.written": { path: string; names: number };
  "address.assigned": { service: string; ip: string };
  "tunnel.waitingForEndpoints": { service: string; reason?: string };
  "tunnel.connecting": { service: string; pod: string; ip: string };
  "tunnel.forwarding": { service: string; pod: string; ip: string; ports: string[] };
  "tunnel.backingOff": { service: string; delayMs: number; error: string };
  "tunnel.skipped": { service: string; reason: string };
  "tunnel.stopped": { service: string; reason: string };
  /** `cluster` is the API server's URL: recovery refuses to undo on another cluster. */
  /** `strategy` absent in sessions recorded before strategies existed: those were all `scale`. */
  "expose.requested": { service: string; transport: string; strategy?: string; owner: string; ports: string[]; cluster?: string };
  "expose.intent": { service: string; action: string; target: string; original?: Record<string, unknown> };
  "expose.outcome": { service: string; action: string; target: string; ok: boolean; error?: string; result?: Record<string, unknown> };
  "expose.step": { service: string; step: string; detail?: string };
  "expose.active": { service: string; pod: string; ports: string[] };
  "expose.warning": { service: string; message: string };
  /** `leftovers` names what the session could not undo: `loc recover` picks those up. */
  "expose.failed": { service: string; error: string; leftovers?: string[] };
  "expose.stopped": { service: string; reason: string };
  /** A multiplexing transport's session to a pod (`pod` is ns/name), in stream `session:<ns>/<pod>`. */
  "session.opened": { transport: string; pod: string; path: string; ms: number };
  /** Opened after a session to the same pod was lost: `lost` is why the old one ended. */
  "session.replaced": { transport: string; pod: string; path: string; ms: number; lost: string };
  "session.lost": { transport: string; pod: string; reason: string };
  /** Ended on purpose: idle, or the daemon shutting down. */
  "session.closed": { transport: string; pod: string; reason: string };
  "recovery.started": { source: string; owner: string; sessions: number };
  /** One action of a recovery; `status` is done, left (someone else's change, reported) or failed. */
  "recovery.action": { session?: string; service?: string; action: string; target: string; status: string; detail?: string };
  "recovery.completed": { sessions: number; done: number; left: number; failed: number; durationMs: number };
}

export type EventType = keyof EventPayloads;

const SHAPES: { [T in EventType]: Record<keyof EventPayloads[T], FieldKind> } = {
  "daemon.started": { pid: "number", version: "string", scope: "string", hostsFile: "string?" },
  "daemon.stopped": { pid: "number", reason: "string" },
  "watch.failed": { resource: "string", message: "string", retryInMs: "number?" },
  "watch.relisted": { resource: "string", reason: "string" },
  "hosts.written": { path: "string", names: "number" },
  "address.assigned": { service: "string", ip: "string" },
  "tunnel.waitingForEndpoints": { service: "string", reason: "string?" },
  "tunnel.connecting": { service: "string", pod: "string", ip: "string" },
  "tunnel.forwarding": { service: "string", pod: "string", ip: "string", ports: "array" },
  "tunnel.backingOff": { service: "string", delayMs: "number", error: "string" },
  "tunnel.skipped": { service: "string", reason: "string" },
  "tunnel.stopped": { service: "string", reason: "string" },
  "expose.requested": { service: "string", transport: "string", strategy: "string?", owner: "string", ports: "array", cluster: "string?" },
  "expose.intent": { service: "string", action: "string", target: "string", original: "object?" },
  "expose.outcome": { service: "string", action: "string", target: "string", ok: "boolean", error: "string?", result: "object?" },
  "expose.step": { service: "string", step: "string", detail: "string?" },
  "expose.active": { service: "string", pod: "string", ports: "array" },
  "expose.warning": { service: "string", message: "string" },
  "expose.failed": { service: "string", error: "string", leftovers: "array?" },
  "expose.stopped": { service: "string", reason: "string" },
  "session.opened": { transport: "string", pod: "string", path: "string", ms: "number" },
  "session.replaced": { transport: "string", pod: "string", path: "string", ms: "number", lost: "string" },
  "session.lost": { transport: "string", pod: "string", reason: "string" },
  "session.closed": { transport: "string", pod: "string", reason: "string" },
  "recovery.started": { source: "string", owner: "string", sessions: "number" },
  "recovery.action": { session: "string?", service: "string?", action: "string", target: "string", status: "string", detail: "string?" },
  "recovery.completed": { sessions: "number", done: "number", left: "number", failed: "number", durationMs: "number" },
};

export const EVENT_TYPES = Object.keys(SHAPES) as EventType[];

/** An event before it is stored. */
export type NewEvent = { [T in EventType]: { type: T; data: EventPayloads[T] } }[EventType];

/** A stored event whose row decoded into a known, well-formed shape. */
export type KnownEvent = NewEvent & {
  seq: number;
  stream: string;
  version: number;
  /** Milliseconds since the epoch. */
  time: number;
  known: true;
};

/** A stored row that this build cannot interpret: shown raw and flagged, never thrown on. */
export interface UnknownEvent {
  seq: number;
  stream: string;
  version: number;
  time: number;
  known: false;
  type: string;
  raw: string;
  problem: string;
}

export type StoredEvent = KnownEvent | UnknownEvent;

export interface EventRow {
  seq: number;
  stream: string;
  version: number;
  type: string;
  data: string;
  time: number;
}

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(SHAPES, type);
}

function matches(kind: FieldKind, value: unknown): boolean {
  if (kind.endsWith("?") && value === undefined) return true;
  const base = kind.replace("?", "");
  if (base === "array") return Array.isArray(value);
  if (base === "object") return typeof value === "object" && value !== null && !Array.isArray(value);
  return typeof value === base;
}

/** Explains why `data` is not a valid payload of `type`, or returns undefined when it is. */
export function payloadProblem(type: EventType, data: unknown): string | undefined {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return "data is not an object";
  const shape: Record<string, FieldKind> = SHAPES[type];
  for (const [field, kind] of Object.entries(shape)) {
    const value = (data as Record<string, unknown>)[field];
    if (!matches(kind, value)) return `field "${field}" should be ${kind.replace("?", "")}`;
  }
  return undefined;
}

/** Decodes a row; never throws, so one bad row cannot break `loc history`. */
export function decodeRow(row: EventRow): StoredEvent {
  const base = { seq: row.seq, stream: row.stream, version: row.version, time: row.time };
  const unknown = (problem: string): UnknownEvent => ({ ...base, known: false, type: row.type, raw: row.data, problem });
  if (!isEventType(row.type)) return unknown(`unknown event type "${row.type}"`);
  let data: unknown;
  try {
    data = JSON.parse(row.data);
  } catch {
    return unknown("data is not valid JSON");
  }
  const problem = payloadProblem(row.type, data);
  if (problem) return unknown(problem);
  return { ...base, known: true, type: row.type, data } as KnownEvent;
}

/** The service (`ns/svc`) an event is about, used for the indexed `--service` filter. */
export function serviceOf(event: NewEvent): string | undefined {
  const data = event.data as { service?: unknown };
  return typeof data.service === "string" ? data.service : undefined;
}
