import { errorMessage } from "../errors.js";
import { KubeRequestError, KubeTimeoutError } from "./cluster-port.js";

/**
 * A KubeRequestError naming the request and carrying the metav1.Status message. Never the
 * ApiException's own message: it embeds the response headers.
 */
export function toKubeRequestError(what: string, error: unknown): KubeRequestError {
  if (error instanceof KubeTimeoutError) return new KubeTimeoutError(`${what}: ${error.message}`, error.timeoutMs);
  if (error instanceof KubeRequestError) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "number") {
    const message = statusMessage((error as { body?: unknown }).body) ?? httpReason(code);
    return new KubeRequestError(`${what}: ${message}`, code);
  }
  // Network and TLS failures (node-fetch FetchError, system errors): no HTTP status.
  const message = errorMessage(error);
  return new KubeRequestError(`${what}: ${message}`, undefined);
}

interface Status {
  message?: unknown;
  details?: { causes?: { field?: unknown }[] };
}

/** The metav1.Status in an ApiException's body (a JSON string in client-node 1.x), if it is one. */
function statusOf(body: unknown): Status | undefined {
  if (typeof body !== "string") return typeof body === "object" && body !== null ? (body as Status) : undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === "object" && parsed !== null ? (parsed as Status) : undefined;
  } catch {
    return undefined;
  }
}

function statusMessage(body: unknown): string | undefined {
  const message = statusOf(body)?.message;
  return typeof message === "string" && message ? message : undefined;
}

/** A 422 Invalid whose causes name `field`. */
export function invalidField(error: unknown, field: string): boolean {
  const { code, body } = error as { code?: unknown; body?: unknown };
  return code === 422 && (statusOf(body)?.details?.causes ?? []).some((cause) => cause.field === field);
}

function httpReason(code: number): string {
  const reasons: Record<number, string> = { 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity", 429: "Too Many Requests" };
  return `HTTP ${code}${reasons[code] ? ` ${reasons[code]}` : ""}`;
}

/** One API call whose failure becomes a KubeRequestError naming `what` (timeouts stay KubeTimeoutError). */
export async function call<T>(what: string, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    throw toKubeRequestError(what, error);
  }
}

/** The object, or undefined on 404. */
export async function orUndefined<T>(what: string, request: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call(what, request);
  } catch (error) {
    if (error instanceof KubeRequestError && error.statusCode === 404) return undefined;
    throw error;
  }
}
