// The pipe between `loc daemon` (unprivileged) and its root hosts helper: one JSON object per line.
// The helper trusts nothing it reads here: everything is checked by the pure functions below, and
// the hosts file's path is not part of any request (it is fixed by the helper's argv).
import type { LoopbackRange } from "../daemon/ip-allocator.js";
import type { HostEntry } from "../hosts/host-entry.js";
import { isHostname, isLoopbackIPv4 } from "../hosts/host-entry.js";
import type { WriteOutcome } from "../hosts/hosts-io.js";

/** Replace loc's whole block with `entries` (`[]` removes it). */
export interface ReplaceRequest {
  op: "replace";
  id: number;
  entries: HostEntry[];
}

/** macOS only: `ifconfig lo0 alias IP up` / `-alias IP`. */
export interface AliasRequest {
  op: "alias";
  id: number;
  action: "add" | "remove";
  ip: string;
}

/**
 * Bind a listening TCP socket on a loopback address of the range and hand it to the daemon (over the
 * IPC channel, as a server handle): the daemon runs as the user, who may not bind ports below 1024,
 * and Services listen on 80 and 443. The helper binds only; it never accepts a connection.
 */
export interface ListenRequest {
  op: "listen";
  id: number;
  ip: string;
  port: number;
}

export type HelperRequest = ReplaceRequest | AliasRequest | ListenRequest;

export interface WireError {
  message: string;
  hint?: string;
  code?: string;
}

/** What a request did: a hosts write's outcome, an alias done, a port listening. */
export type HelperOutcome = WriteOutcome | "done" | "listening";

export type HelperAnswer =
  | { id: number; ok: true; outcome: HelperOutcome }
  // id is null when the line could not be read far enough to find one.
  | { id: number | null; ok: false; error: WireError };

/** The helper's first line: it is running as root, has checked the hosts file, and reads requests. */
export interface HelperReady {
  ready: true;
  pid: number;
}

// A line holds one whole block. A name is at most 253 bytes, so an entry of 16 names fits in ~4 KiB;
// 16 MiB is room for the ~65,000 entries of a full /16 with the 3-4 names a Service gets.
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
// The default range (a /16) holds 65,534 addresses; more entries than this is not a real cluster.
export const MAX_ENTRIES = 70_000;
// A Service gets at most 4 names; a pod of a headless Service 3.
export const MAX_NAMES_PER_ENTRY = 16;
const MAX_ID = Number.MAX_SAFE_INTEGER;

/** A refusal: the request is answered with this and nothing is touched. */
export class ProtocolError extends Error {
  constructor(
    message: string,
    readonly id: number | null = null,
  ) {
    super(message);
    this.name = "ProtocolError";
  }
}

