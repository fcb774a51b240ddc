/**
 * Planning an undo: reads of the cluster as it is now, decided against what the session recorded.
 * The saga's compensation and `loc recover` use the same plans, so a crashed session is undone by
 * exactly the rules a stopped one is, and `loc recover --dry-run` can show the plan.
 */
import type { WorkloadRef, WorkloadState } from "../kube/expose-cluster.js";
import type { ServiceObject } from "../kube/service-model.js";
import { ANNOTATION_ORIGINAL_SELECTOR, ANNOTATION_OWNER, ANNOTATION_SESSION, LABEL_OWNER, LABEL_SESSION } from "./identity.js";
import { workloadTarget, type MutationScope } from "./mutation.js";
import { annotationsOf, parseSelectorText, sameSelector, selectorText, serviceTarget, sessionSelector } from "./selector.js";
import { locAnnotations, type UndoAction } from "./undo.js";

/** A workload a session claimed: which object, and what it had before loc scaled it. */
export interface RecordedWorkload {
  ref: WorkloadRef;
  uid: string;
  /** Replicas before loc's scale; undefined when loc never asked to scale it (then it never sets them). */
  scaledFrom?: number;
}

/** A Service a session retargeted: which object, and its selector before (undefined when unknown). */
export interface RecordedService {
  name: string;
  uid: string;
  selector?: Record<string, string>;
}

/** Whether an object carries this session's labels (session and owner): never delete anyone else's. */
export function ownedBy(scope: Pick<MutationScope, "sessionId" | "owner">, labels: Record<string, string>): boolean {
  return labels[LABEL_SESSION] === scope.sessionId && labels[LABEL_OWNER] === scope.owner;
}

/** The proxy pod and its Secret (same name), each only if it is this session's. */
export async function planProxyUndo(scope: MutationScope, name: string): Promise<UndoAction[]> {
  const [pod, config] = await Promise.all([scope.cluster.readPod(scope.namespace, name), scope.cluster.readSecret(scope.namespace, name)]);
  const actions: UndoAction[] = [];
  if (pod && ownedBy(scope, pod.labels)) actions.push({ kind: "deletePod", name, uid: pod.uid });
  if (config && ownedBy(scope, config.labels)) actions.push({ kind: "deleteConfig", name, uid: config.uid });
  return actions;
}

export async function planWorkloadUndo(scope: MutationScope, recorded: RecordedWorkload): Promise<UndoAction[]> {
  return decideWorkloadUndo(recorded, await scope.cluster.readWorkload(recorded.ref), scope);
}

/**
 * Back to the recorded replicas only if the workload is the same object, still claimed by this
 * session and still at 0; then loc's annotations off. Anything else is someone else's change: left
 * as it is, with the reason. Safe when the scale never happened or was already undone.
 */
export function decideWorkloadUndo(recorded: RecordedWorkload, now: WorkloadState | undefined, scope: Pick<MutationScope, "sessionId" | "owner">): UndoAction[] {
  const target = workloadTarget(recorded.ref);
  if (!now || now.uid !== recorded.uid) return [{ kind: "leave", target, reason: "was deleted or replaced while exposed" }];
  const { scaledFrom } = recorded;
  const holder = now.annotations[ANNOTATION_SESSION];
  if (holder !== scope.sessionId || now.annotations[ANNOTATION_OWNER] !== scope.owner) {
    // Never claimed (the annotate failed), or claimed by another session: its replicas are not ours to set.
    if (scaledFrom === undefined || now.replicas === scaledFrom) return [];
    const why = holder ? `it is claimed by loc session ${holder}` : "it does not carry this session's annotation";
    return [{ kind: "leave", target, reason: `is at ${now.replicas} replicas (it had ${scaledFrom}) and ${why}`, ...(holder ? { claimedBy: holder } : {}) }];
  }
  const actions: UndoAction[] = [];
  if (scaledFrom !== undefined && now.replicas === 0 && scaledFrom !== 0) {
    actions.push({ kind: "restoreScale", ref: recorded.ref, uid: now.uid, resourceVersion: now.resourceVersion, to: scaledFrom });
  } else if (scaledFrom !== undefined && now.replicas !== scaledFrom) {
    actions.push({ kind: "leave", target, reason: `was scaled to ${now.replicas} by someone else while exposed (it had ${scaledFrom})` });
  }
  actions.push({ kind: "removeAnnotations", ref: recorded.ref, uid: now.uid, annotations: locAnnotations(now.annotations) });
  return actions;
}

export async function planServiceUndo(scope: MutationScope, recorded: RecordedService): Promise<UndoAction[]> {
  return decideServiceUndo(recorded, await scope.cluster.getService(scope.namespace, recorded.name), scope);
}

/**
 * The original selector back only if the Service is the same object and still selects this session's
 * proxy; loc's annotations off either way. A selector someone else set meanwhile stays, reported.
 * Safe when the retarget never happened, or was already undone, or belongs to another session.
 */
export function decideServiceUndo(recorded: RecordedService, now: ServiceObject | undefined, scope: Pick<MutationScope, "sessionId" | "owner">): UndoAction[] {
  const target = serviceTarget(recorded.name);
  const ours = sessionSelector(scope.sessionId);
  if (!now || now.metadata?.uid !== recorded.uid) return [{ kind: "leave", target, reason: "was deleted or replaced while exposed" }];
  const annotations = annotationsOf(now);
  const selector = now.spec?.selector ?? {};
  const claimed = annotations[ANNOTATION_SESSION] === scope.sessionId && annotations[ANNOTATION_OWNER] === scope.owner;
  const pointsHere = sameSelector(selector, ours);
  // Not claimed and not pointing here: never retargeted, already restored, or another session's.
  if (!claimed && !pointsHere) return [];
  const uid = recorded.uid;
  const resourceVersion = now.metadata.resourceVersion ?? "";
  const original = recorded.selector ?? parseSelectorText(annotations[ANNOTATION_ORIGINAL_SELECTOR]);
  if (pointsHere && original) return [{ kind: "restoreSelector", name: recorded.name, uid, resourceVersion, selector: original }];
  const was = original ? ` (it was ${selectorText(original)})` : "";
  const reason = pointsHere ? "still selects loc's proxy, but its original selector is unknown" : `had its selector changed to ${selectorText(selector)} by someone else while exposed${was}`;
  // Someone else's selector stands, so loc lets go of the Service. A Service still pointing at the
  // proxy keeps loc's claim: it marks what is broken until someone sets its selector by hand.
  const release: UndoAction[] = claimed && !pointsHere ? [{ kind: "releaseService", name: recorded.name, uid, resourceVersion, selector }] : [];
  return [{ kind: "leave", target, reason }, ...release];
}
