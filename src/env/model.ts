/**
 * The slice of a Pod's spec the environment is built from, shaped like client-node's V1 types so
 * API objects fit as they are (quantities are strings, everything optional as in the API).
 */
export interface KeyRef {
  name?: string;
  key: string;
  optional?: boolean;
}

export interface EnvVarSpec {
  name: string;
  value?: string;
  valueFrom?: {
    configMapKeyRef?: KeyRef;
    secretKeyRef?: KeyRef;
    fieldRef?: { apiVersion?: string; fieldPath: string };
    resourceFieldRef?: { containerName?: string; resource: string; divisor?: string };
  };
}

export interface EnvFromSpec {
  prefix?: string;
  configMapRef?: { name?: string; optional?: boolean };
  secretRef?: { name?: string; optional?: boolean };
}

export interface ContainerSpec {
  name: string;
  env?: EnvVarSpec[];
  envFrom?: EnvFromSpec[];
  ports?: { name?: string; containerPort: number }[];
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
}

export interface PodSpecLike {
  containers: ContainerSpec[];
  initContainers?: ContainerSpec[];
  serviceAccountName?: string;
  nodeName?: string;
}

/**
 * What the downward API reads. From a running pod every field is known; from a workload's template
 * only namespace, labels, annotations and the service account are (`running: false`).
 */
export interface PodFacts {
  running: boolean;
  namespace: string;
  name?: string;
  uid?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  nodeName?: string;
  serviceAccountName?: string;
  podIPs: string[];
  hostIPs: string[];
  /** Why the pod-only fields are missing, e.g. "no running pod of Deployment shop/web". */
  why?: string;
}

/** A referenced ConfigMap or Secret as fetched: its data, absent (404), unreadable (403), or not read (--skip-secrets). */
export type SourceLookup = { state: "found"; data: Record<string, string> } | { state: "missing" } | { state: "forbidden" } | { state: "skipped" };

/** Everything the pure resolver needs, fetched beforehand. */
export interface EnvInput {
  namespace: string;
  container: ContainerSpec;
  pod: PodSpecLike;
  facts: PodFacts;
  configMaps: ReadonlyMap<string, SourceLookup>;
  secrets: ReadonlyMap<string, SourceLookup>;
  /** The node's allocatable resources: the kubelet's value for an unset limit; absent when unknown. */
  nodeAllocatable?: Record<string, string>;
}

/** Where a variable's value came from: names only, never a value (safe to log). */
export type Origin =
  | { from: "literal" }
  | { from: "configMap" | "secret"; name: string; key: string; via: "envFrom" | "keyRef" }
  | { from: "fieldRef"; path: string }
  | { from: "resourceFieldRef"; resource: string };

export interface EnvResult {
  /** Name → value, in the order each name was first defined (the kubelet's own order is a Go map's). */
  vars: Map<string, string>;
  origins: Map<string, Origin>;
  /** Variables the kubelet would set but loc cannot know here (pod-only fields without a running pod). */
  unavailable: { name: string; reason: string }[];
  /** Secret keys that could not be read (403) or were not read (--skip-secrets); key "*" for a whole envFrom Secret. */
  unreadSecrets: { secret: string; key: string; variable?: string; state: "forbidden" | "skipped" }[];
}
