// Which connect failures are worth retrying. The expose saga retries a failed connect until
// --connect-timeout (and forever after a loss), which is right while the proxy's server is still
// starting or the network blips, and wrong when the same attempt would be refused again: a key the
// server does not take, a host key that is not the pinned one, two ends that share no protocol, an
// API server that says no. Those fail at once, with the reason.
import { LocError } from "../errors.js";

/** Why no retry can succeed. */
export type PermanentReason = "authentication" | "host-key" | "protocol" | "forbidden";

export type ConnectErrorClass = "permanent" | "transient";

/** A connect failure that every retry would meet again. */
export class PermanentConnectError extends LocError {
  constructor(
    message: string,
    hint: string,
    code: string,
    readonly reason: PermanentReason,
    options?: { cause?: unknown },
  ) {
    super(message, hint, code);
    this.name = "PermanentConnectError";
    if (options && "cause" in options) this.cause = options.cause;
  }
}

/**
 * ssh2 tags its errors with a `level`. Authentication and handshake (no common algorithm, host
 * denied) and protocol violations do not heal by themselves; socket errors and timeouts are the
 * network's, and are retried.
 */
const PERMANENT_SSH_LEVELS: Record<string, PermanentReason> = {
  "client-authentication": "authentication",
  handshake: "protocol",
  protocol: "protocol",
};

/**
 * ssh2 tags a peer that hung up before sending its SSH banner as a protocol error, but it is the
 * network's: a port-forward whose pod port is not listening yet ends exactly so. Pinned by a test.
 */
export const SSH2_LOST_BEFORE_HANDSHAKE = "Connection lost before handshake";

/** How deep a chain of `cause`s is followed: wrappers are few, and a cycle must not hang. */
const MAX_CAUSE_DEPTH = 8;

/** The reason a connect error is permanent, or undefined when it is worth retrying. */
export function permanentReason(error: unknown): PermanentReason | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && typeof current === "object" && current !== null; depth++) {
    if (current instanceof PermanentConnectError) return current.reason;
    const { level, message } = current as { level?: unknown; message?: unknown };
    if (typeof level === "string" && Object.hasOwn(PERMANENT_SSH_LEVELS, level) && message !== SSH2_LOST_BEFORE_HANDSHAKE) return PERMANENT_SSH_LEVELS[level];
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Anything not known to be permanent is transient: an unknown failure gets the retries. */
export function classifyConnectError(error: unknown): ConnectErrorClass {
  return permanentReason(error) === undefined ? "transient" : "permanent";
}
