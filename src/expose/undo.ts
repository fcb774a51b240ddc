/**
 * Undoing a session's changes, as a plan (reads only) and its application (conditional writes).
 * The saga's compensation and `loc recover` use the same two halves, so a crashed session is undone
 * by exactly the rules a stopped one is, and `loc recover --dry-run` can show the plan.
 */
import type { WorkloadRef, WorkloadState } from "../kube/expose-cluster.js";
import { ANNOTATION_ORIGINAL_REPLICAS, ANNOTATION_OWNER, ANNOTATION_SESSION, LABEL_OWNER, LABEL_SESSION } from "./identity.js";
import { mutate, scaleIfUnchanged, workloadTarget, type MutationScope } from "./mutation.js";
import { applyServiceUndo, selectorText, serviceTarget } from "./selector.js";

/** A workload a session claimed: which object, and what it had before loc scaled it. */
export interface RecordedWorkload {
  ref: WorkloadRef;
  uid: string;
  /** Replicas before loc's scale; undefined when loc never asked to scale it (then it never sets them). */
  scaledFrom?: number;
}

export type UndoAction =
  | { kind: "deletePod"; name: string; uid: string }
  | { kind: "deleteConfig"; name: string; uid: string }
  | { kind: "restoreScale"; ref: WorkloadRef; uid: string; resourceVersion: string; to: number }
  | { kind: "removeAnnotations"; ref: WorkloadRef; uid: string; annotations: Record<string, string> }
  /** The Service's selector back to `selector`, loc's annotations off (one conditional patch). */
  | { kind: "restoreSelector"; name: string; uid: string; resourceVersion: string; selector: Record<string, string> }
  /** Only loc's annotations off: someone else set the selector meanwhile, and it stays as they set it. */
  | { kind: "releaseService"; name: string; uid: string; resourceVersion: string; selector: Record<string, string> }
  /** Not loc's to change any more (someone else changed or replaced it): reported, never touched. */
  | { kind: "leave"; target: string; reason: string; claimedBy?: string };

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

/** Carries out one planned action; every write is conditional (uid, resourceVersion), so a stale plan fails instead of clobbering. */
export async function applyUndo(scope: MutationScope, action: UndoAction): Promise<void> {
  switch (action.kind) {
    case "deletePod":
      await mutate(scope, "deletePod", undoTarget(action), { uid: action.uid }, () => scope.cluster.deletePod(scope.namespace, action.name, action.uid), (r) => ({ result: r }));
      return;
    case "deleteConfig":
      await mutate(scope, "deleteConfig", undoTarget(action), { uid: action.uid }, () => scope.cluster.deleteSecret(scope.namespace, action.name, action.uid), (r) => ({ result: r }));
      return;
    case "restoreScale":
      await mutate(
        scope,
        "restoreScale",
        undoTarget(action),
        { replicas: 0, to: action.to, uid: action.uid, resourceVersion: action.resourceVersion },
        () => scaleIfUnchanged(scope, action.ref, action.uid, 0, action.to, action.resourceVersion),
        (after) => ({ replicas: after.replicas }),
      );
      return;
    case "removeAnnotations":
      await mutate(scope, "removeAnnotations", undoTarget(action), { uid: action.uid, annotations: action.annotations }, () =>
        scope.cluster.patchWorkloadAnnotations(action.ref, action.uid, { [ANNOTATION_SESSION]: null, [ANNOTATION_OWNER]: null, [ANNOTATION_ORIGINAL_REPLICAS]: null }),
      );
      return;
    case "restoreSelector":
    case "releaseService":
      await applyServiceUndo(scope, action);
      return;
    case "leave":
      scope.record({ type: "expose.warning", data: { service: scope.service, message: `${action.target} ${action.reason}; left as it is` } });
  }
}

/** The object an action is about, as `Kind/name`. */
export function undoTarget(action: UndoAction): string {
  switch (action.kind) {
    case "deletePod":
      return `Pod/${action.name}`;
    case "deleteConfig":
      return `Secret/${action.name}`;
    case "restoreSelector":
    case "releaseService":
      return serviceTarget(action.name);
    case "leave":
      return action.target;
    default:
      return workloadTarget(action.ref);
  }
}

/** One line per action, for `loc recover` (and its `--dry-run`). */
export function describeUndo(action: UndoAction): string {
  switch (action.kind) {
    case "deletePod":
    case "deleteConfig":
      return `delete ${undoTarget(action)}`;
    case "restoreScale":
      return `scale ${undoTarget(action)} 0→${action.to}`;
    case "removeAnnotations":
      return `remove loc annotations from ${undoTarget(action)}`;
    case "restoreSelector":
      return `restore ${undoTarget(action)}'s selector to ${selectorText(action.selector)}`;
    case "releaseService":
      return `remove loc annotations from ${undoTarget(action)}, keeping its selector ${selectorText(action.selector)}`;
    case "leave":
      return `leave ${action.target}: it ${action.reason}`;
  }
}

export function locAnnotations(annotations: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(annotations).filter(([key]) => key.startsWith("loc.dev/")));
}
