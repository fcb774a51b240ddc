// The forward transports' names, apart from their implementations: the CLI's help and flag checks
// need them without loading a Kubernetes client (ADR 0010, lazy commands).
import { LocError } from "../errors.js";

/** `spdy`: one multiplexed session per pod (ADR 0011). `websocket`: one upgrade per connection (ADR 0004). */
export const FORWARD_TRANSPORTS = ["spdy", "websocket"] as const;
export const DEFAULT_FORWARD_TRANSPORT = "spdy";

/** Refuses an unknown forward transport name before anything starts, listing the real ones. */
export function checkForwardTransport(name: string): string {
  if ((FORWARD_TRANSPORTS as readonly string[]).includes(name)) return name;
  throw new LocError(`unknown transport "${name}"`, `available: ${FORWARD_TRANSPORTS.join(", ")}`, "UNKNOWN_TRANSPORT");
}
