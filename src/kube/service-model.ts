import type { KubeObject } from "./cluster-port.js";

/** The fields of a v1 Service that tunnels need. */
export interface ServiceObject extends KubeObject {
  spec?: {
    type?: string;
    clusterIP?: string;
    selector?: Record<string, string>;
    externalName?: string;
    ports?: { name?: string; port: number; protocol?: string; targetPort?: number | string }[];
  };
}

/** The fields of a discovery.k8s.io/v1 EndpointSlice that tunnels need. */
export interface EndpointSliceObject extends KubeObject {
  metadata?: KubeObject["metadata"] & { labels?: Record<string, string> };
  addressType?: string;
  ports?: { name?: string; port?: number; protocol?: string }[] | null;
  endpoints?: {
    addresses?: string[];
    hostname?: string;
    conditions?: { ready?: boolean | null; terminating?: boolean | null };
    targetRef?: { kind?: string; name?: string; namespace?: string };
  }[];
}

export interface TunnelPort {
  /** The Service port name ("" for a single unnamed port). */
  name: string;
  port: number;
}

/** A ready pod behind a Service, with the pod port each Service port reaches. */
export interface ReadyEndpoint {
  pod: string;
  /** DNS hostname for headless services (StatefulSet pods), else the pod name. */
  hostname: string;
  /** Service port name → pod port number. */
  podPorts: Record<string, number>;
}

export type ServicePlan =
  | { kind: "skipped"; namespace: string; name: string; reason: string }
  | {
      kind: "clusterIP" | "headless";
      namespace: string;
      name: string;
      ports: TunnelPort[];
      /** Ports loc cannot carry (port-forward is TCP only), as `53/udp`. */
      unsupportedPorts: string[];
      endpoints: ReadyEndpoint[];
    };

const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** The Service's name a slice belongs to, from its well-known label. */
export function sliceServiceKey(slice: EndpointSliceObject): string | undefined {
  const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  return service ? `${slice.metadata?.namespace ?? ""}/${service}` : undefined;
}

/**
 * What to tunnel for one Service, given its EndpointSlices. Pure. Only endpoints that are ready and
 * name a pod (port-forward needs one) count; the pod port of each Service port comes from the
 * slice's port of the same name, which is how named target ports resolve.
 */
export function planService(service: ServiceObject, slices: readonly EndpointSliceObject[]): ServicePlan {
  const namespace = service.metadata?.namespace ?? "";
  const name = service.metadata?.name ?? "";
  const spec = service.spec ?? {};
  if (spec.type === "ExternalName") {
    return { kind: "skipped", namespace, name, reason: `ExternalName service (resolves to ${spec.externalName ?? "?"} in the cluster DNS, nothing to forward)` };
  }
  const allPorts = spec.ports ?? [];
  const tcp = allPorts.filter((p) => (p.protocol ?? "TCP") === "TCP");
  const unsupportedPorts = allPorts.filter((p) => !tcp.includes(p)).map((p) => `${p.port}/${(p.protocol ?? "").toLowerCase()}`);
  if (tcp.length === 0) {
    return { kind: "skipped", namespace, name, reason: allPorts.length ? `no TCP ports (${unsupportedPorts.join(", ")}): port-forward carries TCP only` : "no ports" };
  }
  const ports = tcp.map((p) => ({ name: p.name ?? "", port: p.port }));
  const endpoints = new Map<string, ReadyEndpoint>();
  for (const slice of slices) {
    if (slice.addressType && slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    const slicePorts = new Map((slice.ports ?? []).map((p) => [p.name ?? "", p.port]));
    for (const endpoint of slice.endpoints ?? []) {
      const ref = endpoint.targetRef;
      if (endpoint.conditions?.ready === false || ref?.kind !== "Pod" || !ref.name) continue;
      const podPorts: Record<string, number> = {};
      for (const port of ports) {
        const podPort = slicePorts.get(port.name) ?? numericTarget(allPorts.find((p) => (p.name ?? "") === port.name)?.targetPort);
        if (podPort !== undefined) podPorts[port.name] = podPort;
      }
      endpoints.set(ref.name, { pod: ref.name, hostname: endpoint.hostname ?? ref.name, podPorts });
    }
  }
  return {
    kind: spec.clusterIP === "None" ? "headless" : "clusterIP",
    namespace,
    name,
    ports,
    unsupportedPorts,
    endpoints: [...endpoints.values()].sort((a, b) => a.pod.localeCompare(b.pod)),
  };
}

function numericTarget(target: number | string | undefined): number | undefined {
  if (typeof target === "number") return target;
  return target !== undefined && /^\d+$/.test(target) ? Number(target) : undefined;
}

/** `80->8080/tcp` (Service port → the endpoint's pod port) for `loc list` and history. */
export function describePorts(ports: readonly TunnelPort[], endpoint: ReadyEndpoint | undefined): string[] {
  return ports.map((p) => `${p.port}->${endpoint?.podPorts[p.name] ?? "?"}/tcp`);
}
