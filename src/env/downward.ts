import type { ContainerSpec, EnvInput, PodFacts } from "./model.js";
import { parseQuantity, resourceValue } from "./quantity.js";

/** A downward-API value, or why loc cannot know it here. */
export type Downward = { value: string } | { unavailable: string };

const SUBSCRIPTED = /^metadata\.(labels|annotations)\['(.*)'\]$/;

/** fieldRef as the kubelet evaluates it (podFieldSelectorRuntimeValue, fieldpath.ExtractFieldPathAsString). */
export function fieldRefValue(path: string, facts: PodFacts): Downward {
  const fromPod = (value: string | undefined): Downward =>
    facts.running && value !== undefined ? { value } : { unavailable: `${path} is only known for a running pod${facts.why ? ` (${facts.why})` : ""}` };
  const subscripted = SUBSCRIPTED.exec(path);
  if (subscripted) {
    const [, which, key = ""] = subscripted;
    const map = which === "labels" ? facts.labels : facts.annotations;
    const value = map[key];
    // A running pod's missing key is "" (a Go map read); a template may lack what the pod gets (pod-template-hash).
    if (value !== undefined || facts.running) return { value: value ?? "" };
    return { unavailable: `${path} is not in the pod template, and ${facts.why ?? "no pod is running"}` };
  }
  switch (path) {
    case "metadata.namespace":
      return { value: facts.namespace };
    case "metadata.name":
      return fromPod(facts.name);
    case "metadata.uid":
      return fromPod(facts.uid);
    case "spec.nodeName":
      return fromPod(facts.nodeName);
    case "spec.serviceAccountName":
      // Admission sets "default" when a template names none.
      return { value: facts.serviceAccountName || "default" };
    case "status.podIP":
      return fromPod(facts.podIPs[0] ?? "");
    case "status.podIPs":
      return fromPod(facts.podIPs.join(","));
    case "status.hostIP":
      return fromPod(facts.hostIPs[0]);
    case "status.hostIPs":
      return fromPod(facts.hostIPs.length > 0 ? facts.hostIPs.join(",") : undefined);
    default:
      return { unavailable: `fieldRef ${path} is not one loc knows` };
  }
}

const RESOURCE = /^(limits|requests)\.(cpu|memory|ephemeral-storage|hugepages-.+)$/;

/**
 * resourceFieldRef as the kubelet evaluates it: an unset limit is the node's allocatable
 * (defaultPodLimitsForDownwardAPI); an unset request is the limit (the API server's defaulting of a
 * new pod), else 0.
 */
export function resourceFieldValue(ref: { containerName?: string; resource: string; divisor?: string }, own: ContainerSpec, input: EnvInput): Downward {
  const match = RESOURCE.exec(ref.resource);
  if (!match) return { unavailable: `resource ${ref.resource} is not one the kubelet supports` };
  const [, kind, name = ""] = match;
  const container = ref.containerName ? [...input.pod.containers, ...(input.pod.initContainers ?? [])].find((c) => c.name === ref.containerName) : own;
  if (!container) return { unavailable: `resourceFieldRef names container ${ref.containerName ?? ""}, which the pod does not have` };
  const limit = container.resources?.limits?.[name];
  const text = kind === "limits" ? (limit ?? input.nodeAllocatable?.[name]) : (container.resources?.requests?.[name] ?? limit ?? "0");
  if (text === undefined) return { unavailable: `${ref.resource} is not set, so the kubelet uses the node's allocatable ${name}, which loc could not read` };
  const quantity = parseQuantity(text);
  const divisor = parseQuantity(ref.divisor ?? "1") ?? { num: 1n, den: 1n };
  if (!quantity) return { unavailable: `${ref.resource} "${text}" is not a quantity` };
  return { value: resourceValue(ref.resource, quantity, divisor.num === 0n ? { num: 1n, den: 1n } : divisor) };
}
