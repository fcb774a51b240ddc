import { randomUUID } from "node:crypto";
import { KubeRequestError } from "../../src/kube/cluster-port.js";
import type {
  DeleteResult,
  ExposeCluster,
  OwnerObject,
  OwnerReference,
  PodInfo,
  PodManifest,
  SecretInfo,
  SecretManifest,
  WorkloadKind,
  WorkloadRef,
  WorkloadState,
} from "../../src/kube/expose-cluster.js";
import { MemoryObjects, key, notFound, parseSelector, resourceName, validateName, workloadKey, type PodStatus, type StoredPod, type StoredWorkload } from "./memory-workloads.js";
import type { ServiceObject } from "../../src/kube/service-model.js";

type Operation = keyof ExposeCluster;

interface Failure {
  operation: Operation;
  error: KubeRequestError;
  match?: (args: unknown[]) => boolean;
  /** "after": the request takes effect but its answer is lost (a timeout after the server acted). */
  when: "before" | "after";
}

export interface SecretView {
  name: string;
  uid: string;
  type: string;
  labels: Record<string, string>;
  data: Record<string, string>;
  ownerReferences: OwnerReference[];
}

/** A change someone else makes to a workload (kubectl, a GitOps controller); null removes an annotation. */
export interface WorkloadEdit {
  replicas?: number;
  annotations?: Record<string, string | null>;
}

/**
 * In-memory twin of ExposeCluster for unit and property tests, passing the same contract as
 * KubeExposeCluster: uids, one monotonically increasing resourceVersion counter, 409 on a stale
 * resourceVersion or a uid precondition, 404s, and controllers that act synchronously (see
 * memory-workloads.ts). Never a stand-in for the e2e proof against a real control plane.
 */
export class MemoryExposeCluster implements ExposeCluster {
  private readonly objects = new MemoryObjects();
  private readonly failures: Failure[] = [];
  private nextServiceIp = 1;
  /** Every call made through the ExposeCluster interface, in order (failed ones included). */
  readonly calls: { operation: Operation; args: unknown[] }[] = [];

  // --- seeding -----------------------------------------------------------------------------------

  addNamespace(namespace: string): void {
    this.objects.namespaces.add(namespace);
  }

  /** Stores a Service with the API server's defaults: uid, type ClusterIP, a cluster IP, TCP, targetPort = port. */
  addService(service: ServiceObject): ServiceObject {
    const namespace = service.metadata?.namespace;
    const name = service.metadata?.name;
    if (!namespace || !name) throw new Error("addService needs metadata.namespace and metadata.name");
    this.addNamespace(namespace);
    const stored = structuredClone(service);
    stored.metadata = { ...stored.metadata, uid: randomUUID(), resourceVersion: this.objects.nextVersion() };
    const spec = (stored.spec ??= {});
    spec.type ??= "ClusterIP";
    if (spec.type !== "ExternalName") spec.clusterIP ??= `10.96.${Math.floor(this.nextServiceIp / 250)}.${(this.nextServiceIp++ % 250) + 1}`;
    spec.ports = (spec.ports ?? []).map((p) => ({ ...p, protocol: p.protocol ?? "TCP", targetPort: p.targetPort ?? p.port }));
    this.objects.services.set(key(namespace, name), stored);
    return structuredClone(stored);
  }

  /** A Deployment with its ReplicaSet `<name>-<hash>` and pods `<rs>-<n>`. */
  addDeployment(namespace: string, name: string, replicas: number, podLabels: Record<string, string>, containerPorts: Record<string, number> = {}): WorkloadState {
    return this.objects.state(this.objects.addWorkload("Deployment", namespace, name, replicas, podLabels, containerPorts));
  }

  /** A StatefulSet with pods `<name>-<ordinal>`. */
  addStatefulSet(namespace: string, name: string, replicas: number, podLabels: Record<string, string>, containerPorts: Record<string, number> = {}): WorkloadState {
    return this.objects.state(this.objects.addWorkload("StatefulSet", namespace, name, replicas, podLabels, containerPorts));
  }

