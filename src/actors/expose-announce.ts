/** What the expose machine says when it enters a phase: the events of the `expose:<id>` stream. */
import { errorMessage } from "../errors.js";
import { workloadTarget } from "../expose/mutation.js";
import { describeMapping } from "../expose/ports.js";
import { selectorText, sessionSelector } from "../expose/selector.js";
import { describeStep, type UndoStep } from "../expose/undo-steps.js";
import type { ExposeContext, ExposeEmitted } from "./expose-types.js";

/** Phases announced as an `expose.step` (the others have events of their own). */
export type AnnouncedStep = "resolving" | "scalingDown" | "creatingProxy" | "waitingReady" | "establishing" | "retargeting" | "reconnecting" | "stopping" | "compensating";

export function stepEvent(step: AnnouncedStep, context: ExposeContext): ExposeEmitted {
  const detail = detailFor(step, context);
  return { type: "expose.step", data: { service: context.service, step, ...(detail ? { detail } : {}) } };
}

function detailFor(step: AnnouncedStep, context: ExposeContext): string | undefined {
  const { about, plan } = context;
  const pod = context.pod?.name ?? about.podName;
  switch (step) {
    case "scalingDown":
      return plan?.workloads.map((w) => `${workloadTarget(w.ref)} ${w.replicas}→0`).join(", ") || "no pods back this service: nothing to scale";
    case "retargeting":
      return `Service ${context.service} selector ${selectorText(plan?.selector ?? {})} → ${selectorText(sessionSelector(about.sessionId))}`;
    case "creatingProxy":
      return `pod ${about.podName}, image ${about.image}`;
    case "waitingReady":
      return `pod ${pod}`;
    case "establishing":
      return `${about.transport.name} to ${pod}:${about.transport.port}, host key ${about.transport.fingerprint}`;
    case "reconnecting":
      return context.error;
    case "stopping":
      return context.stopReason;
    case "compensating":
      return context.stopReason ?? context.error;
    default:
      return undefined;
  }
}

export function activeEvent(context: ExposeContext): ExposeEmitted {
  const ports = (context.plan?.ports ?? []).map((p) => describeMapping(p, context.about.localHost));
  return { type: "expose.active", data: { service: context.service, pod: context.pod?.name ?? "", ports } };
}

export function stoppedEvent(context: ExposeContext): ExposeEmitted {
  return { type: "expose.stopped", data: { service: context.service, reason: context.stopReason ?? "stopped" } };
}

export function failedEvent(context: ExposeContext): ExposeEmitted {
  const leftovers = context.leftovers.length > 0 ? { leftovers: context.leftovers } : {};
  return { type: "expose.failed", data: { service: context.service, error: context.error ?? "unknown error", ...leftovers } };
}

export function undoFailedEvent(context: ExposeContext, step: UndoStep | undefined, error: unknown): ExposeEmitted {
  const what = step ? describeStep(step) : "undo";
  return { type: "expose.warning", data: { service: context.service, message: `could not ${what}: ${errorMessage(error)}; it is left as it is` } };
}
