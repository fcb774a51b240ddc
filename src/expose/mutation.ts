import { errorMessage } from "../errors.js";
import type { ExposeCluster, WorkloadRef, WorkloadState } from "../kube/expose-cluster.js";
import type { NewEvent } from "../store/events.js";
import { ANNOTATION_SESSION } from "./identity.js";

/** What every cluster mutation of one session needs: whose it is, and where its events go. */
export interface MutationScope {
  cluster: ExposeCluster;
  sessionId: string;
  /** The owner the session's objects must carry; checked before anything is deleted or restored. */
  owner: string;
  namespace: string;
  service: string;
  record: (event: NewEvent) => void;
}

export function workloadTarget(ref: WorkloadRef): string {
  return `${ref.kind}/${ref.name}`;
}

/**
 * Intent → call → outcome. The intent lands before the call, so a crash at any point leaves a
 * record of what may have happened (the basis of `loc recover`).
 */
export async function mutate<T>(
  scope: Pick<MutationScope, "service" | "record">,
  action: string,
  target: string,
  original: Record<string, unknown> | undefined,
  run: () => Promise<T>,
  result?: (value: T) => Record<string, unknown>,
): Promise<T> {
  const service = scope.service;
  scope.record({ type: "expose.intent", data: { service, action, target, ...(original ? { original } : {}) } });
  try {
    const value = await run();
    scope.record({ type: "expose.outcome", data: { service, action, target, ok: true, ...(result ? { result: result(value) } : {}) } });
    return value;
  } catch (error) {
    scope.record({ type: "expose.outcome", data: { service, action, target, ok: false, error: errorMessage(error) } });
    throw error;
  }
}

export const CONFLICT_ATTEMPTS = 5;

/**
 * Scales conditionally on the resourceVersion. A conflict is retried only while the workload is the
 * same object, still claimed by this session, with the replicas loc expects: a Deployment's
 * controller writes its status right after loc's annotation (the generation moved), which is not a
 * reason to give up; someone else's scale or claim is.
 */
export function scaleIfUnchanged(scope: MutationScope, ref: WorkloadRef, uid: string, expected: number, replicas: number, resourceVersion: string): Promise<WorkloadState> {
  return retryOnConflict(
    resourceVersion,
    (version) => scope.cluster.scaleWorkload(ref, replicas, version),
    async (error) => {
      const now = await sameWorkload(scope, ref, uid, error);
      if (now.annotations[ANNOTATION_SESSION] !== scope.sessionId) throw new Error(`${workloadTarget(ref)} is no longer claimed by this session`, { cause: error });
      if (now.replicas !== expected) throw new Error(`${workloadTarget(ref)} was scaled to ${now.replicas} by someone else meanwhile`, { cause: error });
      return now.resourceVersion;
    },
  );
}

/**
 * A write conditional on a resourceVersion, retried after a conflict (up to CONFLICT_ATTEMPTS) only
 * as far as `recheck` allows: it reads the object again and returns the version to retry with (a
 * harmless change, e.g. a controller's status write), `{ landed }` when loc's own write had gone
 * through after all, or throws for a change that is not loc's to override.
 */
export async function retryOnConflict<T>(version: string, write: (version: string) => Promise<T>, recheck: (conflict: unknown) => Promise<string | { landed: T }>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await write(version);
    } catch (error) {
      if (statusOf(error) !== 409 || attempt >= CONFLICT_ATTEMPTS) throw error;
      const next = await recheck(error);
      if (typeof next !== "string") return next.landed;
      version = next;
    }
  }
}

export async function sameWorkload(scope: MutationScope, ref: WorkloadRef, uid: string, cause: unknown): Promise<WorkloadState> {
  const now = await scope.cluster.readWorkload(ref);
  if (!now || now.uid !== uid) throw new Error(`${workloadTarget(ref)} was deleted or replaced meanwhile`, { cause });
  return now;
}

export function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}