  /** A pod no controller manages (or one with made-up owners). */
  addBarePod(namespace: string, name: string, labels: Record<string, string>, owners: OwnerReference[] = [], containerPorts: Record<string, number> = {}): PodInfo {
    this.addNamespace(namespace);
    if (this.objects.pods.has(key(namespace, name))) throw new Error(`pod ${namespace}/${name} exists`);
    return this.objects.podInfo(this.objects.addPod(namespace, name, labels, owners, containerPorts));
  }

  // --- inspection and simulation -----------------------------------------------------------------

  workload(ref: WorkloadRef): WorkloadState | undefined {
    const workload = this.objects.workloads.get(workloadKey(ref));
    return workload && this.objects.state(workload);
  }

  pod(namespace: string, name: string): PodInfo | undefined {
    const pod = this.objects.pods.get(key(namespace, name));
    return pod && this.objects.podInfo(pod);
  }

  /** The manifest a pod was created from through createPod (undefined for seeded/controller pods). */
  podManifest(namespace: string, name: string): PodManifest | undefined {
    return structuredClone(this.objects.pods.get(key(namespace, name))?.manifest);
  }

  /** All pods of a namespace, sorted by name. */
  pods(namespace: string): PodInfo[] {
    return this.sortedPods((p) => p.meta.namespace === namespace);
  }

  secrets(namespace: string): SecretView[] {
    return [...this.objects.secrets.values()]
      .filter((s) => s.meta.namespace === namespace)
      .sort((a, b) => a.meta.name.localeCompare(b.meta.name))
      .map(({ meta, type, data }) => ({ name: meta.name, uid: meta.uid, type, labels: { ...meta.labels }, data: { ...data }, ownerReferences: structuredClone(meta.ownerReferences) }));
  }

  /**
   * The next call of `operation` (whose arguments satisfy `match`) fails with `error`. By default it
   * fails before doing anything; with when "after" it takes effect and then fails.
   */
  failNext(operation: Operation, error: KubeRequestError, match?: (args: unknown[]) => boolean, when: "before" | "after" = "before"): void {
    this.failures.push({ operation, error, match, when });
  }

  /** Someone else edits the workload: always a new resourceVersion; replicas changes reconcile the pods. */
  editWorkload(ref: WorkloadRef, change: WorkloadEdit = {}): WorkloadState {
    const workload = this.mustFindWorkload(ref);
    if (change.annotations) mergeAnnotations(workload.meta.annotations, change.annotations);
    if (change.replicas !== undefined) workload.replicas = change.replicas;
    workload.meta.resourceVersion = this.objects.nextVersion();
    this.objects.reconcile(workload);
    return this.objects.state(workload);
  }

  /** Someone deletes and recreates the workload under the same name: new uid, no annotations, fresh pods. */
  recreateWorkload(ref: WorkloadRef): WorkloadState {
    const old = this.mustFindWorkload(ref);
    this.objects.removeWorkload(old);
    return this.objects.state(this.objects.addWorkload(ref.kind, ref.namespace, ref.name, old.replicas, old.podLabels, old.containerPorts));
  }

  /** Whether pods created from now on (by createPod or by controllers) become Ready at once. */
  setPodReadiness(mode: "auto" | "never"): void {
    this.objects.podReadiness = mode;
  }

  /** What kwok/the kubelet would report; null clears unschedulable/waiting. Ready pods are Running. */
  setPodStatus(namespace: string, name: string, status: { ready?: boolean; unschedulable?: string | null; waiting?: string | null; phase?: string }): PodInfo {
    const pod = this.objects.pods.get(key(namespace, name));
    if (!pod) throw new Error(`no pod ${namespace}/${name}`);
    const next: PodStatus = { ...pod.status };
    if (status.ready !== undefined) next.ready = status.ready;
    next.phase = status.phase ?? (status.ready === undefined ? next.phase : status.ready ? "Running" : "Pending");
    for (const field of ["unschedulable", "waiting"] as const) {
      const value = status[field];
      if (value === null) delete next[field];
      else if (value !== undefined) next[field] = value;
    }
    pod.status = next;
    pod.meta.resourceVersion = this.objects.nextVersion();
    return this.objects.podInfo(pod);
  }

