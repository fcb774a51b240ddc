import { namesForService, podNames, shortNameOwners } from "../hosts/names.js";
import { planService, sliceServiceKey, type EndpointSliceObject, type ReadyEndpoint, type ServiceObject, type ServicePlan } from "../kube/service-model.js";
import { tunnelStream } from "../store/streams.js";
import type { Recorder } from "./record.js";
import { inScope, type WatchScope } from "./scope.js";
import type { TunnelSpec } from "./service-tunnel.js";

/** One tunnel the daemon should run, and the endpoints it should forward to. */
export interface Desired {
  spec: TunnelSpec;
  endpoints: ReadyEndpoint[];
}

export interface DesiredContext {
  scope: WatchScope;
  clusterDomain: string;
  /** Never handed out as a short name (the machine's own hostname). */
  reservedNames: readonly string[];
  /** Services not tunneled, by key, with why: updated in place, and a newly skipped one recorded. */
  skipped: Map<string, { namespace: string; name: string; reason: string }>;
  record: Recorder;
  /** The Service's (or pod's) loopback address; `active` are the keys still in use. */
  ipFor(key: string, active: ReadonlySet<string>): string;
}

type Objects<T> = ReadonlyMap<string, T>;

/**
 * The tunnels the cluster's Services and EndpointSlices call for: one per Service in scope, and one
 * per pod of a headless Service, each with its names and address.
 */
export function desiredUnits(services: Objects<ServiceObject>, slices: Objects<EndpointSliceObject>, context: DesiredContext): Map<string, Desired> {
  const { scope, clusterDomain, reservedNames, skipped, record, ipFor } = context;
  const slicesByService = new Map<string, EndpointSliceObject[]>();
  for (const slice of slices.values()) {
    const key = sliceServiceKey(slice);
    if (key) slicesByService.set(key, [...(slicesByService.get(key) ?? []), slice]);
  }
  const plans = [...services.values()]
    .filter((service) => inScope(scope, service.metadata?.namespace ?? ""))
    .map((service) => planService(service, slicesByService.get(`${service.metadata?.namespace}/${service.metadata?.name}`) ?? []));
  const tunneled = plans.filter((plan): plan is Exclude<ServicePlan, { kind: "skipped" }> => plan.kind !== "skipped");
  const owners = shortNameOwners(tunneled, scope.namespaces, reservedNames);
  const desired = new Map<string, Desired>();
  const activeKeys = new Set<string>();
  const skippedNow = new Set<string>();
  for (const plan of plans) {
    const key = `${plan.namespace}/${plan.name}`;
    if (plan.kind === "skipped") {
      if (!skipped.has(key)) record(tunnelStream(key), { type: "tunnel.skipped", data: { service: key, reason: plan.reason } });
      skipped.set(key, { namespace: plan.namespace, name: plan.name, reason: plan.reason });
      skippedNow.add(key);
      continue;
    }
    activeKeys.add(key);
    if (plan.kind === "headless") plan.endpoints.forEach((e) => activeKeys.add(`${key}/${e.hostname}`));
  }
  for (const key of skipped.keys()) if (!skippedNow.has(key)) skipped.delete(key);
  for (const plan of tunneled) {
    const key = `${plan.namespace}/${plan.name}`;
    const shortNameAllowed = owners.get(plan.name)?.namespace === plan.namespace;
    const names = namesForService({ name: plan.name, namespace: plan.namespace, clusterDomain, shortNameAllowed });
    desired.set(key, { spec: { key, namespace: plan.namespace, service: key, ip: ipFor(key, activeKeys), ports: plan.ports, names }, endpoints: plan.endpoints });
    if (plan.kind !== "headless") continue;
    for (const endpoint of plan.endpoints) {
      const podKey = `${key}/${endpoint.hostname}`;
      const podHostNames = podNames({ hostname: endpoint.hostname, service: plan.name, namespace: plan.namespace, clusterDomain });
      desired.set(podKey, {
        spec: { key: podKey, namespace: plan.namespace, service: key, ip: ipFor(podKey, activeKeys), ports: plan.ports, names: podHostNames },
        endpoints: [endpoint],
      });
    }
  }
  return desired;
}
