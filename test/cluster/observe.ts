// Waiting for what the controllers and kwok do: pods Running/Ready, pods gone, EndpointSlices filled.
import type { V1EndpointSlice, V1Pod } from "@kubernetes/client-node";
import type { Kube } from "./kube.js";
import { NotYet, waitFor, type WaitOptions } from "./wait.js";

export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
}

export function isRunningAndReady(pod: V1Pod): boolean {
  const ready = pod.status?.conditions?.find((condition) => condition.type === "Ready");
  return pod.status?.phase === "Running" && ready?.status === "True" && !pod.metadata?.deletionTimestamp;
}

/**
 * Waits until exactly `count` pods match and all of them are Running and Ready (terminating pods
 * count as not done), and returns them sorted by name.
 */
export async function waitForReadyPods(
  kube: Kube,
  namespace: string,
  labels: Record<string, string>,
  count: number,
  options?: WaitOptions,
): Promise<V1Pod[]> {
  return waitFor(
    `${count} ready pods ${labelSelector(labels)} in ${namespace}`,
    async () => {
      const pods = (await kube.core.listNamespacedPod({ namespace, labelSelector: labelSelector(labels) })).items;
      const ready = pods.filter(isRunningAndReady);
      if (pods.length !== count || ready.length !== count) {
        throw new NotYet(`${pods.length} pods, ${ready.length} running and ready`);
      }
      return ready.sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
    },
    options,
  );
}

/** Waits until no pod matches, terminating ones included. */
export async function waitForNoPods(
  kube: Kube,
  namespace: string,
  labels: Record<string, string>,
  options?: WaitOptions,
): Promise<void> {
  await waitFor(
    `no pods ${labelSelector(labels)} in ${namespace}`,
    async () => {
      const pods = (await kube.core.listNamespacedPod({ namespace, labelSelector: labelSelector(labels) })).items;
      if (pods.length > 0) throw new NotYet(`${pods.length} pods left`);
      return true;
    },
    options,
  );
}

export interface ServiceEndpoints {
  slices: V1EndpointSlice[];
  /** Addresses of ready endpoints, sorted. */
  readyAddresses: string[];
}

/** Waits until the Service's EndpointSlices list exactly `readyCount` ready endpoints. */
export async function waitForReadyEndpoints(
  kube: Kube,
  namespace: string,
  service: string,
  readyCount: number,
  options?: WaitOptions,
): Promise<ServiceEndpoints> {
  return waitFor(
    `${readyCount} ready endpoints of Service ${namespace}/${service}`,
    async () => {
      const slices = (
        await kube.discovery.listNamespacedEndpointSlice({
          namespace,
          labelSelector: `kubernetes.io/service-name=${service}`,
        })
      ).items;
      const readyAddresses = slices
        .flatMap((slice) => slice.endpoints ?? [])
        .filter((endpoint) => endpoint.conditions?.ready === true)
        .flatMap((endpoint) => endpoint.addresses)
        .sort();
      if (slices.length === 0 || readyAddresses.length !== readyCount) {
        throw new NotYet(`${slices.length} slices, ready addresses [${readyAddresses.join(", ")}]`);
      }
      return { slices, readyAddresses };
    },
    options,
  );
}
