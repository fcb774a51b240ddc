import { LocError } from "../errors.js";
import { KubeTimeoutError } from "./cluster-port.js";

/**
 * 30 s. A healthy API server answers in milliseconds, and a write waits at most for its admission
 * webhooks (10 s each by default); a request still unanswered after 30 s is a hung connection (a
 * dropped VPN, a stale socket after sleep), not a slow answer. Without a bound, such a request waits
 * for TCP to give up (minutes to a quarter of an hour) and holds up a stop, a recovery or a start;
 * with it, a stop's bounded undo retries end in a few minutes at worst.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const REQUEST_TIMEOUT_ENV = "LOC_REQUEST_TIMEOUT_MS";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000 };

/** `--request-timeout` (it wins), else $LOC_REQUEST_TIMEOUT_MS, else the default; in milliseconds. */
export function requestTimeoutMs(flag: string | number | undefined, env: NodeJS.ProcessEnv): number {
  if (flag !== undefined) return parseDuration("--request-timeout", String(flag));
  const fromEnv = env[REQUEST_TIMEOUT_ENV];
  if (fromEnv === undefined || fromEnv === "") return DEFAULT_REQUEST_TIMEOUT_MS;
  const ms = Number(fromEnv);
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new LocError(`${REQUEST_TIMEOUT_ENV}=${fromEnv} is not a number of milliseconds`, `e.g. ${REQUEST_TIMEOUT_ENV}=30000, or unset it`, "BAD_FLAG");
  }
  return ms;
}

/** `500ms`, `30s`, `2m`, or a bare number of seconds (as kubectl reads `--request-timeout`). */
function parseDuration(name: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  const ms = match ? Math.round(Number(match[1]) * (UNIT_MS[match[2] ?? "s"] ?? NaN)) : NaN;
  // Zero (kubectl's "no timeout") is refused: an unbounded request is what this flag exists to prevent.
  if (!(ms > 0)) throw new LocError(`${name} ${text} is not a positive duration`, `e.g. ${name} 30s (units: ms, s, m)`, "BAD_FLAG");
  return ms;
}

/** `30 s`, `1.5 s`, `200 ms`. */
export function formatTimeout(ms: number): string {
  return ms < 1_000 ? `${ms} ms` : `${ms / 1_000} s`;
}

/** `GET /api/v1/namespaces/shop timed out after 30 s`: the path, without the server or the query. */
export function timeoutError(method: string, url: string, ms: number): KubeTimeoutError {
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    // Not absolute: keep it as given.
  }
  return new KubeTimeoutError(`${method} ${path} timed out after ${formatTimeout(ms)}`, ms);
}

/**
 * One request's deadline, merged with the caller's signal when there is one: `signal` aborts on
 * either, `expired` tells the timeout from the caller's abort. `stopTimer` ends the deadline but
 * keeps the caller's abort (a watch, once its headers are in: the stream is long-lived by design);
 * `dispose` detaches from the caller when the request is over.
 */
export class RequestDeadline {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private timedOut = false;
  private readonly onCallerAbort = () => this.controller.abort();

  constructor(
    readonly timeoutMs: number,
    private readonly caller?: AbortSignal,
  ) {
    this.signal = this.controller.signal;
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, timeoutMs);
    // Only the request's own socket keeps the process alive, not its deadline.
    this.timer.unref();
    if (caller?.aborted) this.controller.abort();
    else caller?.addEventListener("abort", this.onCallerAbort, { once: true });
  }

  get expired(): boolean {
    return this.timedOut;
  }

  stopTimer(): void {
    clearTimeout(this.timer);
  }

  dispose(): void {
    this.stopTimer();
    this.caller?.removeEventListener("abort", this.onCallerAbort);
  }
}