  // --- ExposeCluster -----------------------------------------------------------------------------

  namespaceExists(namespace: string): Promise<boolean> {
    return this.run("namespaceExists", [namespace], () => this.objects.namespaces.has(namespace));
  }

  getService(namespace: string, name: string): Promise<ServiceObject | undefined> {
    return this.run("getService", [namespace, name], () => structuredClone(this.objects.services.get(key(namespace, name))));
  }

  listPods(namespace: string, selector: Record<string, string>): Promise<PodInfo[]> {
    return this.run("listPods", [namespace, selector], () =>
      this.sortedPods((p) => p.meta.namespace === namespace && Object.entries(selector).every(([k, v]) => p.meta.labels[k] === v)),
    );
  }

  findPods(labelSelector: string, namespace?: string): Promise<PodInfo[]> {
    return this.run("findPods", [labelSelector, namespace], () => {
      const matches = parseSelector(labelSelector);
      return this.sortedPods((p) => (namespace === undefined || p.meta.namespace === namespace) && matches(p.meta.labels));
    });
  }

  readPod(namespace: string, name: string): Promise<PodInfo | undefined> {
    return this.run("readPod", [namespace, name], () => this.pod(namespace, name));
  }

  readReplicaSet(namespace: string, name: string): Promise<OwnerObject | undefined> {
    return this.run("readReplicaSet", [namespace, name], () => {
      const rs = this.objects.replicaSets.get(key(namespace, name));
      return rs && { kind: "ReplicaSet", namespace, name, uid: rs.meta.uid, ownerReferences: structuredClone(rs.meta.ownerReferences) };
    });
  }

  readWorkload(ref: WorkloadRef): Promise<WorkloadState | undefined> {
    return this.run("readWorkload", [ref], () => this.workload(ref));
  }

  scaleWorkload(ref: WorkloadRef, replicas: number, resourceVersion: string): Promise<WorkloadState> {
    return this.run("scaleWorkload", [ref, replicas, resourceVersion], () => {
      const workload = this.objects.workloads.get(workloadKey(ref));
      if (!workload) throw notFound(ref.kind, ref.name);
      if (workload.meta.resourceVersion !== resourceVersion) throw modified(ref.kind, ref.name);
      if (!Number.isInteger(replicas) || replicas < 0) {
        throw new KubeRequestError(`Scale.autoscaling "${ref.name}" is invalid: spec.replicas: Invalid value: ${replicas}: must be greater than or equal to 0`, 422);
      }
      // An update that changes nothing is not written: the resourceVersion stays.
      if (workload.replicas === replicas) return this.objects.state(workload);
      workload.replicas = replicas;
      workload.meta.resourceVersion = this.objects.nextVersion();
      this.objects.reconcile(workload);
      return this.objects.afterStatusWrite(workload);
    });
  }

  patchWorkloadAnnotations(ref: WorkloadRef, uid: string, annotations: Record<string, string | null>, resourceVersion?: string): Promise<WorkloadState> {
    return this.run("patchWorkloadAnnotations", [ref, uid, annotations, resourceVersion], () => {
      const workload = this.objects.workloads.get(workloadKey(ref));
      if (!workload) throw notFound(ref.kind, ref.name);
      if (workload.meta.uid !== uid) throw uidPrecondition(ref.kind, `${ref.namespace}/${ref.name}`, uid);
      if (resourceVersion !== undefined && workload.meta.resourceVersion !== resourceVersion) throw modified(ref.kind, ref.name);
      const before = JSON.stringify(workload.meta.annotations);
      mergeAnnotations(workload.meta.annotations, annotations);
      if (JSON.stringify(workload.meta.annotations) === before) return this.objects.state(workload);
      workload.meta.resourceVersion = this.objects.nextVersion();
      // A Deployment's generation moves with its annotations; a StatefulSet's does not.
      return workload.kind === "Deployment" ? this.objects.afterStatusWrite(workload) : this.objects.state(workload);
    });
  }

