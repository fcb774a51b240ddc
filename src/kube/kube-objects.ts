import type { AppsV1Api, CoreV1Api, V1Deployment, V1OwnerReference, V1Pod, V1Service, V1StatefulSet } from "@kubernetes/client-node";
import type { OwnerObject, OwnerReference, PodInfo, WorkloadRef, WorkloadState } from "./expose-cluster.js";
import { call, orUndefined } from "./kube-request-error.js";
import type { ServiceObject } from "./service-model.js";

/**
 * client-node's generated objects read into loc's plain shapes, shared by the API adapters
 * (kube-expose-cluster.ts, kube-env-cluster.ts): each field is read one way, in one place.
 */

/** Container waiting reasons that are just "starting", not a problem worth reporting. */
const BENIGN_WAITING = new Set(["ContainerCreating", "PodInitializing"]);

/** `{ app: "web", tier: "fe" }` → `app=web,tier=fe`. */
export function labelSelectorOf(selector: Record<string, string>): string {
  return Object.entries(selector)
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
}

/** A Service as the API server has it, or undefined when it is missing. */
export function readService(core: CoreV1Api, namespace: string, name: string): Promise<V1Service | undefined> {
  return orUndefined(`read Service ${namespace}/${name}`, () => core.readNamespacedService({ namespace, name }));
}

/** The pods of `namespace` whose labels include all of `selector`. */
export async function listPodsMatching(core: CoreV1Api, namespace: string, selector: Record<string, string>): Promise<V1Pod[]> {
  const labelSelector = labelSelectorOf(selector);
  return (await call(`list pods ${labelSelector} in ${namespace}`, () => core.listNamespacedPod({ namespace, labelSelector }))).items;
}

export function readPod(core: CoreV1Api, namespace: string, name: string): Promise<V1Pod | undefined> {
  return orUndefined(`read pod ${namespace}/${name}`, () => core.readNamespacedPod({ namespace, name }));
}

/** A ReplicaSet's identity and owners (who controls it), or undefined when it is gone. */
export async function readReplicaSetOwners(apps: AppsV1Api, namespace: string, name: string): Promise<OwnerObject | undefined> {
  const rs = await orUndefined(`read ReplicaSet ${namespace}/${name}`, () => apps.readNamespacedReplicaSet({ namespace, name }));
  return (
    rs && {
      kind: "ReplicaSet",
      namespace: rs.metadata?.namespace ?? namespace,
      name: rs.metadata?.name ?? name,
      uid: rs.metadata?.uid ?? "",
      ownerReferences: (rs.metadata?.ownerReferences ?? []).map(toOwnerReference),
    }
  );
}

export function toOwnerReference(ref: V1OwnerReference): OwnerReference {
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    name: ref.name,
    uid: ref.uid,
    ...(ref.controller !== undefined ? { controller: ref.controller } : {}),
  };
}

export function toWorkloadState(ref: WorkloadRef, object: V1Deployment | V1StatefulSet): WorkloadState {
  return {
    ref: { ...ref },
    uid: object.metadata?.uid ?? "",
    resourceVersion: object.metadata?.resourceVersion ?? "",
    replicas: object.spec?.replicas ?? 0,
    annotations: { ...object.metadata?.annotations },
  };
}

export function toPodInfo(pod: V1Pod): PodInfo {
  const conditions = pod.status?.conditions ?? [];
  const scheduled = conditions.find((c) => c.type === "PodScheduled");
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const waiting = statuses.map((s) => s.state?.waiting).find((w) => w?.reason && !BENIGN_WAITING.has(w.reason));
  return {
    namespace: pod.metadata?.namespace ?? "",
    name: pod.metadata?.name ?? "",
    uid: pod.metadata?.uid ?? "",
    labels: { ...pod.metadata?.labels },
    ownerReferences: (pod.metadata?.ownerReferences ?? []).map(toOwnerReference),
    phase: pod.status?.phase ?? "Pending",
    ready: conditions.some((c) => c.type === "Ready" && c.status === "True"),
    deleting: Boolean(pod.metadata?.deletionTimestamp),
    ...(scheduled?.status === "False" ? { unschedulable: reasonAndMessage(scheduled.reason, scheduled.message) } : {}),
    ...(waiting ? { waiting: reasonAndMessage(waiting.reason, waiting.message) } : {}),
    containerPorts: containerPorts(pod),
  };
}

/** Named ports of all containers (init containers too, as sidecars may serve), name → number. */
function containerPorts(pod: V1Pod): Record<string, number> {
  const ports: Record<string, number> = {};
  for (const container of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    for (const port of container.ports ?? []) if (port.name) ports[port.name] = port.containerPort;
  }
  return ports;
}

function reasonAndMessage(reason: string | undefined, message: string | undefined): string {
  return message ? `${reason ?? "Unknown"}: ${message}` : (reason ?? "Unknown");
}

export function toServiceObject(service: V1Service): ServiceObject {
  const meta = service.metadata ?? {};
  const spec = service.spec ?? {};
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: meta.name,
      namespace: meta.namespace,
      uid: meta.uid,
      resourceVersion: meta.resourceVersion,
      ...(meta.labels ? { labels: { ...meta.labels } } : {}),
      ...(meta.annotations ? { annotations: { ...meta.annotations } } : {}),
    },
    spec: {
      ...(spec.type !== undefined ? { type: spec.type } : {}),
      ...(spec.clusterIP !== undefined ? { clusterIP: spec.clusterIP } : {}),
      ...(spec.selector !== undefined ? { selector: { ...spec.selector } } : {}),
      ...(spec.externalName !== undefined ? { externalName: spec.externalName } : {}),
      ports: (spec.ports ?? []).map((p) => ({
        ...(p.name !== undefined ? { name: p.name } : {}),
        port: p.port,
        ...(p.protocol !== undefined ? { protocol: p.protocol } : {}),
        ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
      })),
    },
  };
}
