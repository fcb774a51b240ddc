import type { EnvCluster } from "./env-cluster.js";
import type { Located } from "./locate.js";
import type { EnvInput, SourceLookup } from "./model.js";
import { referencedSources } from "./referenced.js";

/** Reads every ConfigMap and Secret the container names (Secrets not at all with `skipSecrets`), each once. */
export async function gatherInput(cluster: EnvCluster, where: Located, options: { skipSecrets: boolean }): Promise<EnvInput> {
  const { namespace, container } = where;
  const names = referencedSources(container);
  const configMaps = new Map<string, SourceLookup>();
  const secrets = new Map<string, SourceLookup>();
  for (const name of names.configMaps) configMaps.set(name, await lookup(() => cluster.readConfigMap(namespace, name)));
  for (const name of names.secrets) secrets.set(name, options.skipSecrets ? { state: "skipped" } : await lookup(() => cluster.readSecret(namespace, name)));
  const nodeAllocatable = needsAllocatable(where) ? await allocatableOf(cluster, where.facts.nodeName ?? "") : undefined;
  return { namespace, container, pod: where.pod, facts: where.facts, configMaps, secrets, ...(nodeAllocatable ? { nodeAllocatable } : {}) };
}

async function lookup(read: () => Promise<Record<string, string> | undefined>): Promise<SourceLookup> {
  try {
    const data = await read();
    return data ? { state: "found", data } : { state: "missing" };
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 403) return { state: "forbidden" };
    throw error;
  }
}

/** A limit the container leaves unset is the node's allocatable: worth a read only then. */
function needsAllocatable(where: Located): boolean {
  if (!where.facts.running || !where.facts.nodeName) return false;
  const all = [...where.pod.containers, ...(where.pod.initContainers ?? [])];
  return (where.container.env ?? []).some((variable) => {
    const ref = variable.valueFrom?.resourceFieldRef;
    if (!ref?.resource.startsWith("limits.")) return false;
    const container = ref.containerName ? all.find((c) => c.name === ref.containerName) : where.container;
    return container?.resources?.limits?.[ref.resource.slice("limits.".length)] === undefined;
  });
}

/** Reading nodes is cluster-wide; without that right the variable is reported unavailable instead. */
async function allocatableOf(cluster: EnvCluster, node: string): Promise<Record<string, string> | undefined> {
  try {
    return await cluster.readNodeAllocatable(node);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 403) return undefined;
    throw error;
  }
}