  createPod(namespace: string, manifest: PodManifest): Promise<PodInfo> {
    return this.run("createPod", [namespace, manifest], () => {
      const { name, labels } = manifest.metadata;
      validateName("Pod", name);
      this.objects.requireNamespace(namespace);
      type Container = { ports?: { name?: string; containerPort: number }[] };
      const spec = manifest.spec as { containers?: Container[]; initContainers?: Container[] } | undefined;
      const containers = spec?.containers;
      if (!Array.isArray(containers) || containers.length === 0) {
        throw new KubeRequestError(`Pod "${name}" is invalid: spec.containers: Required value`, 422);
      }
      if (this.objects.pods.has(key(namespace, name))) throw alreadyExists("Pod", name);
      const owners = ((manifest.metadata as { ownerReferences?: OwnerReference[] }).ownerReferences ?? []).map((o) => ({ ...o }));
      // Named ports of init containers (sidecars) too; a regular container's wins a clash.
      const all = [...(spec?.initContainers ?? []), ...containers].flatMap((c) => c.ports ?? []);
      const ports = Object.fromEntries(all.flatMap((p) => (p.name ? [[p.name, p.containerPort]] : [])));
      return this.objects.podInfo(this.objects.addPod(namespace, name, labels, owners, ports, structuredClone(manifest)));
    });
  }

  deletePod(namespace: string, name: string, uid: string): Promise<DeleteResult> {
    return this.run("deletePod", [namespace, name, uid], () => {
      const pod = this.objects.pods.get(key(namespace, name));
      if (!pod || pod.meta.uid !== uid) return "gone";
      this.objects.removePod(pod);
      return "deleted";
    });
  }

  createSecret(namespace: string, secret: SecretManifest): Promise<{ name: string; uid: string }> {
    return this.run("createSecret", [namespace, secret], () => {
      validateName("Secret", secret.name);
      this.objects.requireNamespace(namespace);
      if (this.objects.secrets.has(key(namespace, secret.name))) throw alreadyExists("Secret", secret.name);
      const owners = secret.ownerPod ? [{ apiVersion: "v1", kind: "Pod", name: secret.ownerPod.name, uid: secret.ownerPod.uid }] : [];
      const meta = this.objects.newMeta(namespace, secret.name, secret.labels, owners);
      this.objects.secrets.set(key(namespace, secret.name), { meta, type: "Opaque", data: { ...secret.data } });
      // The garbage collector removes a dependent whose owner does not exist (at once, here).
      if (secret.ownerPod && !this.objects.isLive(secret.ownerPod.uid)) this.objects.collectDependents(secret.ownerPod.uid);
      return { name: secret.name, uid: meta.uid };
    });
  }

  readSecret(namespace: string, name: string): Promise<{ uid: string; labels: Record<string, string> } | undefined> {
    return this.run("readSecret", [namespace, name], () => {
      const secret = this.objects.secrets.get(key(namespace, name));
      return secret && { uid: secret.meta.uid, labels: { ...secret.meta.labels } };
    });
  }

  deleteSecret(namespace: string, name: string, uid: string): Promise<DeleteResult> {
    return this.run("deleteSecret", [namespace, name, uid], () => {
      const secret = this.objects.secrets.get(key(namespace, name));
      if (!secret || secret.meta.uid !== uid) return "gone";
      this.objects.secrets.delete(key(namespace, name));
      this.objects.collectDependents(uid);
      return "deleted";
    });
  }

