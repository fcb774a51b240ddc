import { errorMessage } from "../errors.js";
import type { WorkloadState } from "../kube/expose-cluster.js";
import type { ReverseConnector } from "../transports/transport.js";
import { ANNOTATION_ORIGINAL_REPLICAS, ANNOTATION_OWNER, ANNOTATION_SESSION } from "./identity.js";
import { mutate, retryOnConflict, sameWorkload, scaleIfUnchanged, workloadTarget, type MutationScope } from "./mutation.js";
import { proxyLabels, proxyPodManifest } from "./proxy-pod.js";
import type { ExposePlan } from "./resolve.js";
import { applyUndo, locAnnotations } from "./undo.js";
import { ownedBy, planProxyUndo } from "./undo-plans.js";

/** How one session changes the cluster. Every mutation is an intent, then the call, then its outcome. */
export interface StepContext extends MutationScope {
  image: string;
  runAsUser: number;
  reverse: ReverseConnector;
  overrides?: Record<string, unknown>;
  /** Pod status polling and leftover-pod waits. */
  pollMs: number;
  sleep: (ms: number) => Promise<void>;
}

/** Waiting reasons that will not heal by themselves: fail fast instead of waiting out the timeout. */
const FATAL_WAITING = /^(ImagePullBackOff|InvalidImageName|ErrImageNeverPull|CreateContainerConfigError|CreateContainerError|CrashLoopBackOff|RunContainerError)\b/;

/** Annotate (the cluster carries the undo information), then scale to 0 through the scale subresource. */
export async function scaleDown(ctx: StepContext, workload: WorkloadState): Promise<void> {
  const target = workloadTarget(workload.ref);
  const annotated = await mutate(ctx, "annotate", target, { uid: workload.uid, annotations: locAnnotations(workload.annotations) }, () => annotateIfFree(ctx, workload));
  await mutate(
    ctx,
    "scale",
    target,
    { replicas: workload.replicas, to: 0, uid: workload.uid, resourceVersion: annotated.resourceVersion },
    () => scaleIfUnchanged(ctx, workload.ref, workload.uid, workload.replicas, 0, annotated.resourceVersion),
    (after) => ({ replicas: after.replicas }),
  );
}

/**
 * The annotation is the claim on the workload: conditional on the resourceVersion, so two loc
 * sessions racing for one workload cannot both win (the loser sees the winner's annotation).
 */
function annotateIfFree(ctx: StepContext, workload: WorkloadState): Promise<WorkloadState> {
  const claim = { [ANNOTATION_SESSION]: ctx.sessionId, [ANNOTATION_OWNER]: ctx.owner, [ANNOTATION_ORIGINAL_REPLICAS]: String(workload.replicas) };
  return retryOnConflict(
    workload.resourceVersion,
    (version) => ctx.cluster.patchWorkloadAnnotations(workload.ref, workload.uid, claim, version),
    async (error) => {
      const now = await sameWorkload(ctx, workload.ref, workload.uid, error);
      const holder = now.annotations[ANNOTATION_SESSION];
      if (holder) throw new Error(`${workloadTarget(workload.ref)} was claimed meanwhile by loc session ${holder} (owner ${now.annotations[ANNOTATION_OWNER] ?? "unknown"})`, { cause: error });
      if (now.replicas !== workload.replicas) throw new Error(`${workloadTarget(workload.ref)} was scaled to ${now.replicas} by someone else meanwhile`, { cause: error });
      return now.resourceVersion;
    },
  );
}

