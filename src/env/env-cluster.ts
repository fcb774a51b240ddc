/**
 * What `loc env` reads from the cluster, nothing else and nothing written: the Service and its
 * pods, the owner walk expose uses, the workload's pod template, the referenced ConfigMaps and
 * Secrets, and a node's allocatable resources. Real adapter: src/kube/kube-env-cluster.ts; the
 * in-memory twin: test/support/memory-env-cluster.ts; one contract (test/helpers/env-cluster-contract.ts).
 * Errors carry the HTTP status like the expose port's (403 forbidden matters here).
 */
import type { OwnerObject, OwnerReference } from "../kube/expose-cluster.js";
import type { ServiceObject } from "../kube/service-model.js";
import type { PodSpecLike } from "./model.js";

export interface EnvPod {
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  ownerReferences: OwnerReference[];
  spec: PodSpecLike;
  phase: string;
  deleting: boolean;
  podIPs: string[];
  hostIPs: string[];
}

export type EnvWorkloadKind = "Deployment" | "StatefulSet";

export interface EnvWorkload {
  kind: EnvWorkloadKind;
  namespace: string;
  name: string;
  uid: string;
  /** spec.selector.matchLabels (what a template-only match needs). */
  matchLabels: Record<string, string>;
  template: { labels: Record<string, string>; annotations: Record<string, string>; spec: PodSpecLike };
}

export interface EnvCluster {
  getService(namespace: string, name: string): Promise<ServiceObject | undefined>;
  /** Pods of a namespace matching every label of `selector`. */
  listPods(namespace: string, selector: Record<string, string>): Promise<EnvPod[]>;
  readPod(namespace: string, name: string): Promise<EnvPod | undefined>;
  readReplicaSet(namespace: string, name: string): Promise<OwnerObject | undefined>;
  readWorkload(kind: EnvWorkloadKind, namespace: string, name: string): Promise<EnvWorkload | undefined>;
  /** Every Deployment and StatefulSet of a namespace (a Service whose workloads are scaled to 0). */
  listWorkloads(namespace: string): Promise<EnvWorkload[]>;
  /** A ConfigMap's data; undefined when it does not exist. */
  readConfigMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** A Secret's data, decoded from base64; undefined when it does not exist; 403 without `get`. */
  readSecret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** A node's status.allocatable; undefined when absent. */
  readNodeAllocatable(name: string): Promise<Record<string, string> | undefined>;
}