  patchService(namespace: string, name: string, uid: string, resourceVersion: string, change: { selector: Record<string, string>; annotations: Record<string, string | null> }): Promise<ServiceObject> {
    return this.run("patchService", [namespace, name, uid, resourceVersion, change], () => {
      const service = this.objects.services.get(key(namespace, name));
      if (!service) throw notFound("Service", name);
      const meta = (service.metadata ??= {});
      if (meta.uid !== uid) throw new KubeRequestError(`patch Service ${namespace}/${name}: precondition failed: uid ${uid} is not the current object's`, 409);
      if (meta.resourceVersion !== resourceVersion) throw new KubeRequestError(`Operation cannot be fulfilled on services "${name}": the object has been modified; please apply your changes to the latest version and try again`, 409);
      const annotations = { ...(meta.annotations as Record<string, string> | undefined) };
      mergeAnnotations(annotations, change.annotations);
      meta.annotations = annotations;
      service.spec = { ...service.spec, selector: { ...change.selector } };
      meta.resourceVersion = this.objects.nextVersion();
      return structuredClone(service);
    });
  }

  findSecrets(labelSelector: string, namespace?: string): Promise<SecretInfo[]> {
    return this.run("findSecrets", [labelSelector, namespace], () => {
      const matches = parseSelector(labelSelector);
      return [...this.objects.secrets.values()]
        .filter((s) => (namespace === undefined || s.meta.namespace === namespace) && matches(s.meta.labels))
        .map((s) => ({ namespace: s.meta.namespace, name: s.meta.name, uid: s.meta.uid, labels: { ...s.meta.labels } }));
    });
  }

  findWorkloads(namespace?: string): Promise<WorkloadState[]> {
    return this.run("findWorkloads", [namespace], () =>
      [...this.objects.workloads.values()].filter((w) => namespace === undefined || w.meta.namespace === namespace).map((w) => this.objects.state(w)),
    );
  }

  findServices(namespace?: string): Promise<ServiceObject[]> {
    return this.run("findServices", [namespace], () => [...this.objects.services.values()].filter((s) => namespace === undefined || s.metadata?.namespace === namespace).map((s) => structuredClone(s)));
  }

  // --- internals ---------------------------------------------------------------------------------

  private async run<T>(operation: Operation, args: unknown[], body: () => T): Promise<T> {
    this.calls.push({ operation, args: structuredClone(args) });
    await Promise.resolve();
    this.takeFailure(operation, args, "before");
    const result = body();
    this.takeFailure(operation, args, "after");
    return result;
  }

  private takeFailure(operation: Operation, args: unknown[], when: Failure["when"]): void {
    const index = this.failures.findIndex((f) => f.operation === operation && f.when === when && (!f.match || f.match(args)));
    if (index < 0) return;
    const [failure] = this.failures.splice(index, 1);
    if (failure) throw failure.error;
  }

  private sortedPods(filter: (pod: StoredPod) => boolean): PodInfo[] {
    return [...this.objects.pods.values()]
      .filter(filter)
      .sort((a, b) => a.meta.namespace.localeCompare(b.meta.namespace) || a.meta.name.localeCompare(b.meta.name))
      .map((p) => this.objects.podInfo(p));
  }

  private mustFindWorkload(ref: WorkloadRef): StoredWorkload {
    const workload = this.objects.workloads.get(workloadKey(ref));
    if (!workload) throw new Error(`no ${ref.kind} ${ref.namespace}/${ref.name}`);
    return workload;
  }
}

function mergeAnnotations(target: Record<string, string>, patch: Record<string, string | null>): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else target[k] = v;
  }
}

function modified(kind: WorkloadKind, name: string): KubeRequestError {
  return new KubeRequestError(`Operation cannot be fulfilled on ${resourceName(kind, name)}: the object has been modified; please apply your changes to the latest version and try again`, 409);
}

/** What KubeExposeCluster reports when the API server refuses the patch's uid (422 "field is immutable"). */
function uidPrecondition(kind: WorkloadKind, name: string, expected: string): KubeRequestError {
  return new KubeRequestError(`annotate ${kind} ${name}: precondition failed: uid ${expected} is not the current object's (it was deleted and recreated)`, 409);
}

function alreadyExists(kind: string, name: string): KubeRequestError {
  return new KubeRequestError(`${resourceName(kind, name)} already exists`, 409);
}
