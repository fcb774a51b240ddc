/**
 * The one undo model. What a session may have changed is a fold of its `expose.intent` events:
 * every intent counts, whether or not its outcome was recorded (a crash between the call and its
 * outcome is exactly the case recovery exists for). The saga's compensation folds the intents as
 * it records them; `loc recover` folds them from the log; both undo the same steps in the same order.
 */
import type { WorkloadKind } from "../kube/expose-cluster.js";
import type { EventPayloads } from "../store/events.js";
import { workloadTarget, type MutationScope } from "./mutation.js";
import { isSelector, serviceTarget } from "./selector.js";
import { applyUndo, type UndoAction } from "./undo.js";
import { planProxyUndo, planServiceUndo, planWorkloadUndo, type RecordedService, type RecordedWorkload } from "./undo-plans.js";

/** What one session may have changed in the cluster. */
export interface SessionChanges {
  workloads: RecordedWorkload[];
  /** Services the selector strategy may have retargeted, with their selector before. */
  services: RecordedService[];
  /** Names of proxy pods and their Secrets (one name each) the session may have created. */
  proxies: string[];
}

export const NO_CHANGES: SessionChanges = { workloads: [], services: [], proxies: [] };

export type Intent = EventPayloads["expose.intent"];

/**
 * One intent folded in (pure). Undo intents (deletePod, restoreScale...) change nothing here: they
 * take back a change already counted. A recreated proxy reuses its name, so it counts once.
 */
export function foldIntent(changes: SessionChanges, intent: Intent, namespace: string): SessionChanges {
  const { action, target, original } = intent;
  const uid = typeof original?.uid === "string" ? original.uid : "";
  if (action === "annotate" || action === "scale") {
    const ref = workloadRef(target, namespace);
    if (!ref || !uid) return changes;
    const same = (w: RecordedWorkload) => w.ref.kind === ref.kind && w.ref.name === ref.name && w.uid === uid;
    const known = changes.workloads.find(same);
    const scaledFrom = action === "scale" && typeof original?.replicas === "number" ? original.replicas : undefined;
    if (known && (known.scaledFrom !== undefined || scaledFrom === undefined)) return changes;
    const workload: RecordedWorkload = { ref, uid, ...(scaledFrom !== undefined ? { scaledFrom } : {}) };
    const workloads = known ? changes.workloads.map((w) => (w === known ? workload : w)) : [...changes.workloads, workload];
    return { ...changes, workloads };
  }
  if (action === "retarget") {
    const name = target.startsWith(serviceTarget("")) ? target.slice(serviceTarget("").length) : "";
    if (!name || !uid || changes.services.some((s) => s.name === name && s.uid === uid)) return changes;
    const selector = original?.selector;
    return { ...changes, services: [...changes.services, { name, uid, ...(isSelector(selector) ? { selector: { ...selector } } : {}) }] };
  }
  if (action === "createConfig" || action === "createPod") {
    const name = target.slice(target.indexOf("/") + 1);
    return changes.proxies.includes(name) ? changes : { ...changes, proxies: [...changes.proxies, name] };
  }
  return changes;
}

function workloadRef(target: string, namespace: string): RecordedWorkload["ref"] | undefined {
  const [kind, name] = target.split("/");
  if ((kind !== "Deployment" && kind !== "StatefulSet") || !name) return undefined;
  return { kind: kind satisfies WorkloadKind, namespace, name };
}

export type UndoStep = { kind: "restoreSelector"; service: RecordedService } | { kind: "deleteProxy"; pod: string } | { kind: "restoreWorkload"; workload: RecordedWorkload };

/**
 * The saga in reverse: the Service's selector first (its traffic goes back to the app, not to a
 * laptop that may be gone), then the proxy, then each workload, the last scaled first.
 */
export function undoSteps(changes: SessionChanges): UndoStep[] {
  return [
    ...changes.services.map((service): UndoStep => ({ kind: "restoreSelector", service })),
    ...changes.proxies.map((pod): UndoStep => ({ kind: "deleteProxy", pod })),
    ...[...changes.workloads].reverse().map((workload): UndoStep => ({ kind: "restoreWorkload", workload })),
  ];
}

/** Reads the cluster and decides what undoing `step` takes now. */
export function planStep(scope: MutationScope, step: UndoStep): Promise<UndoAction[]> {
  switch (step.kind) {
    case "restoreSelector":
      return planServiceUndo(scope, step.service);
    case "deleteProxy":
      return planProxyUndo(scope, step.pod);
    case "restoreWorkload":
      return planWorkloadUndo(scope, step.workload);
  }
}

/** Plans `step` and applies its actions, in order. */
export async function undoStep(scope: MutationScope, step: UndoStep): Promise<void> {
  for (const action of await planStep(scope, step)) await applyUndo(scope, action);
}

/** The object a step is about, as `Kind/name`. */
export function stepTarget(step: UndoStep): string {
  switch (step.kind) {
    case "restoreSelector":
      return serviceTarget(step.service.name);
    case "deleteProxy":
      return `Pod/${step.pod}`;
    case "restoreWorkload":
      return workloadTarget(step.workload.ref);
  }
}

/** What a step puts back, for warnings. */
export function describeStep(step: UndoStep): string {
  switch (step.kind) {
    case "restoreSelector":
      return `restore ${serviceTarget(step.service.name)}'s selector`;
    case "deleteProxy":
      return `delete proxy ${step.pod}`;
    case "restoreWorkload":
      return `restore ${workloadTarget(step.workload.ref)}`;
  }
}

/** What is still changed in the cluster when a step failed every try. */
export function describeLeftover(step: UndoStep): string {
  switch (step.kind) {
    case "restoreSelector":
      return `${serviceTarget(step.service.name)}'s selector not restored`;
    case "deleteProxy":
      return "proxy pod not deleted";
    case "restoreWorkload":
      return `${workloadTarget(step.workload.ref)} not restored`;
  }
}
