import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Deployment, type V1Pod, type V1PodSpec, type V1StatefulSet } from "@kubernetes/client-node";
import type { EnvCluster, EnvPod, EnvWorkload, EnvWorkloadKind } from "../env/env-cluster.js";
import type { PodSpecLike } from "../env/model.js";
import type { OwnerObject } from "./expose-cluster.js";
import { call, orUndefined } from "./kube-request-error.js";
import { listPodsMatching, readPod, readReplicaSetOwners, readService, toOwnerReference } from "./kube-objects.js";
import type { ServiceObject } from "./service-model.js";
import { makeTimedApiClient } from "./timed-api-client.js";

/** EnvCluster through the API server with the kubeconfig's credentials; every request bounded by `timeoutMs`. */
export class KubeEnvCluster implements EnvCluster {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;

  constructor(config: KubeConfig, timeoutMs: number) {
    this.core = makeTimedApiClient(config, CoreV1Api, timeoutMs);
    this.apps = makeTimedApiClient(config, AppsV1Api, timeoutMs);
  }

  async getService(namespace: string, name: string): Promise<ServiceObject | undefined> {
    const service = await readService(this.core, namespace, name);
    return service && { metadata: { name, namespace, uid: service.metadata?.uid }, spec: { selector: service.spec?.selector, type: service.spec?.type, ports: service.spec?.ports } };
  }

  async listPods(namespace: string, selector: Record<string, string>): Promise<EnvPod[]> {
    return (await listPodsMatching(this.core, namespace, selector)).map(toEnvPod);
  }

  async readPod(namespace: string, name: string): Promise<EnvPod | undefined> {
    const pod = await readPod(this.core, namespace, name);
    return pod && toEnvPod(pod);
  }

  readReplicaSet(namespace: string, name: string): Promise<OwnerObject | undefined> {
    return readReplicaSetOwners(this.apps, namespace, name);
  }

  async readWorkload(kind: EnvWorkloadKind, namespace: string, name: string): Promise<EnvWorkload | undefined> {
    const object = await orUndefined<V1Deployment | V1StatefulSet>(`read ${kind} ${namespace}/${name}`, () =>
      kind === "Deployment" ? this.apps.readNamespacedDeployment({ namespace, name }) : this.apps.readNamespacedStatefulSet({ namespace, name }),
    );
    return object && toEnvWorkload(kind, object);
  }

  async listWorkloads(namespace: string): Promise<EnvWorkload[]> {
    const [deployments, statefulSets] = await Promise.all([
      call(`list Deployments in ${namespace}`, () => this.apps.listNamespacedDeployment({ namespace })),
      call(`list StatefulSets in ${namespace}`, () => this.apps.listNamespacedStatefulSet({ namespace })),
    ]);
    return [...deployments.items.map((d) => toEnvWorkload("Deployment", d)), ...statefulSets.items.map((s) => toEnvWorkload("StatefulSet", s))];
  }

  async readConfigMap(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    const map = await orUndefined(`read ConfigMap ${namespace}/${name}`, () => this.core.readNamespacedConfigMap({ namespace, name }));
    return map && { ...map.data };
  }

  async readSecret(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    const secret = await orUndefined(`read Secret ${namespace}/${name}`, () => this.core.readNamespacedSecret({ namespace, name }));
    if (!secret) return undefined;
    return Object.fromEntries(Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, "base64").toString("utf8")]));
  }

  async readNodeAllocatable(name: string): Promise<Record<string, string> | undefined> {
    const node = await orUndefined(`read node ${name}`, () => this.core.readNode({ name }));
    return node?.status?.allocatable && { ...node.status.allocatable };
  }
}

function toEnvPod(pod: V1Pod): EnvPod {
  const status = pod.status ?? {};
  return {
    namespace: pod.metadata?.namespace ?? "",
    name: pod.metadata?.name ?? "",
    uid: pod.metadata?.uid ?? "",
    labels: { ...pod.metadata?.labels },
    annotations: { ...pod.metadata?.annotations },
    ownerReferences: (pod.metadata?.ownerReferences ?? []).map(toOwnerReference),
    spec: toPodSpec(pod.spec),
    phase: status.phase ?? "Pending",
    deleting: Boolean(pod.metadata?.deletionTimestamp),
    podIPs: (status.podIPs ?? []).map((ip) => ip.ip).filter(Boolean),
    hostIPs: (status.hostIPs ?? []).map((ip) => ip.ip ?? "").filter(Boolean),
  };
}

function toEnvWorkload(kind: EnvWorkloadKind, object: V1Deployment | V1StatefulSet): EnvWorkload {
  const template = object.spec?.template;
  return {
    kind,
    namespace: object.metadata?.namespace ?? "",
    name: object.metadata?.name ?? "",
    uid: object.metadata?.uid ?? "",
    matchLabels: { ...object.spec?.selector.matchLabels },
    template: { labels: { ...template?.metadata?.labels }, annotations: { ...template?.metadata?.annotations }, spec: toPodSpec(template?.spec) },
  };
}

/** The generated V1 types fit PodSpecLike field for field; quantities arrive as strings. */
function toPodSpec(spec: V1PodSpec | undefined): PodSpecLike {
  return (spec ?? { containers: [] }) as PodSpecLike;
}

