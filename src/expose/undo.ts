/**
 * Undo actions: what undoing one change comes down to, once planned against the cluster as it is
 * now, and how each is applied (conditional writes, each an intent first). The plans are in
 * undo-plans.ts; which changes a session made, and in which order they are undone, in undo-steps.ts.
 */
import type { WorkloadRef } from "../kube/expose-cluster.js";
import { ANNOTATION_ORIGINAL_REPLICAS, ANNOTATION_ORIGINAL_SELECTOR, ANNOTATION_OWNER, ANNOTATION_SESSION } from "./identity.js";
import { mutate, scaleIfUnchanged, workloadTarget, type MutationScope } from "./mutation.js";
import { selectorText, serviceTarget } from "./selector.js";

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

/** Selector back and loc's annotations off in one conditional patch; or only the annotations off. */
async function applyServiceUndo(scope: MutationScope, action: Extract<UndoAction, { kind: "restoreSelector" | "releaseService" }>): Promise<void> {
  const unclaim = { [ANNOTATION_SESSION]: null, [ANNOTATION_OWNER]: null, [ANNOTATION_ORIGINAL_SELECTOR]: null };
  await mutate(
    scope,
    action.kind,
    serviceTarget(action.name),
    { uid: action.uid, resourceVersion: action.resourceVersion, to: action.selector },
    () => scope.cluster.patchService(scope.namespace, action.name, action.uid, action.resourceVersion, { selector: action.selector, annotations: unclaim }),
    (after) => ({ selector: after.spec?.selector ?? {} }),
  );
}
