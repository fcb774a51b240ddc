import { createHash, randomUUID } from "node:crypto";
import { KubeRequestError } from "../../src/kube/cluster-port.js";
import type { OwnerReference, PodInfo, PodManifest, WorkloadKind, WorkloadRef, WorkloadState } from "../../src/kube/expose-cluster.js";
import type { ServiceObject } from "../../src/kube/service-model.js";

/**
 * The object store behind MemoryExposeCluster, with the controllers' behaviour folded in
 * synchronously: a Deployment owns one ReplicaSet that owns pods `<rs>-<n>`, a StatefulSet owns
 * pods `<name>-<ordinal>`, and changing replicas (or deleting a controlled pod) reconciles the pods
 * at once. Deleting an object garbage-collects what it owns (pods, Secrets). Every write takes the next
 * resourceVersion from one counter, as etcd's revision does; a change of generation (replicas, or a
 * Deployment's annotations) is followed by the controller's status write, another version.
 */
export interface Meta {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  ownerReferences: OwnerReference[];
}

export interface StoredWorkload {
  kind: WorkloadKind;
  meta: Meta;
  replicas: number;
  podLabels: Record<string, string>;
  /** Named container ports of the pod template. */
  containerPorts: Record<string, number>;
  /** Deployments: the ReplicaSet's name. */
  replicaSet?: string;
}

export interface StoredReplicaSet {
  meta: Meta;
  nextPod: number;
}

export type PodStatus = Pick<PodInfo, "phase" | "ready" | "deleting" | "unschedulable" | "waiting">;

export interface StoredPod {
  meta: Meta;
  status: PodStatus;
  containerPorts: Record<string, number>;
  manifest?: PodManifest;
}

export interface StoredSecret {
  meta: Meta;
  type: string;
  data: Record<string, string>;
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const key = (namespace: string, name: string): string => `${namespace}/${name}`;
export const workloadKey = (ref: WorkloadRef): string => `${ref.kind}/${ref.namespace}/${ref.name}`;
/** The resource as the API server names it in messages, e.g. `deployments.apps "web"`. */
export const resourceName = (kind: string, name: string): string =>
  `${{ Deployment: "deployments.apps", StatefulSet: "statefulsets.apps", ReplicaSet: "replicasets.apps", Pod: "pods", Secret: "secrets", Service: "services" }[kind] ?? kind.toLowerCase()} "${name}"`;

export const notFound = (kind: string, name: string): KubeRequestError => new KubeRequestError(`${resourceName(kind, name)} not found`, 404);

export function validateName(kind: string, name: string): void {
  if (name.length > 253 || !NAME.test(name)) {
    throw new KubeRequestError(`${kind} "${name}" is invalid: metadata.name: Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`, 422);
  }
}

export class MemoryObjects {
  private version = 0;
  readonly namespaces = new Set<string>();
  readonly services = new Map<string, ServiceObject>();
  readonly workloads = new Map<string, StoredWorkload>();
  readonly replicaSets = new Map<string, StoredReplicaSet>();
  readonly pods = new Map<string, StoredPod>();
  readonly secrets = new Map<string, StoredSecret>();
  podReadiness: "auto" | "never" = "auto";

  nextVersion(): string {
    return String(++this.version);
  }

  newMeta(namespace: string, name: string, labels: Record<string, string>, ownerReferences: OwnerReference[] = []): Meta {
    return { namespace, name, uid: randomUUID(), resourceVersion: this.nextVersion(), labels: { ...labels }, annotations: {}, ownerReferences: structuredClone(ownerReferences) };
  }

  requireNamespace(namespace: string): void {
    if (!this.namespaces.has(namespace)) throw new KubeRequestError(`namespaces "${namespace}" not found`, 404);
  }

  addPod(namespace: string, name: string, labels: Record<string, string>, owners: OwnerReference[], containerPorts: Record<string, number>, manifest?: PodManifest): StoredPod {
    const ready = this.podReadiness === "auto";
    const status: PodStatus = { phase: ready ? "Running" : "Pending", ready, deleting: false };
    const pod: StoredPod = { meta: this.newMeta(namespace, name, labels, owners), status, containerPorts: { ...containerPorts }, manifest };
    this.pods.set(key(namespace, name), pod);
    return pod;
  }

