import type { CollectionRef } from "../kube/cluster-port.js";

/** Which Services the daemon tunnels: `-n` (repeatable, default all), `-l`, `--exclude-namespace`. */
export interface WatchScope {
  namespaces: string[];
  excludeNamespaces: string[];
  labelSelector: string | undefined;
}

export function describeScope(scope: WatchScope): string {
  const namespaces = scope.namespaces.length
    ? `namespaces ${scope.namespaces.join(", ")}`
    : `all namespaces${scope.excludeNamespaces.length ? ` except ${scope.excludeNamespaces.join(", ")}` : ""}`;
  return scope.labelSelector ? `${namespaces}, selector ${scope.labelSelector}` : namespaces;
}

export function inScope(scope: WatchScope, namespace: string): boolean {
  if (scope.excludeNamespaces.includes(namespace)) return false;
  return scope.namespaces.length === 0 || scope.namespaces.includes(namespace);
}

/** One collection per listed namespace (least privilege), or one cluster-wide collection. */
export function collections(scope: WatchScope): { services: CollectionRef[]; slices: CollectionRef[] } {
  const where = scope.namespaces.length ? scope.namespaces.map((ns) => `/namespaces/${ns}`) : [""];
  return {
    services: where.map((w) => ({ path: `/api/v1${w}/services`, labelSelector: scope.labelSelector })),
    slices: where.map((w) => ({ path: `/apis/discovery.k8s.io/v1${w}/endpointslices` })),
  };
}
