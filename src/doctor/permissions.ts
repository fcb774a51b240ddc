// What each loc command asks the API server for, as RBAC attributes. Kept next to the doctor and
// not derived from the code, so a new API call needs a line here (the e2e test with a limited
// ServiceAccount notices when it is missing).

export interface Permission {
  verb: string;
  /** Plural resource name, e.g. `deployments`. */
  resource: string;
  /** API group; "" is the core group. */
  group: string;
  subresource?: string;
  /** The command copes without it (e.g. a namespaced Role cannot grant reads of namespaces). */
  optional?: boolean;
}

export interface CommandPermissions {
  command: string;
  permissions: Permission[];
}

const core = (verb: string, resource: string, subresource?: string): Permission => ({ verb, resource, group: "", subresource });
const apps = (verb: string, resource: string, subresource?: string): Permission => ({ verb, resource, group: "apps", subresource });

/** The daemon lists and watches Services and EndpointSlices and port-forwards to the pods behind them. */
const DAEMON: Permission[] = [
  core("list", "services"),
  core("watch", "services"),
  { verb: "list", resource: "endpointslices", group: "discovery.k8s.io" },
  { verb: "watch", resource: "endpointslices", group: "discovery.k8s.io" },
  // Port-forward over WebSocket is a GET upgrade, authorized as `create` since Kubernetes 1.35.
  core("create", "pods", "portforward"),
];

/**
 * Expose reads the Service and its pods' owners, scales Deployments/StatefulSets through their
 * scale subresource (a PUT: `update`) and annotates them (`patch`), runs a proxy pod with a Secret,
 * reaches its sshd through a port-forward and retargets the Service (selector strategy).
 */
const EXPOSE: Permission[] = [
  core("get", "services"),
  core("patch", "services"),
  core("list", "pods"),
  core("get", "pods"),
  core("create", "pods"),
  core("delete", "pods"),
  core("create", "pods", "portforward"),
  core("get", "secrets"),
  core("create", "secrets"),
  core("delete", "secrets"),
  apps("get", "replicasets"),
  apps("get", "deployments"),
  apps("patch", "deployments"),
  apps("update", "deployments", "scale"),
  apps("get", "statefulsets"),
  apps("patch", "statefulsets"),
  apps("update", "statefulsets", "scale"),
  { ...core("get", "namespaces"), optional: true },
];

export const COMMAND_PERMISSIONS: readonly CommandPermissions[] = [
  { command: "daemon", permissions: DAEMON },
  { command: "expose", permissions: EXPOSE },
];

/** `deployments/scale`, as people say it. */
export function resourceLabel(permission: Permission): string {
  return permission.subresource ? `${permission.resource}/${permission.subresource}` : permission.resource;
}

/** `update deployments/scale`. */
export function permissionLabel(permission: Permission): string {
  return `${permission.verb} ${resourceLabel(permission)}`;
}

/** "in shop", or "in all namespaces" for "". */
export function whereLabel(namespace: string): string {
  return namespace === "" ? "all namespaces" : namespace;
}

/**
 * The kubectl command asking the same question. `kubectl auth can-i VERB pods/portforward` would
 * ask about a pod *named* portforward, so a subresource goes in --subresource.
 */
export function canIHint(permission: Permission, namespace: string): string {
  const resource = permission.group ? `${permission.resource}.${permission.group}` : permission.resource;
  const subresource = permission.subresource ? ` --subresource=${permission.subresource}` : "";
  const scope = namespace === "" ? "-A" : `-n ${namespace}`;
  return `kubectl auth can-i ${permission.verb} ${resource}${subresource} ${scope}`;
}

/**
 * Missing permissions grouped by resource, verbs joined: `patch services, get/patch deployments,
 * update deployments/scale`.
 */
export function describeMissing(missing: readonly Permission[]): string {
  const verbsByResource = new Map<string, string[]>();
  for (const permission of missing) {
    const label = resourceLabel(permission);
    verbsByResource.set(label, [...(verbsByResource.get(label) ?? []), permission.verb]);
  }
  return [...verbsByResource].map(([resource, verbs]) => `${verbs.join("/")} ${resource}`).join(", ");
}
