import { createConnection } from "node:net";
import { errorCode, LocError } from "../errors.js";
import { lineReader } from "./lines.js";
import { isRefusalAnswer, isStatusAnswer, parseAnswer, protocolError, refusalError } from "./parse.js";
import { toWire, type DaemonRequest, type DaemonResponse, type DaemonStatus } from "./protocol.js";
import { daemonSocketPath } from "./socket-path.js";

export interface ClientOptions {
  /** How long to wait for the daemon's first answer. */
  answerTimeoutMs?: number;
}

const ANSWER_TIMEOUT_MS = 5_000;
const START_HINT = "start one with: sudo loc daemon";

/** Asks the running daemon for its status once. Rejects with the signal's reason if aborted first. */
export async function requestStatus(stateDir: string, signal?: AbortSignal, options: ClientOptions = {}): Promise<DaemonStatus> {
  let answer: DaemonStatus | undefined;
  await converse(stateDir, { id: 1, method: "status" }, signal, options, (response) => {
    answer = statusOf(response);
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
  return converse(stateDir, { id: 1, method: "watchStatus" }, signal, options, (response) => {
    onStatus(statusOf(response));
    return true;
  });
}

/** An open conversation: more requests can be sent on it while answers stream in. */
export interface Conversation {
  send(request: DaemonRequest): void;
}

/**
 * Sends one request and feeds each answer to `onAnswer` until it returns false (resolves), the
 * signal aborts (resolves) or the daemon goes away (rejects with a LocError). An answer that cannot
 * be read, or is of another protocol version, ends the conversation with a LocError; so does a throw
 * from `onAnswer`.
 */
export function converse(
  stateDir: string,
  request: DaemonRequest,
  signal: AbortSignal | undefined,
  options: ClientOptions,
  onAnswer: (answer: DaemonResponse, conversation: Conversation) => boolean,
): Promise<void> {
  const timeoutMs = options.answerTimeoutMs ?? ANSWER_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const path = daemonSocketPath(stateDir); // a throw here becomes the rejection
    if (signal?.aborted) return resolve();
    let answered = false;
    let settled = false;
    const socket = createConnection({ path });
    const conversation: Conversation = { send: (next) => socket.writable && socket.write(JSON.stringify(toWire(next)) + "\n") };
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
        if (!onAnswer(parseAnswer(line), conversation)) finish();
      } catch (error) {
        finish(error);
      }
    });
    socket.on("data", (chunk: string) => lines.push(chunk));
  });
}

/** The status an answer carries; a refusal is thrown as the daemon's LocError. */
function statusOf(answer: DaemonResponse): DaemonStatus {
  if (isRefusalAnswer(answer)) throw refusalError(answer);
  if (!isStatusAnswer(answer)) throw protocolError();
  return answer.status;
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
