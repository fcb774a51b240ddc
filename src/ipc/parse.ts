import { LocError } from "../errors.js";
import { isExposeParams, isRecord, isUnexposeParams } from "./expose-params.js";
import {
  DAEMON_METHODS,
  PROTOCOL_VERSION,
  type DaemonMethod,
  type DaemonRequest,
  type DaemonResponse,
  type ExposeEndAnswer,
  type ExposeEventAnswer,
  type Refusal,
  type RefusalAnswer,
  type StatusAnswer,
} from "./protocol.js";

const VERSION_HINT = "run the CLI and the daemon from the same loc: restart the daemon with this one (sudo loc daemon), or use the loc that started it";
export const REQUEST_HINT = `send one JSON object per line: {"v":${PROTOCOL_VERSION},"id":1,"method":"status"} or {"v":${PROTOCOL_VERSION},"id":1,"method":"watchStatus"}`;

export type ParsedRequest = { ok: true; request: DaemonRequest } | { ok: false; id: number; error: Refusal };

/**
 * The daemon's reading of one request line. A request of another protocol version is refused
 * before anything else is read from it, except that an unknown method is named as such.
 */
export function parseRequest(line: string): ParsedRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return badRequest(0, "request is not JSON", "BAD_REQUEST");
  }
  const fields = isRecord(parsed) ? parsed : {};
  const id = typeof fields.id === "number" ? fields.id : 0;
  const { method, params, v } = fields;
  if (v !== undefined && v !== PROTOCOL_VERSION) return { ok: false, id, error: versionRefusal(v, "client") };
  if (!isMethod(method)) return badRequest(id, `unknown method ${JSON.stringify(method ?? null)}`, "UNKNOWN_METHOD");
  if (v === undefined) return { ok: false, id, error: versionRefusal(v, "client") };
  if (method === "expose") {
    return isExposeParams(params) ? { ok: true, request: { id, method, params } } : badRequest(id, "expose params are not { service, transport?, maps?: string[], ... }", "BAD_REQUEST");
  }
  if (method === "unexpose") {
    return isUnexposeParams(params) ? { ok: true, request: { id, method, params } } : badRequest(id, "unexpose params are not { service, session? }", "BAD_REQUEST");
  }
  return { ok: true, request: { id, method } };
}

/** The client's reading of one answer line; throws a LocError for a line it cannot trust. */
export function parseAnswer(line: string): DaemonResponse {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw protocolError();
  }
  if (!isRecord(parsed)) throw protocolError();
  if (parsed.v !== PROTOCOL_VERSION) throw versionError(parsed.v);
  if (isRefusalAnswer(parsed) || isStatusAnswer(parsed) || isExposeEventAnswer(parsed) || isExposeEndAnswer(parsed)) return parsed;
  throw protocolError();
}

// Each guard reads an unknown value, so nothing is assumed of a line before its guard has checked it.

/** Every answer carries the request's id. */
function isAnswer(value: unknown, ok: boolean): value is Record<string, unknown> & { id: number } {
  return isRecord(value) && typeof value.id === "number" && value.ok === ok;
}

export function isRefusalAnswer(value: unknown): value is RefusalAnswer {
  if (!isAnswer(value, false) || !isRecord(value.error)) return false;
  const { message, hint, code } = value.error;
  return typeof message === "string" && typeof hint === "string" && typeof code === "string";
}

export function isStatusAnswer(value: unknown): value is StatusAnswer {
  if (!isAnswer(value, true) || !isRecord(value.status)) return false;
  const { tunnels, skipped, watchProblems, exposes } = value.status;
  return Array.isArray(tunnels) && Array.isArray(skipped) && Array.isArray(watchProblems) && Array.isArray(exposes);
}

export function isExposeEventAnswer(value: unknown): value is ExposeEventAnswer {
  return isAnswer(value, true) && typeof value.session === "string" && isRecord(value.event) && typeof value.event.type === "string" && typeof value.time === "number";
}

export function isExposeEndAnswer(value: unknown): value is ExposeEndAnswer {
  return isAnswer(value, true) && typeof value.session === "string" && isRecord(value.end) && typeof value.end.state === "string";
}

/** A refusal, thrown again on the client's side with the daemon's message, hint and code. */
export function refusalError(answer: RefusalAnswer): LocError {
  const { message, hint, code } = answer.error;
  return new LocError(message, hint, code);
}

export function protocolError(): LocError {
  return new LocError("the loc daemon sent an answer this loc cannot read", "is the daemon running the same loc version? restart it with: sudo loc daemon", "DAEMON_PROTOCOL");
}

/** This client meets a daemon of another protocol version. */
export function versionError(theirs: unknown): LocError {
  const { message, hint, code } = versionRefusal(theirs, "daemon");
  return new LocError(message, hint, code);
}

/** `peer` is who spoke the other version; a missing `v` is a loc from before versions (0). */
function versionRefusal(theirs: unknown, peer: "client" | "daemon"): Refusal {
  const version = theirs === undefined ? "0" : JSON.stringify(theirs);
  const message =
    peer === "client"
      ? `this loc speaks daemon protocol ${version}, the running loc daemon speaks ${PROTOCOL_VERSION}`
      : `the running loc daemon speaks daemon protocol ${version}, this loc speaks ${PROTOCOL_VERSION}`;
  return { message, hint: VERSION_HINT, code: "DAEMON_PROTOCOL" };
}

function isMethod(method: unknown): method is DaemonMethod {
  return DAEMON_METHODS.some((known) => known === method);
}

function badRequest(id: number, message: string, code: string): ParsedRequest {
  return { ok: false, id, error: { message, hint: REQUEST_HINT, code } };
}
