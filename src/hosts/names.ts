import { isHostname } from "./host-entry.js";

export interface ServiceNameInput {
  name: string;
  namespace: string;
  clusterDomain: string;
  /** Whether this service owns the bare `svc` name (see `shortNameOwners`). */
  shortNameAllowed: boolean;
}

export interface PodNameInput {
  /** The pod's `spec.hostname` (or its name) behind a headless Service. */
  hostname: string;
  service: string;
  namespace: string;
  clusterDomain: string;
}

export interface NamespacedName {
  namespace: string;
  name: string;
}

/**
 * Names a Kubernetes resolver would accept for a service, most specific last:
 * `svc` (only if allowed), `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<domain>`.
 */
export function namesForService(input: ServiceNameInput): string[] {
  const base = `${input.name}.${input.namespace}`;
  const names = [base, `${base}.svc`, `${base}.svc.${trimDomain(input.clusterDomain)}`];
  if (input.shortNameAllowed) names.unshift(input.name);
  return checked(names);
}

/** Per-pod names of a headless Service: `<host>.<svc>.<ns>`, `… .svc`, `… .svc.<domain>`. */
export function podNames(input: PodNameInput): string[] {
  const base = `${input.hostname}.${input.service}.${input.namespace}`;
  return checked([base, `${base}.svc`, `${base}.svc.${trimDomain(input.clusterDomain)}`]);
}

// Names no service may take as its short name: the hosts file answers them for the machine itself.
const RESERVED_SHORT_NAMES = ["localhost", "broadcasthost", "ip6-localhost", "ip6-loopback", "localdomain"];

/**
 * Who gets the bare short name `svc`, as a map short name → service. A name unique across the
 * watched services goes to its service. An ambiguous name goes to the service in the earliest
 * namespace of `namespaceOrder` (the `-n` flags in the order given); if `namespaceOrder` is empty
 * (all namespaces) or lists none of the contenders, nobody gets it: a wrong guess would silently send
 * traffic to the wrong service, while a missing name fails loudly and `svc.ns` always works.
 * `reserved` adds names never handed out (e.g. this machine's hostname).
 */
export function shortNameOwners(
  services: readonly NamespacedName[],
  namespaceOrder: readonly string[],
  reserved: Iterable<string> = [],
): Map<string, NamespacedName> {
  const blocked = new Set([...RESERVED_SHORT_NAMES, ...reserved].map((name) => name.toLowerCase()));
  const byName = new Map<string, Set<string>>();
  for (const service of services) {
    const namespaces = byName.get(service.name) ?? new Set<string>();
    namespaces.add(service.namespace);
    byName.set(service.name, namespaces);
  }

  const owners = new Map<string, NamespacedName>();
  for (const name of [...byName.keys()].sort()) {
    if (blocked.has(name.toLowerCase())) continue;
    const namespaces = byName.get(name) ?? new Set<string>();
    const owner = namespaces.size === 1 ? [...namespaces][0] : namespaceOrder.find((ns) => namespaces.has(ns));
    if (owner !== undefined) owners.set(name, { namespace: owner, name });
  }
  return owners;
}

function trimDomain(domain: string): string {
  return domain.replace(/^\.+|\.+$/g, "");
}

function checked(names: string[]): string[] {
  for (const name of names) {
    if (!isHostname(name)) throw new Error(`"${name}" is not an RFC 1123 hostname`);
  }
  return names;
}