/** The Secret with the transport's files first, then the pod it controls (see proxy-pod.ts). */
export async function createProxy(ctx: StepContext, plan: ExposePlan, podName: string, replacing: boolean): Promise<{ name: string; uid: string }> {
  const labels = proxyLabels({ sessionId: ctx.sessionId, owner: ctx.owner, serviceName: plan.name });
  if (replacing) await waitUntilGone(ctx, podName);
  const config = await mutate(
    ctx,
    "createConfig",
    `Secret/${podName}`,
    undefined,
    () => ctx.cluster.createSecret(ctx.namespace, { name: podName, labels, data: ctx.reverse.proxy.secretFiles }),
    (created) => ({ uid: created.uid }),
  );
  const manifest = proxyPodManifest({
    name: podName,
    sessionId: ctx.sessionId,
    owner: ctx.owner,
    serviceName: plan.name,
    // Under the selector strategy the Service comes to the pod (by its session label), not the reverse:
    // without the app's labels no other selector (another Service, a ReplicaSet) ever counts it.
    selector: plan.strategy === "scale" ? plan.selector : {},
    image: ctx.image,
    runAsUser: ctx.runAsUser,
    proxy: ctx.reverse.proxy,
    ports: plan.ports,
    configName: config.name,
    configUid: config.uid,
    overrides: ctx.overrides,
  });
  const pod = await mutate(
    ctx,
    "createPod",
    `Pod/${podName}`,
    { image: ctx.image, fingerprint: ctx.reverse.proxy.fingerprint },
    () => ctx.cluster.createPod(ctx.namespace, manifest),
    (created) => ({ uid: created.uid }),
  );
  return { name: pod.name, uid: pod.uid };
}

const LEFTOVER_WAIT_MS = 30_000;

/**
 * A recreated proxy reuses its name: delete the previous incarnation (without grace, even if it is
 * already terminating on a lost node) and wait, for a bounded time, until it is gone.
 */
async function waitUntilGone(ctx: StepContext, podName: string): Promise<void> {
  for (let waited = 0; ; waited += ctx.pollMs) {
    const leftover = await ctx.cluster.readPod(ctx.namespace, podName);
    if (!leftover) break;
    if (!ownedBy(ctx, leftover.labels)) throw new Error(`a pod named ${podName} exists and is not this session's`);
    if (waited >= LEFTOVER_WAIT_MS) throw new Error(`the previous proxy pod ${podName} is still terminating after ${LEFTOVER_WAIT_MS / 1000} s`);
    if (waited === 0) await applyUndo(ctx, { kind: "deletePod", name: leftover.name, uid: leftover.uid });
    await ctx.sleep(ctx.pollMs);
  }
  // Its Secret may remain (it owns the pod, not the other way round); it is recreated below.
  for (const action of await planProxyUndo(ctx, podName)) await applyUndo(ctx, action);
}

/** Polls the proxy pod: ready, why it is not yet, or why it never will be. */
export function watchPod(ctx: StepContext, podName: string, send: (event: { type: "pod.ready" } | { type: "pod.pending"; reason: string } | { type: "pod.failed"; error: string }) => void): () => void {
  let stopped = false;
  let lastReason: string | undefined;
  void (async () => {
    while (!stopped) {
      let reason: string;
      try {
        const pod = await ctx.cluster.readPod(ctx.namespace, podName);
        if (stopped) return;
        if (pod === undefined) return send({ type: "pod.failed", error: "the pod was deleted" });
        if (pod.ready) return send({ type: "pod.ready" });
        if (pod.waiting && FATAL_WAITING.test(pod.waiting)) return send({ type: "pod.failed", error: pod.waiting });
        reason = pod.unschedulable ?? pod.waiting ?? `phase ${pod.phase}`;
      } catch (error) {
        reason = `cannot read the pod: ${errorMessage(error)}`;
      }
      if (stopped) return;
      if (reason !== lastReason) send({ type: "pod.pending", reason });
      lastReason = reason;
      await ctx.sleep(ctx.pollMs);
    }
  })();
  return () => {
    stopped = true;
  };
}

export async function podExists(ctx: StepContext, podName: string): Promise<boolean> {
  const pod = await ctx.cluster.readPod(ctx.namespace, podName);
  // An evicted pod stays as an object (phase Failed) but will never run again: it counts as gone.
  return pod !== undefined && !pod.deleting && pod.phase !== "Failed" && pod.phase !== "Succeeded" && ownedBy(ctx, pod.labels);
}
