import type { UndoStep } from "../actors/expose-machine.js";
import { errorMessage } from "../errors.js";
import type { ExposeCluster, PodInfo, WorkloadRef, WorkloadState } from "../kube/expose-cluster.js";
import type { NewEvent } from "../store/events.js";
import type { ReversePlan } from "../transports/transport.js";
import { ANNOTATION_ORIGINAL_REPLICAS, ANNOTATION_OWNER, ANNOTATION_SESSION, LABEL_SESSION } from "./identity.js";
import { proxyLabels, proxyPodManifest } from "./proxy-pod.js";
import type { ExposePlan } from "./resolve.js";

/** How one session changes the cluster. Every mutation is an intent, then the call, then its outcome. */
export interface StepContext {
  cluster: ExposeCluster;
  sessionId: string;
  owner: string;
  namespace: string;
  service: string;
  image: string;
  runAsUser: number;
  reverse: ReversePlan;
  overrides?: Record<string, unknown>;
  record: (event: NewEvent) => void;
  /** Pod status polling and leftover-pod waits. */
  pollMs: number;
  sleep: (ms: number) => Promise<void>;
}

/** Waiting reasons that will not heal by themselves: fail fast instead of waiting out the timeout. */
const FATAL_WAITING = /^(ImagePullBackOff|InvalidImageName|ErrImageNeverPull|CreateContainerConfigError|CreateContainerError|CrashLoopBackOff|RunContainerError)\b/;

export function workloadTarget(ref: WorkloadRef): string {
  return `${ref.kind}/${ref.name}`;
}

async function mutate<T>(ctx: StepContext, action: string, target: string, original: Record<string, unknown> | undefined, run: () => Promise<T>, result?: (value: T) => Record<string, unknown>): Promise<T> {
  const service = ctx.service;
  ctx.record({ type: "expose.intent", data: { service, action, target, ...(original ? { original } : {}) } });
  try {
    const value = await run();
    ctx.record({ type: "expose.outcome", data: { service, action, target, ok: true, ...(result ? { result: result(value) } : {}) } });
    return value;
  } catch (error) {
    ctx.record({ type: "expose.outcome", data: { service, action, target, ok: false, error: errorMessage(error) } });
    throw error;
  }
}

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

const CONFLICT_ATTEMPTS = 5;

/**
 * The annotation is the claim on the workload: conditional on the resourceVersion, so two loc
 * sessions racing for one workload cannot both win (the loser sees the winner's annotation).
 */
async function annotateIfFree(ctx: StepContext, workload: WorkloadState): Promise<WorkloadState> {
  const claim = { [ANNOTATION_SESSION]: ctx.sessionId, [ANNOTATION_OWNER]: ctx.owner, [ANNOTATION_ORIGINAL_REPLICAS]: String(workload.replicas) };
  let version = workload.resourceVersion;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await ctx.cluster.patchWorkloadAnnotations(workload.ref, workload.uid, claim, version);
    } catch (error) {
      if (statusOf(error) !== 409 || attempt >= CONFLICT_ATTEMPTS) throw error;
      const now = await sameWorkload(ctx, workload.ref, workload.uid, error);
      const holder = now.annotations[ANNOTATION_SESSION];
      if (holder) throw new Error(`${workloadTarget(workload.ref)} was claimed meanwhile by loc session ${holder} (owner ${now.annotations[ANNOTATION_OWNER] ?? "unknown"})`, { cause: error });
      if (now.replicas !== workload.replicas) throw new Error(`${workloadTarget(workload.ref)} was scaled to ${now.replicas} by someone else meanwhile`, { cause: error });
      version = now.resourceVersion;
    }
  }
}

/**
 * Scales conditionally on the resourceVersion. A conflict is retried only while the workload is the
 * same object, still claimed by this session, with the replicas loc expects: a Deployment's
 * controller writes its status right after loc's annotation (the generation moved), which is not a
 * reason to give up; someone else's scale or claim is.
 */
async function scaleIfUnchanged(ctx: StepContext, ref: WorkloadRef, uid: string, expected: number, replicas: number, resourceVersion: string): Promise<WorkloadState> {
  let version = resourceVersion;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await ctx.cluster.scaleWorkload(ref, replicas, version);
    } catch (error) {
      if (statusOf(error) !== 409 || attempt >= CONFLICT_ATTEMPTS) throw error;
      const now = await sameWorkload(ctx, ref, uid, error);
      if (now.annotations[ANNOTATION_SESSION] !== ctx.sessionId) throw new Error(`${workloadTarget(ref)} is no longer claimed by this session`, { cause: error });
      if (now.replicas !== expected) throw new Error(`${workloadTarget(ref)} was scaled to ${now.replicas} by someone else meanwhile`, { cause: error });
      version = now.resourceVersion;
    }
  }
}