  /** Removes a pod now (grace period 0), collects what it owns and lets its controller replace it. */
  removePod(pod: StoredPod): void {
    this.pods.delete(key(pod.meta.namespace, pod.meta.name));
    this.collectDependents(pod.meta.uid);
    const controller = pod.meta.ownerReferences.find((o) => o.controller);
    if (!controller) return;
    const owner =
      controller.kind === "ReplicaSet"
        ? [...this.workloads.values()].find((w) => w.replicaSet === controller.name && w.meta.namespace === pod.meta.namespace)
        : this.workloads.get(workloadKey({ kind: "StatefulSet", namespace: pod.meta.namespace, name: controller.name }));
    if (owner) this.reconcile(owner);
  }

  /**
   * The garbage collector: objects whose owner (by uid) no longer exists go too, whatever the
   * owner's kind (a proxy pod is owned by its session's Secret, a Secret may be owned by a pod).
   */
  collectDependents(ownerUid: string): void {
    const ownedBy = (meta: Meta) => meta.ownerReferences.some((o) => o.uid === ownerUid);
    for (const [k, secret] of this.secrets) if (ownedBy(secret.meta)) this.secrets.delete(k);
    for (const pod of [...this.pods.values()]) if (ownedBy(pod.meta)) this.removePod(pod);
  }

  isLive(uid: string): boolean {
    return [...this.pods.values()].some((p) => p.meta.uid === uid);
  }

  addWorkload(kind: WorkloadKind, namespace: string, name: string, replicas: number, podLabels: Record<string, string>, containerPorts: Record<string, number>): StoredWorkload {
    this.namespaces.add(namespace);
    const ref = { kind, namespace, name };
    if (this.workloads.has(workloadKey(ref))) throw new KubeRequestError(`${resourceName(kind, name)} already exists`, 409);
    const workload: StoredWorkload = { kind, meta: this.newMeta(namespace, name, {}), replicas, podLabels: { ...podLabels }, containerPorts: { ...containerPorts } };
    if (kind === "Deployment") {
      workload.meta.annotations["deployment.kubernetes.io/revision"] = "1";
      const hash = createHash("sha256").update(`${namespace}/${name}/${workload.meta.uid}`).digest("hex").slice(0, 10);
      const owner = { apiVersion: "apps/v1", kind, name, uid: workload.meta.uid, controller: true };
      const rs: StoredReplicaSet = { meta: this.newMeta(namespace, `${name}-${hash}`, { ...podLabels, "pod-template-hash": hash }, [owner]), nextPod: 0 };
      this.replicaSets.set(key(namespace, rs.meta.name), rs);
      workload.replicaSet = rs.meta.name;
    }
    this.workloads.set(workloadKey(ref), workload);
    this.reconcile(workload);
    return workload;
  }

  removeWorkload(workload: StoredWorkload): void {
    const { namespace } = workload.meta;
    this.workloads.delete(workloadKey({ kind: workload.kind, namespace, name: workload.meta.name }));
    if (workload.replicaSet) this.replicaSets.delete(key(namespace, workload.replicaSet));
    for (const pod of this.controlledPods(workload)) this.removePod(pod);
  }

