import { isSelector, selectorText } from "../expose/selector.js";
import type { NewEvent } from "../store/events.js";

/** One progress line of `loc expose`, or undefined for events only history needs. */
export function formatExposeEvent(event: NewEvent): string | undefined {
  switch (event.type) {
    case "expose.requested":
      return `expose ${event.data.service} via ${event.data.transport}, strategy ${event.data.strategy ?? "scale"}${event.data.ports.length ? ` (map ${event.data.ports.join(", ")})` : ""}`;
    case "expose.step":
      return `  ${STEP_NAMES[event.data.step] ?? event.data.step}${event.data.detail ? `: ${event.data.detail}` : ""}`;
    case "expose.intent":
      return `    ${event.data.action} ${event.data.target}${describeChange(event.data.original)} …`;
    case "expose.outcome":
      return `    ${event.data.action} ${event.data.target} ${event.data.ok ? "ok" : `FAILED: ${event.data.error ?? "unknown error"}`}`;
    case "expose.active":
      return `  active: ${event.data.ports.join(", ")} through pod ${event.data.pod}`;
    case "expose.warning":
      return `  warning: ${event.data.message}`;
    case "expose.failed":
      return `  failed: ${event.data.error}`;
    case "expose.stopped":
      return `  stopped: ${event.data.reason}`;
    default:
      return undefined;
  }
}

const STEP_NAMES: Record<string, string> = {
  resolving: "resolving the service and its workloads",
  scalingDown: "scaling down",
  creatingProxy: "creating the proxy",
  waitingReady: "waiting for the proxy pod to be Ready",
  establishing: "connecting",
  retargeting: "pointing the service at the proxy",
  reconnecting: "connection lost, reconnecting",
  stopping: "stopping",
  compensating: "undoing",
};

function describeChange(original: Record<string, unknown> | undefined): string {
  if (typeof original?.replicas === "number" && typeof original.to === "number") return ` ${original.replicas}→${original.to}`;
  if (isSelector(original?.to)) return ` selector${isSelector(original.selector) ? ` ${selectorText(original.selector)}` : ""} → ${selectorText(original.to)}`;
  return "";
}