async function sameWorkload(ctx: StepContext, ref: WorkloadRef, uid: string, cause: unknown): Promise<WorkloadState> {
  const now = await ctx.cluster.readWorkload(ref);
  if (!now || now.uid !== uid) throw new Error(`${workloadTarget(ref)} was deleted or replaced meanwhile`, { cause });
  return now;
}

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
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
    selector: plan.selector,
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
    if (!ours(ctx, leftover.labels)) throw new Error(`a pod named ${podName} exists and is not this session's`);
    if (waited >= LEFTOVER_WAIT_MS) throw new Error(`the previous proxy pod ${podName} is still terminating after ${LEFTOVER_WAIT_MS / 1000} s`);
    if (waited === 0) await deletePod(ctx, leftover);
    await ctx.sleep(ctx.pollMs);
  }
  // Its Secret may remain (it owns the pod, not the other way round); it is recreated below.
  await deleteConfig(ctx, podName);
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
  return pod !== undefined && !pod.deleting && pod.phase !== "Failed" && pod.phase !== "Succeeded" && ours(ctx, pod.labels);
}

export async function undo(ctx: StepContext, step: UndoStep, podName: string): Promise<void> {
  if (step.kind === "deleteProxy") {
    const pod = await ctx.cluster.readPod(ctx.namespace, podName);
    if (pod && ours(ctx, pod.labels)) await deletePod(ctx, pod);
    await deleteConfig(ctx, podName);
    return;
  }
  await restoreWorkload(ctx, step.workload);
}

async function deletePod(ctx: StepContext, pod: PodInfo): Promise<void> {
  await mutate(ctx, "deletePod", `Pod/${pod.name}`, { uid: pod.uid }, () => ctx.cluster.deletePod(ctx.namespace, pod.name, pod.uid), (r) => ({ result: r }));
}

/** The session's Secret (it holds the proxy's host key): deleted by uid, and only if it is this session's. */
async function deleteConfig(ctx: StepContext, name: string): Promise<void> {
  const config = await ctx.cluster.readSecret(ctx.namespace, name);
  if (!config || !ours(ctx, config.labels)) return;
  await mutate(ctx, "deleteConfig", `Secret/${name}`, { uid: config.uid }, () => ctx.cluster.deleteSecret(ctx.namespace, name, config.uid), (r) => ({ result: r }));
}

/**
 * Back to the recorded replicas, unless someone changed them meanwhile (then leave them and warn),
 * and loc's annotations off. Safe to run when the scale never happened or already was undone.
 */
export async function restoreWorkload(ctx: StepContext, original: WorkloadState): Promise<void> {
  const target = workloadTarget(original.ref);
  const now = await ctx.cluster.readWorkload(original.ref);
  if (!now || now.uid !== original.uid) {
    ctx.record({ type: "expose.warning", data: { service: ctx.service, message: `${target} was deleted or replaced while exposed; left as it is` } });
    return;
  }
  if (now.annotations[ANNOTATION_SESSION] !== ctx.sessionId) {
    // Never claimed (the annotate failed), or claimed by another session: its replicas are not ours to set.
    if (now.replicas !== original.replicas) {
      const holder = now.annotations[ANNOTATION_SESSION];
      const why = holder ? `it is claimed by loc session ${holder}` : "it does not carry this session's annotation";
      ctx.record({ type: "expose.warning", data: { service: ctx.service, message: `${target} is at ${now.replicas} replicas (it had ${original.replicas}) and ${why}; left as it is` } });
    }
    return;
  }
  let current = now;
  if (now.replicas === 0 && original.replicas !== 0) {
    current = await mutate(
      ctx,
      "restoreScale",
      target,
      { replicas: 0, to: original.replicas, uid: now.uid, resourceVersion: now.resourceVersion },
      () => scaleIfUnchanged(ctx, original.ref, original.uid, 0, original.replicas, now.resourceVersion),
      (after) => ({ replicas: after.replicas }),
    );
  } else if (now.replicas !== original.replicas) {
    ctx.record({
      type: "expose.warning",
      data: { service: ctx.service, message: `${target} was scaled to ${now.replicas} by someone else while exposed; left at ${now.replicas} (it had ${original.replicas})` },
    });
  }
  await mutate(ctx, "removeAnnotations", target, { uid: current.uid, annotations: locAnnotations(current.annotations) }, () =>
    ctx.cluster.patchWorkloadAnnotations(original.ref, current.uid, { [ANNOTATION_SESSION]: null, [ANNOTATION_OWNER]: null, [ANNOTATION_ORIGINAL_REPLICAS]: null }),
  );
}

function ours(ctx: StepContext, labels: Record<string, string>): boolean {
  return labels[LABEL_SESSION] === ctx.sessionId;
}

function locAnnotations(annotations: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(annotations).filter(([key]) => key.startsWith("loc.dev/")));
}
