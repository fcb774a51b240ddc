import { LocError } from "../errors.js";
import type { ServiceObject } from "../kube/service-model.js";

/** One Service port carried back to the laptop. */
export interface PortMapping {
  /** The Service port's name ("" when unnamed). */
  name: string;
  servicePort: number;
  /** The port the proxy pod listens on: the Service's target port, resolved to a number. */
  remotePort: number;
  /** Set when the Service's targetPort is a name: the proxy pod declares a container port of that name. */
  targetPortName?: string;
  localPort: number;
}

/** A parsed `--map local:remote`; remote is a port number or a Service port name. */
export interface MapFlag {
  text: string;
  local: number;
  remote: string;
}

const PORT_HINT = "write it as --map LOCAL:REMOTE, e.g. --map 3000:8080 (REMOTE is a port of the Service, or its name)";

export function parseMapFlag(text: string): MapFlag {
  const match = /^(\d{1,5}):([a-z0-9-]{1,63}|\d{1,5})$/.exec(text);
  const local = Number(match?.[1]);
  if (!match?.[2] || !validPort(local) || (/^\d+$/.test(match[2]) && !validPort(Number(match[2])))) {
    throw new LocError(`--map "${text}" is not LOCAL:REMOTE`, PORT_HINT, "BAD_FLAG");
  }
  return { text, local, remote: match[2] };
}

/**
 * The ports an expose carries: every TCP port of the Service, to the same local port unless a
 * `--map` says otherwise. `containerPorts` (name → number, from the backing pods) resolves named
 * target ports. Refuses a `--map` whose remote side is not a port of the Service.
 */
export function planPorts(service: ServiceObject, maps: readonly MapFlag[], containerPorts: ReadonlyMap<string, number>): PortMapping[] {
  const ref = `${service.metadata?.namespace}/${service.metadata?.name}`;
  const ports = (service.spec?.ports ?? []).filter((p) => (p.protocol ?? "TCP") === "TCP");
  if (ports.length === 0) {
    throw new LocError(`service ${ref} has no TCP ports`, "loc expose carries TCP; add a TCP port to the Service", "NO_PORTS");
  }
  const mappings = ports.map((port): PortMapping => {
    const target = port.targetPort ?? port.port;
    const named = typeof target === "string" && !/^\d+$/.test(target) ? target : undefined;
    const remotePort = named === undefined ? Number(target) : containerPorts.get(named);
    if (remotePort === undefined) {
      throw new LocError(
        `service ${ref} port ${port.port} targets the port name "${named}", which no backing pod declares`,
        "give the pods' container port that name, or use a numeric targetPort",
        "UNRESOLVED_PORT",
      );
    }
    return { name: port.name ?? "", servicePort: port.port, remotePort, ...(named ? { targetPortName: named } : {}), localPort: remotePort };
  });
  for (const map of maps) {
    const mapping = mappings.find((m) => m.name === map.remote || String(m.servicePort) === map.remote || String(m.remotePort) === map.remote);
    if (!mapping) {
      const known = mappings.map((m) => `${m.name ? `${m.name} ` : ""}${m.servicePort}→${m.remotePort}`).join(", ");
      throw new LocError(`--map ${map.text}: ${map.remote} is not a port of ${ref} (ports: ${known})`, "REMOTE is the Service's port, target port or port name", "BAD_MAP");
    }
    mapping.localPort = map.local;
  }
  const locals = new Map<number, PortMapping>();
  for (const mapping of mappings) {
    const clash = locals.get(mapping.localPort);
    if (clash) throw new LocError(`ports ${clash.servicePort} and ${mapping.servicePort} of ${ref} both map to local port ${mapping.localPort}`, PORT_HINT, "BAD_MAP");
    locals.set(mapping.localPort, mapping);
  }
  return mappings;
}

/** `8080→127.0.0.1:3000` for progress lines and `loc list`. */
export function describeMapping(mapping: PortMapping, localHost = "127.0.0.1"): string {
  return `${mapping.remotePort}→${localHost}:${mapping.localPort}`;
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}
