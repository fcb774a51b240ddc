import { errorCode, errorMessage } from "../errors.js";

/**
 * What kind of trouble an API request met, as the daemon tells the user: the same retry loop
 * handles them all, but "cannot reach" and "may not list" need different words and hints, and some
 * are fatal before the daemon has ever served (a selector the server refuses will never work).
 */
export type ApiProblem =
  /** No HTTP answer: connection refused, DNS, network down, a timeout. */
  | "unreachable"
  /** 401: the credentials (token, certificate, exec plugin's output) were refused. */
  | "unauthorized"
  /** 403: authenticated, but RBAC forbids it. */
  | "forbidden"
  /** 400/422: the request itself is wrong (a selector the server cannot parse). */
  | "invalid"
  /** Getting credentials failed before any request was sent (exec plugin, auth provider). */
  | "credentials"
  /** 5xx and anything else: retried. */
  | "other";

// Errnos of a request that never got an HTTP answer; node-fetch puts them in the message too.
const NETWORK_CODES = ["ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EPIPE", "ECONNABORTED", "EHOSTDOWN", "ENETDOWN", "UND_ERR_CONNECT_TIMEOUT"];
const NETWORK_IN_MESSAGE = new RegExp(`\\b(${NETWORK_CODES.join("|")})\\b|socket hang up|timed out|network timeout`, "i");

export function classifyApiError(error: unknown): ApiProblem {
  const status = (error as { statusCode?: unknown }).statusCode;
  if (typeof status === "number") {
    if (status === 401) return "unauthorized";
    if (status === 403) return "forbidden";
    if (status === 400 || status === 422) return "invalid";
    return "other";
  }
  if ((error as { problem?: unknown }).problem === "credentials") return "credentials";
  if (NETWORK_CODES.includes(errorCode(error)) || (error as { name?: unknown }).name === "KubeTimeoutError") return "unreachable";
  return NETWORK_IN_MESSAGE.test(errorMessage(error)) ? "unreachable" : "other";
}

/** The errno-style reason inside a network error's message, e.g. `ECONNREFUSED`, for one-line reports. */
export function networkReason(message: string): string {
  const match = new RegExp(`\\b(${NETWORK_CODES.join("|")})\\b`).exec(message);
  return match?.[1] ?? message;
}

/** What a collection path asks for, in `kubectl auth can-i` words: verb list, resource, namespace. */
export function describeAccess(path: string): { resource: string; namespace: string | undefined; canI: string } {
  const match = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/?]+)/.exec(path);
  const group = match?.[1];
  const namespace = match?.[2];
  const plural = match?.[3] ?? path;
  const resource = group ? `${plural}.${group}` : plural;
  const where = namespace ? `-n ${namespace}` : "--all-namespaces";
  return { resource, namespace, canI: `kubectl auth can-i list ${resource} ${where} && kubectl auth can-i watch ${resource} ${where}` };
}