export function ipNumber(ip: string): number {
  return ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** Loopback IPv4 in canonical dotted form, and inside the daemon's configured range. */
export function isAllowedIp(ip: unknown, range: LoopbackRange): ip is string {
  if (typeof ip !== "string" || !isLoopbackIPv4(ip)) return false;
  const n = ipNumber(ip);
  return n >= range.first && n <= range.last;
}

/** Parses and checks one request line; throws ProtocolError on anything but an exact, valid request. */
export function parseRequest(line: string, range: LoopbackRange): HelperRequest {
  if (Buffer.byteLength(line) > MAX_LINE_BYTES) throw new ProtocolError(`request larger than ${MAX_LINE_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new ProtocolError("request is not JSON");
  }
  if (!isPlainObject(value)) throw new ProtocolError("request is not a JSON object");
  const id = value.id;
  if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > MAX_ID) throw new ProtocolError("request has no valid id");
  if (value.op === "replace") {
    exactKeys(value, ["op", "id", "entries"], id);
    return { op: "replace", id, entries: checkEntries(value.entries, range, id) };
  }
  if (value.op === "alias") {
    exactKeys(value, ["op", "id", "action", "ip"], id);
    if (value.action !== "add" && value.action !== "remove") throw new ProtocolError('alias action must be "add" or "remove"', id);
    if (!isAllowedIp(value.ip, range)) throw new ProtocolError("alias IP is not a loopback address inside the daemon's range", id);
    return { op: "alias", id, action: value.action, ip: value.ip };
  }
  if (value.op === "listen") {
    exactKeys(value, ["op", "id", "ip", "port"], id);
    if (!isAllowedIp(value.ip, range)) throw new ProtocolError("listen IP is not a loopback address inside the daemon's range", id);
    const port = value.port;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65_535) throw new ProtocolError("listen port must be 1 to 65535", id);
    return { op: "listen", id, ip: value.ip, port };
  }
  throw new ProtocolError("unknown op", id);
}

function checkEntries(entries: unknown, range: LoopbackRange, id: number): HostEntry[] {
  if (!Array.isArray(entries)) throw new ProtocolError("entries is not an array", id);
  if (entries.length > MAX_ENTRIES) throw new ProtocolError(`more than ${MAX_ENTRIES} entries`, id);
  // Messages give the entry's position, never its content: the helper logs refusals.
  return entries.map((entry: unknown, index): HostEntry => {
    if (!isPlainObject(entry)) throw new ProtocolError(`entry ${index} is not an object`, id);
    exactKeys(entry, ["ip", "names"], id);
    if (!isAllowedIp(entry.ip, range)) throw new ProtocolError(`entry ${index}: IP is not a loopback address inside the daemon's range`, id);
    const names = entry.names;
    if (!Array.isArray(names) || names.length === 0 || names.length > MAX_NAMES_PER_ENTRY) {
      throw new ProtocolError(`entry ${index}: names must be 1 to ${MAX_NAMES_PER_ENTRY} hostnames`, id);
    }
    if (!names.every((name: unknown) => typeof name === "string" && isHostname(name))) {
      throw new ProtocolError(`entry ${index}: a name is not an RFC 1123 hostname`, id);
    }
    return { ip: entry.ip, names: names as string[] };
  });
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function exactKeys(value: Record<string, unknown>, keys: readonly string[], id: number): void {
  const extra = Object.keys(value).filter((key) => !keys.includes(key));
  if (extra.length > 0) throw new ProtocolError(`unexpected field ${JSON.stringify(extra[0]?.slice(0, 40))}`, id);
  const missing = keys.filter((key) => !(key in value));
  if (missing.length > 0) throw new ProtocolError(`missing field "${missing[0]}"`, id);
}

/** Parses the helper's `--range FIRST-LAST` argument (integers, as LoopbackRange holds them). */
export function parseRangeArg(text: string): LoopbackRange {
  const match = /^(\d{1,10})-(\d{1,10})$/.exec(text);
  const first = Number(match?.[1]);
  const last = Number(match?.[2]);
  const loopback = { first: ipNumber("127.0.0.0"), last: ipNumber("127.255.255.255") };
  if (!match || first > last || first < loopback.first || last > loopback.last) {
    throw new ProtocolError(`--range "${text}" is not a range inside 127.0.0.0/8`);
  }
  return { first, last };
}

export function formatRangeArg(range: LoopbackRange): string {
  return `${range.first}-${range.last}`;
}

/**
 * Splits a byte stream into lines without ever holding more than `maxBytes` of one line: an overlong
 * line is dropped as it streams in (and reported once), so a hostile writer cannot grow our memory.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private overlong = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly onOverlong: () => void,
    private readonly maxBytes = MAX_LINE_BYTES,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (let newline = chunk.indexOf(10, start); newline !== -1; newline = chunk.indexOf(10, start)) {
      this.take(chunk.subarray(start, newline));
      if (this.overlong) this.onOverlong();
      else this.onLine(Buffer.concat(this.parts).toString("utf8"));
      this.parts = [];
      this.size = 0;
      this.overlong = false;
      start = newline + 1;
    }
    this.take(chunk.subarray(start));
  }

  private take(piece: Buffer): void {
    if (this.overlong || piece.length === 0) return;
    if (this.size + piece.length > this.maxBytes) {
      this.overlong = true;
      this.parts = [];
      this.size = 0;
      return;
    }
    this.parts.push(Buffer.from(piece));
    this.size += piece.length;
  }
}
