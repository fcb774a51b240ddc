import type { EventPayloads, EventType, StoredEvent } from "../store/events.js";

type Summarizers = { [T in EventType]: (data: EventPayloads[T]) => string };

const SUMMARIES: Summarizers = {
  "daemon.started": (d) => `pid ${d.pid}, loc ${d.version}, watching ${d.scope}${d.hostsFile ? `, hosts file ${d.hostsFile}` : ""}`,
  "daemon.stopped": (d) => `pid ${d.pid}: ${d.reason}`,
  "watch.failed": (d) =>
    `${d.resource}: ${d.message}${d.retryInMs === undefined ? "" : `, retrying in ${d.retryInMs} ms`}`,
  "watch.relisted": (d) => `${d.resource}: ${d.reason}`,
  "hosts.written": (d) => `${d.names} names in ${d.path}`,
  "address.assigned": (d) => `${d.service} gets ${d.ip}`,
  "tunnel.waitingForEndpoints": (d) => `${d.service}${d.reason ? `: ${d.reason}` : ""}`,
  "tunnel.connecting": (d) => `${d.service} → pod ${d.pod} on ${d.ip}`,
  "tunnel.forwarding": (d) => `${d.service} → pod ${d.pod} on ${d.ip} ${d.ports.join(", ")}`,
  "tunnel.backingOff": (d) => `${d.service}: ${d.error}; retry in ${d.delayMs} ms`,
  "tunnel.skipped": (d) => `${d.service}: ${d.reason}`,
  "tunnel.stopped": (d) => `${d.service}: ${d.reason}`,
  "expose.requested": (d) => `${d.service} via ${d.transport}, strategy ${d.strategy ?? "scale"}, by ${d.owner}, ports ${d.ports.join(", ")}`,
  "expose.intent": (d) =>
    `${d.service}: will ${d.action} ${d.target}${d.original ? ` (was ${JSON.stringify(d.original)})` : ""}`,
  "expose.outcome": (d) => `${d.service}: ${d.action} ${d.target} ${d.ok ? "done" : `FAILED: ${d.error ?? "unknown error"}`}`,
  "expose.step": (d) => `${d.service}: ${d.step}${d.detail ? ` (${d.detail})` : ""}`,
  "expose.active": (d) => `${d.service} → pod ${d.pod}, ${d.ports.join(", ")}`,
  "expose.warning": (d) => `${d.service}: ${d.message}`,
  "expose.failed": (d) => `${d.service}: ${d.error}`,
  "expose.stopped": (d) => `${d.service}: ${d.reason}`,
  "session.opened": (d) => `${d.transport} session to pod ${d.pod} (${d.path}, ${Math.round(d.ms)} ms)`,
  "session.replaced": (d) => `${d.transport} session to pod ${d.pod} reopened (${d.path}, ${Math.round(d.ms)} ms) after: ${d.lost}`,
  "session.lost": (d) => `${d.transport} session to pod ${d.pod}: ${d.reason}`,
  "session.closed": (d) => `${d.transport} session to pod ${d.pod}: ${d.reason}`,
  "recovery.started": (d) => `${d.sessions} unfinished sessions of ${d.owner} (from the ${d.source})`,
  "recovery.action": (d) => `${d.session ? `${d.session} ${d.service ?? ""}: ` : ""}${d.action} ${d.target} ${d.status}${d.detail ? ` (${d.detail})` : ""}`,
  "recovery.completed": (d) => `${d.sessions} sessions: ${d.done} done, ${d.left} left, ${d.failed} failed in ${d.durationMs} ms`,
};

export function summarize(event: StoredEvent): string {
  if (!event.known) return `UNREADABLE (${event.problem}): ${event.raw}`;
  const summarizer = SUMMARIES[event.type] as (data: unknown) => string;
  return summarizer(event.data);
}

/** Local time with milliseconds, sortable: `2026-11-21 19:24:55.123`. */
export function formatTime(time: number): string {
  const d = new Date(time);
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  );
}

/** One NDJSON line; unreadable rows keep their raw text and say why. */
export function toJsonLine(event: StoredEvent): string {
  const base = { seq: event.seq, time: new Date(event.time).toISOString(), stream: event.stream, version: event.version };
  if (!event.known) return JSON.stringify({ ...base, type: event.type, known: false, problem: event.problem, raw: event.raw });
  return JSON.stringify({ ...base, type: event.type, data: event.data });
}

/** Table rows with columns padded to the widest cell of this batch. */
export function formatTable(events: readonly StoredEvent[], withHeader: boolean): string[] {
  const rows = events.map((e) => [formatTime(e.time), e.stream, e.known ? e.type : `?${e.type}`, summarize(e)]);
  if (withHeader) rows.unshift(["TIME", "STREAM", "TYPE", "SUMMARY"]);
  // Minimum widths keep `--follow` batches aligned with the first one.
  const widths = [23, 20, 26].map((min, col) => Math.max(min, ...rows.map((row) => row[col]?.length ?? 0)));
  return rows.map((row) => row.map((cell, col) => (col < 3 ? cell.padEnd(widths[col] ?? 0) : cell)).join("  "));
}
