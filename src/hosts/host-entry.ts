/** One line of loc's hosts block: a loopback IP and the names that resolve to it. */
export interface HostEntry {
  ip: string;
  names: string[];
}

// RFC 1123 labels; hosts-file lookups are case-insensitive, so both cases are accepted.
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/i;
const MAX_NAME_LENGTH = 253;
// Dotted decimal without leading zeros: "127.0.0.010" means octal to some resolvers.
const OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
const LOOPBACK_IPV4 = new RegExp(`^127\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

export function isHostname(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && name.split(".").every((label) => LABEL.test(label));
}

/** loc only ever hands out 127.0.0.0/8 addresses, so anything else is a bug upstream. */
export function isLoopbackIPv4(ip: string): boolean {
  return LOOPBACK_IPV4.test(ip);
}

export function assertHostEntry(entry: HostEntry): void {
  if (!isLoopbackIPv4(entry.ip)) {
    throw new Error(`hosts entry IP "${entry.ip}" is not an IPv4 loopback address (127.0.0.0/8)`);
  }
  if (entry.names.length === 0) throw new Error(`hosts entry ${entry.ip} has no names`);
  for (const name of entry.names) {
    if (!isHostname(name)) throw new Error(`hosts entry name "${name}" is not an RFC 1123 hostname`);
  }
}

function ipNumber(ip: string): number {
  return ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
}

/**
 * Validates and puts entries in one canonical order: by IP numerically, one entry per IP (names of
 * entries sharing an IP are merged), duplicate names dropped. The same set of entries in any order
 * gives the same result, so the daemon never rewrites the file just because a watch reordered things.
 */
export function normalizeEntries(entries: readonly HostEntry[]): HostEntry[] {
  entries.forEach(assertHostEntry);
  const sorted = [...entries].sort(
    (a, b) => ipNumber(a.ip) - ipNumber(b.ip) || compareText(a.names.join(" "), b.names.join(" ")),
  );
  const merged: HostEntry[] = [];
  for (const entry of sorted) {
    const last = merged[merged.length - 1];
    if (last && last.ip === entry.ip) last.names.push(...entry.names);
    else merged.push({ ip: entry.ip, names: [...entry.names] });
  }
  return merged.map((entry) => ({ ip: entry.ip, names: [...new Set(entry.names)] }));
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
