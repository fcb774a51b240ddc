import type { ContainerSpec } from "./model.js";

/** The ConfigMaps and Secrets a container's environment names, each once, in order. */
export function referencedSources(container: ContainerSpec): { configMaps: string[]; secrets: string[] } {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) configMaps.add(from.configMapRef.name ?? "");
    else if (from.secretRef) secrets.add(from.secretRef.name ?? "");
  }
  for (const variable of container.env ?? []) {
    if (variable.value) continue;
    const source = variable.valueFrom;
    if (source?.configMapKeyRef) configMaps.add(source.configMapKeyRef.name ?? "");
    else if (source?.secretKeyRef) secrets.add(source.secretKeyRef.name ?? "");
  }
  return { configMaps: [...configMaps], secrets: [...secrets] };
}
