import type { DaemonStatus } from "../ipc/protocol.js";

const HEADER = ["NAMESPACE", "NAME", "STATE", "REASON", "ENDPOINT", "IP", "PORTS", "TRANSPORT", "CONN", "IN", "OUT", "SINCE"];
const BYTE_UNITS = ["B", "kB", "MB", "GB", "TB", "PB"];

/** Decimal units, one digit after the point: `0 B`, `512 B`, `1.2 MB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1000) return `${Math.max(0, Math.round(bytes) || 0)} B`;
  let value = bytes;
  let unit = 0;
  // Compare the rounded value so 999.96 kB shows as 1.0 MB, not 1000.0 kB.
  while (Number(value.toFixed(1)) >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** A short age: `5s`, `3m`, `2h`, `4d`. A time in the future (clock skew) shows as `0s`. */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 48 * 3600) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/** One line about the daemon itself, so an empty or surprising table is explained by its scope. */
export function formatDaemonLine(status: DaemonStatus, now: number): string {
  const cluster = status.cluster ? `, cluster ${status.cluster.server} ${clusterWord(status.cluster)}` : "";
  return `daemon pid ${status.pid}, up ${formatAge(now - status.startedAt)}, watching ${status.scope}, hosts file ${status.hostsFile}${cluster}`;
}

function clusterWord(cluster: NonNullable<DaemonStatus["cluster"]>): string {
  if (cluster.state !== "failing") return cluster.state;
  return cluster.problem === "other" ? "failing" : cluster.problem;
}

/** Tunnels and skipped services as one table, sorted by namespace then name; empty cells show `-`. */
export function formatListTable(status: DaemonStatus, now: number): string[] {
  const tunnels = status.tunnels.map((t) => ({
    namespace: t.namespace,
    name: t.name,
    cells: [t.state, t.reason, t.pod, t.ip, t.ports.join(","), transportCell(status.transport, t.session), String(t.connections), formatBytes(t.bytesIn), formatBytes(t.bytesOut), formatAge(now - t.since)],
  }));
  const skipped = status.skipped.map((s) => ({
    namespace: s.namespace,
    name: s.name,
    cells: ["skipped", s.reason, "", "", "", "", "", "", "", ""],
  }));
  const rows = [...tunnels, ...skipped]
    .sort((a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name))
    .map((row) => [row.namespace, row.name, ...row.cells].map((cell) => cell || "-"));
  return alignColumns([HEADER, ...rows]);
}

/**
 * `websocket`, or for a multiplexing transport its pod session: `spdy:up`, `spdy:opening`, or
 * `spdy:idle` (none open now; the next connection opens one).
 */
function transportCell(transport: string | undefined, session: DaemonStatus["tunnels"][number]["session"]): string {
  if (!transport) return "";
  if (!session) return transport;
  return `${transport}:${session === "none" ? "idle" : session}`;
}

/** Watch trouble as warning lines; the daemon keeps retrying, so the table may be stale meanwhile. */
export function formatWatchProblems(status: DaemonStatus, now: number): string[] {
  const cluster = status.cluster;
  if (cluster?.state === "failing") {
    // One line for the cluster says it all; a line per failing watch would repeat it.
    const retry = Math.max(0, cluster.nextRetryAt - now);
    return [
      `loc: ${cluster.problem === "unreachable" ? `cannot reach ${cluster.server}` : `${cluster.server} ${clusterWord(cluster)}`}: ${cluster.message} (since ${formatAge(now - cluster.since)} ago, next retry in ${formatAge(retry)}; the list may be out of date)`,
    ];
  }
  return status.watchProblems.map(
    (p) => `loc: watch of ${p.resource} failing: ${p.message} (for ${formatAge(now - p.since)}; the daemon keeps retrying, the list may be out of date)`,
  );
}

const EXPOSE_HEADER = ["EXPOSED", "SESSION", "STRATEGY", "STATE", "REASON", "POD", "PORTS", "SCALED", "CONN", "IN", "OUT", "SINCE"];

/** Services sent to this machine, as a second table; nothing when there are none. */
export function formatExposeTable(status: DaemonStatus, now: number): string[] {
  if (status.exposes.length === 0) return [];
  const rows = [...status.exposes]
    .sort((a, b) => compare(a.service, b.service))
    .map((e) =>
      [e.service, e.id, e.strategy, e.state, e.reason, e.pod, e.ports.join(","), e.workloads.join(","), String(e.openConnections), formatBytes(e.bytesIn), formatBytes(e.bytesOut), formatAge(now - e.since)].map(
        (cell) => cell || "-",
      ),
    );
  return alignColumns([EXPOSE_HEADER, ...rows]);
}

function alignColumns(rows: string[][]): string[] {
  const columns = rows[0]?.length ?? 0;
  const widths = Array.from({ length: columns }, (_, col) => Math.max(...rows.map((row) => row[col]?.length ?? 0)));
  return rows.map((row) => row.map((cell, col) => (col < columns - 1 ? cell.padEnd(widths[col] ?? 0) : cell)).join("  "));
}

/** Byte order, not locale order: the same input sorts the same on every machine. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
