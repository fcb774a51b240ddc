import { createConnection } from "node:net";
import { join } from "node:path";
import { errorCode, LocError } from "../errors.js";
import { SOCKET_FILE, type DaemonRequest, type DaemonStatus } from "./api.js";
import { lineReader } from "./lines.js";

export interface ClientOptions {
  /** How long to wait for the daemon's first answer. */
  answerTimeoutMs?: number;
}

const ANSWER_TIMEOUT_MS = 5_000;
const START_HINT = "start one with: sudo loc daemon";
/** sun_path holds 108 bytes on Linux, 104 on macOS, NUL included. */
const MAX_SOCKET_PATH_BYTES = process.platform === "darwin" ? 103 : 107;

/**
 * `<stateDir>/daemon.sock`. Node silently truncates a longer unix socket path, which would bind
 * somewhere else entirely, so a too-long one is refused up front.
 */
export function daemonSocketPath(stateDir: string): string {
  const path = join(stateDir, SOCKET_FILE);
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new LocError(
      `the daemon socket path ${path} is too long (${bytes} bytes, unix sockets allow ${MAX_SOCKET_PATH_BYTES})`,
      "use a shorter state dir: --state-dir or $LOC_STATE_DIR",
      "SOCKET_PATH_TOO_LONG",
    );
  }
  return path;
}

/** Asks the running daemon for its status once. Rejects with the signal's reason if aborted first. */
export async function requestStatus(stateDir: string, signal?: AbortSignal, options: ClientOptions = {}): Promise<DaemonStatus> {
  let answer: DaemonStatus | undefined;
  await converse(stateDir, { id: 1, method: "status" }, signal, options, (line) => {
    answer = parseAnswer(line);
    return false;
  });
  if (answer === undefined) throw signal?.reason ?? new Error("status request ended without an answer");
  return answer;
}

/**
 * Calls `onStatus` with the daemon's status now and after every change, until `signal` aborts
 * (resolves) or the daemon goes away (rejects with a LocError).
 */
export function watchStatus(stateDir: string, onStatus: (status: DaemonStatus) => void, signal: AbortSignal, options: ClientOptions = {}): Promise<void> {
  return converse(stateDir, { id: 1, method: "watchStatus" }, signal, options, (line) => {
    onStatus(parseAnswer(line));
    return true;
  });
}

/** An open conversation: more requests can be sent on it while answers stream in. */
export interface Conversation {
  send(request: DaemonRequest): void;
}

/**
 * Sends one request and feeds each answer line to `onLine` until it returns false (resolves), the
 * signal aborts (resolves) or the daemon goes away (rejects with a LocError). `onLine` may throw to
 * end the conversation with that error.
 */
export function converse(
  stateDir: string,
  request: DaemonRequest,
  signal: AbortSignal | undefined,
  options: ClientOptions,
  onLine: (line: string, conversation: Conversation) => boolean,
): Promise<void> {
  const timeoutMs = options.answerTimeoutMs ?? ANSWER_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const path = daemonSocketPath(stateDir); // a throw here becomes the rejection
    if (signal?.aborted) return resolve();
    let answered = false;
    let settled = false;
    const socket = createConnection({ path });
    const conversation: Conversation = { send: (next) => socket.writable && socket.write(JSON.stringify(next) + "\n") };
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      if (error === undefined) resolve();
      else reject(error);
    };
    const onAbort = () => finish();
    const timer = setTimeout(() => finish(noAnswer(path, timeoutMs)), timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.setEncoding("utf8");
    socket.on("connect", () => conversation.send(request));
    socket.on("error", (error) => finish(answered ? daemonGone() : connectError(error, path)));
    socket.on("close", () => finish(daemonGone()));
    const lines = lineReader((line) => {
      if (settled) return;
      try {
        answered = true;
        clearTimeout(timer);
        if (!onLine(line, conversation)) finish();
      } catch (error) {
        finish(error);
      }
    });
    socket.on("data", (chunk: string) => lines.push(chunk));
  });
}

/** An answer line's fields; `{}` for anything that is not a JSON object. */
export function readAnswer(line: string): Record<string, unknown> {
  let answer: unknown;
  try {
    answer = JSON.parse(line);
  } catch {
    answer = undefined;
  }
  return typeof answer === "object" && answer !== null ? (answer as Record<string, unknown>) : {};
}

/** Throws the daemon's refusal (`ok: false`) as a LocError; returns the fields otherwise. */
export function acceptAnswer(fields: Record<string, unknown>): Record<string, unknown> {
  if (fields.ok === false && typeof fields.error === "object" && fields.error !== null) {
    const { message, hint, code } = fields.error as Record<string, unknown>;
    throw new LocError(String(message), String(hint), String(code));
  }
  return fields;
}

function parseAnswer(line: string): DaemonStatus {
  const fields = acceptAnswer(readAnswer(line));
  const status = fields.status as Partial<DaemonStatus> | undefined;
  if (fields.ok !== true || !Array.isArray(status?.tunnels) || !Array.isArray(status.skipped) || !Array.isArray(status.watchProblems)) {
    throw protocolError();
  }
  return { ...status, exposes: status.exposes ?? [] } as DaemonStatus;
}

export function protocolError(): LocError {
  return new LocError("the loc daemon sent an answer this loc cannot read", "is the daemon running the same loc version? restart it with: sudo loc daemon", "DAEMON_PROTOCOL");
}

function connectError(error: Error, path: string): LocError | Error {
  const code = errorCode(error);
  if (code === "ENOENT" || code === "ECONNREFUSED") {
    // ECONNREFUSED: the socket file is a leftover of a daemon that died.
    const where = code === "ENOENT" ? `no socket at ${path}` : `nothing answers at ${path}`;
    return new LocError(`no loc daemon is running (${where})`, START_HINT, "DAEMON_NOT_RUNNING");
  }
  if (code === "EACCES" || code === "EPERM") {
    return new LocError(
      `no permission to talk to the loc daemon at ${path}`,
      "the socket is owner-only: run loc list as the daemon's user, e.g. sudo loc list",
      "DAEMON_PERMISSION",
    );
  }
  return new LocError(`cannot reach the loc daemon at ${path}: ${error.message}`, START_HINT, "DAEMON_UNREACHABLE");
}

function noAnswer(path: string, timeoutMs: number): LocError {
  return new LocError(
    `the loc daemon at ${path} did not answer within ${timeoutMs / 1000} s`,
    "it may be stuck; see loc history --stream daemon, or restart it",
    "DAEMON_NO_ANSWER",
  );
}

function daemonGone(): LocError {
  return new LocError("the loc daemon closed the connection", `it may have stopped; ${START_HINT}`, "DAEMON_GONE");
}
