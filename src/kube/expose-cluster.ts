/**
 * The slice of the Kubernetes API an expose session mutates: read a Service and its pods, walk
 * ownerReferences, scale workloads through the scale subresource, annotate them, and create/delete
 * the proxy pod and its Secret. The real adapter talks to an API server (kube-expose-cluster.ts);
 * unit and property tests use the in-memory twin (test/support/memory-expose-cluster.ts). Both pass one contract
 * suite. Every mutation names the object by uid (and resourceVersion where it matters), so a
 * replaced or concurrently edited object is detected instead of overwritten.
 */
import type { ServiceObject } from "./service-model.js";

export type WorkloadKind = "Deployment" | "StatefulSet";

export interface WorkloadRef {
  kind: WorkloadKind;
  namespace: string;
  name: string;
}

export interface OwnerReference {
  apiVersion?: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
}

/** A workload as the saga sees it; replicas comes from the scale subresource (absent means 0). */
export interface WorkloadState {
  ref: WorkloadRef;
  uid: string;
  resourceVersion: string;
  replicas: number;
  annotations: Record<string, string>;
}

/** The facts about a pod the saga needs: identity, owners, and why it is (not) Ready. */
export interface PodInfo {
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
  ownerReferences: OwnerReference[];
  phase: string;
  ready: boolean;
  deleting: boolean;
  /** PodScheduled=False reason and message, e.g. "Unschedulable: 0/1 nodes are available…". */
  unschedulable?: string;
  /** A container's waiting reason and message, e.g. "ImagePullBackOff: Back-off pulling image…". */
  waiting?: string;
  /** Named container ports (name → number), which resolve a Service's named targetPort. */
  containerPorts?: Record<string, number>;
}

/** Any owner object the walk meets (a ReplicaSet), reduced to its own owners. */
export interface OwnerObject {
  kind: string;
  namespace: string;
  name: string;
  uid: string;
  ownerReferences: OwnerReference[];
}

/** A plain v1 Pod manifest as sent to the API server (built by src/expose/proxy-pod.ts). */
export type PodManifest = Record<string, unknown> & { metadata: { name: string; labels: Record<string, string>; annotations?: Record<string, string> } };

export interface SecretManifest {
  name: string;
  labels: Record<string, string>;
  /** File name → content; becomes `stringData`. */
  data: Record<string, string>;
  /** Set so the API server's garbage collector deletes the Secret with its pod. */
  ownerPod?: { name: string; uid: string };
}

/** What a delete found: the object was deleted now, or it was already gone (or replaced: uid differs). */
export type DeleteResult = "deleted" | "gone";

/**
 * Errors carry the HTTP status (KubeRequestError from cluster-port.ts): 404 not found, 403
 * forbidden, 409 conflict (stale resourceVersion or uid precondition failed).
 */
export interface ExposeCluster {
  namespaceExists(namespace: string): Promise<boolean>;
  getService(namespace: string, name: string): Promise<ServiceObject | undefined>;
  /** Pods of a namespace matching every label of `selector` (equality only). */
  listPods(namespace: string, selector: Record<string, string>): Promise<PodInfo[]>;
  /** Pods matching a label selector string (e.g. `loc.dev/service=web`), in one namespace or all. */
  findPods(labelSelector: string, namespace?: string): Promise<PodInfo[]>;
  readPod(namespace: string, name: string): Promise<PodInfo | undefined>;
  /** A ReplicaSet (the only intermediate owner loc walks through); undefined when gone. */
  readReplicaSet(namespace: string, name: string): Promise<OwnerObject | undefined>;
  readWorkload(ref: WorkloadRef): Promise<WorkloadState | undefined>;
  /**
   * Sets replicas through the scale subresource, conditional on `resourceVersion` (409 when the
   * workload changed since it was read). Returns the workload as it is afterwards.
   */
  scaleWorkload(ref: WorkloadRef, replicas: number, resourceVersion: string): Promise<WorkloadState>;
  /**
   * Merge-patches metadata.annotations (null removes a key), conditional on the workload's uid
   * (409 when the object was replaced by one of the same name) and, when given, on its
   * resourceVersion (409 when it changed since). Returns the workload afterwards.
   */
  patchWorkloadAnnotations(ref: WorkloadRef, uid: string, annotations: Record<string, string | null>, resourceVersion?: string): Promise<WorkloadState>;
  createPod(namespace: string, manifest: PodManifest): Promise<PodInfo>;
  /** Deletes with a uid precondition and no grace period. */
  deletePod(namespace: string, name: string, uid: string): Promise<DeleteResult>;
  createSecret(namespace: string, secret: SecretManifest): Promise<{ name: string; uid: string }>;
  /** A Secret's identity and labels only (never its data); undefined when absent. */
  readSecret(namespace: string, name: string): Promise<{ uid: string; labels: Record<string, string> } | undefined>;
  deleteSecret(namespace: string, name: string, uid: string): Promise<DeleteResult>;
  /**
   * Replaces a Service's selector (keys not in `selector` are removed) and merges `annotations`
   * (null removes a key), conditional on its uid and resourceVersion: 409 when the Service was
   * replaced or edited since it was read, so a concurrent edit is detected, never overwritten.
   */
  patchService(namespace: string, name: string, uid: string, resourceVersion: string, change: { selector: Record<string, string>; annotations: Record<string, string | null> }): Promise<ServiceObject>;
  /** Secrets matching a label selector string, identity and labels only (for `loc recover --from-cluster`). */
  findSecrets(labelSelector: string, namespace?: string): Promise<SecretInfo[]>;
  /**
   * Every Deployment and StatefulSet, in one namespace or all. Annotations cannot be selected
   * server-side, so `loc recover --from-cluster` lists and filters by loc's annotations itself.
   */
  findWorkloads(namespace?: string): Promise<WorkloadState[]>;
  /** Every Service, in one namespace or all (`--from-cluster` filters by loc's annotations, like workloads). */
  findServices(namespace?: string): Promise<ServiceObject[]>;
}

export interface SecretInfo {
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
}