  /** What the Deployment/ReplicaSet and StatefulSet controllers do: make the pods match replicas. */
  reconcile(workload: StoredWorkload): void {
    const { namespace, name } = workload.meta;
    const pods = this.controlledPods(workload);
    if (workload.kind === "StatefulSet") {
      const owner = { apiVersion: "apps/v1", kind: "StatefulSet", name, uid: workload.meta.uid, controller: true };
      for (let ordinal = 0; ordinal < workload.replicas; ordinal++) {
        const podName = `${name}-${ordinal}`;
        if (this.pods.has(key(namespace, podName))) continue;
        const labels = { ...workload.podLabels, "statefulset.kubernetes.io/pod-name": podName, "apps.kubernetes.io/pod-index": String(ordinal) };
        this.addPod(namespace, podName, labels, [owner], workload.containerPorts);
      }
      for (const pod of pods) if (Number(pod.meta.labels["apps.kubernetes.io/pod-index"]) >= workload.replicas) this.deleteQuietly(pod);
      return;
    }
    const rs = this.replicaSets.get(key(namespace, workload.replicaSet ?? ""));
    if (!rs) return;
    const owner = { apiVersion: "apps/v1", kind: "ReplicaSet", name: rs.meta.name, uid: rs.meta.uid, controller: true };
    for (let missing = workload.replicas - pods.length; missing > 0; missing--) {
      this.addPod(namespace, `${rs.meta.name}-${rs.nextPod++}`, rs.meta.labels, [owner], workload.containerPorts);
    }
    for (const pod of pods.slice(workload.replicas).reverse()) this.deleteQuietly(pod);
  }

  /**
   * The state as written, then the controller's status write for the new generation, which on a
   * real cluster follows within milliseconds: the returned resourceVersion is already stale.
   */
  afterStatusWrite(workload: StoredWorkload): WorkloadState {
    const written = this.state(workload);
    workload.meta.resourceVersion = this.nextVersion();
    return written;
  }

  controlledPods(workload: StoredWorkload): StoredPod[] {
    const ownerName = workload.kind === "Deployment" ? workload.replicaSet : workload.meta.name;
    const ownerKind = workload.kind === "Deployment" ? "ReplicaSet" : "StatefulSet";
    return [...this.pods.values()]
      .filter((p) => p.meta.namespace === workload.meta.namespace && p.meta.ownerReferences.some((o) => o.controller && o.kind === ownerKind && o.name === ownerName))
      .sort((a, b) => a.meta.name.localeCompare(b.meta.name, "en", { numeric: true }));
  }

  state(workload: StoredWorkload): WorkloadState {
    const { namespace, name, uid, resourceVersion, annotations } = workload.meta;
    return { ref: { kind: workload.kind, namespace, name }, uid, resourceVersion, replicas: workload.replicas, annotations: { ...annotations } };
  }

  podInfo(pod: StoredPod): PodInfo {
    const { namespace, name, uid, labels, ownerReferences } = pod.meta;
    const { unschedulable, waiting, ...status } = pod.status;
    return {
      namespace,
      name,
      uid,
      labels: { ...labels },
      ownerReferences: structuredClone(ownerReferences),
      ...status,
      ...(unschedulable ? { unschedulable } : {}),
      ...(waiting ? { waiting } : {}),
      containerPorts: { ...pod.containerPorts },
    };
  }

  private deleteQuietly(pod: StoredPod): void {
    this.pods.delete(key(pod.meta.namespace, pod.meta.name));
    this.collectDependents(pod.meta.uid);
  }
}

/** Kubernetes label selector strings: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`. */
export function parseSelector(selector: string): (labels: Record<string, string>) => boolean {
  const terms = selector.match(/[^,(]+(\([^)]*\))?/g) ?? [];
  const tests = terms
    .map((t) => t.trim())
    .filter(Boolean)
    .map((term): ((labels: Record<string, string>) => boolean) => {
      let m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(term);
      if (m) {
        const [, k = "", op, v] = m;
        return op === "!=" ? (l) => l[k] !== v : (l) => l[k] === v;
      }
      m = /^([\w./-]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
      if (m) {
        const [, k = "", op, list = ""] = m;
        const values = new Set(list.split(",").map((v) => v.trim()));
        return op === "in" ? (l) => l[k] !== undefined && values.has(l[k]) : (l) => l[k] === undefined || !values.has(l[k]);
      }
      m = /^(!?)([\w./-]+)$/.exec(term);
      if (m) {
        const [, not, k = ""] = m;
        return not ? (l) => !(k in l) : (l) => k in l;
      }
      throw new KubeRequestError(`unable to parse requirement: ${JSON.stringify(term)}`, 400);
    });
  return (labels) => tests.every((test) => test(labels));
}
