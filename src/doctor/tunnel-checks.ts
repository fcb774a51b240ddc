import type { DaemonStatus } from "../ipc/protocol.js";
import { pass, warn, type CheckResult } from "./check.js";

type Tunnel = DaemonStatus["tunnels"][number];

/** At most this many tunnels are named in the line; `loc list` has them all. */
const NAMED = 3;

function problem(tunnel: Tunnel): string | undefined {
  if (tunnel.state === "backingOff") return `${tunnel.key} cannot reach a pod: ${tunnel.reason || "its last attempt failed"}`;
  if (tunnel.state === "waitingForEndpoints") return `${tunnel.key} has no ready pods`;
  return undefined;
}

/** What to type first, for the first tunnel that is not forwarding. */
function hintFor(tunnel: Tunnel): string {
  const service = tunnel.key.slice(tunnel.namespace.length + 1).split("/")[0] ?? tunnel.name;
  if (tunnel.state === "waitingForEndpoints") {
    return `see why its pods are not ready: kubectl -n ${tunnel.namespace} get endpointslices -l kubernetes.io/service-name=${service}`;
  }
  if (/nothing listens|no forward found/.test(tunnel.reason)) {
    return `the Service's targetPort must be a port the pod listens on: kubectl -n ${tunnel.namespace} describe service ${service}`;
  }
  return `its attempts and their reasons: loc history --service ${tunnel.key}`;
}

/** "3 forwarding", "2 forwarding, 1 connecting": the states as `loc list` names them. */
function countByState(tunnels: readonly Tunnel[]): string {
  const counts = new Map<string, number>();
  for (const { state } of tunnels) counts.set(state, (counts.get(state) ?? 0) + 1);
  return [...counts].map(([state, count]) => `${count} ${state}`).join(", ");
}

/**
 * The daemon's tunnels that cannot serve, and why: the same reasons as `loc list`, in one line. A
 * warning, not a failure: loc works, the cluster's app is what needs a look. Nothing to say (no
 * line) while the daemon has no tunnels.
 */
export function checkTunnels(status: DaemonStatus): CheckResult | undefined {
  const { tunnels } = status;
  if (tunnels.length === 0) return undefined;
  const troubled = tunnels.filter((tunnel) => problem(tunnel) !== undefined);
  const [first] = troubled;
  if (!first) return pass("tunnels", countByState(tunnels));
  const named = troubled.slice(0, NAMED).map((tunnel) => problem(tunnel)).join("; ");
  const more = troubled.length > NAMED ? `; and ${troubled.length - NAMED} more (loc list)` : "";
  return warn("tunnels", `${troubled.length} of ${tunnels.length} not forwarding: ${named}${more}`, hintFor(first));
}
