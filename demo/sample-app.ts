// The sample app: namespace `shop` with `web`, `api` (2 replicas) and a headless `db` StatefulSet.
// Pods on the kwok node run no containers, so each pod's port is played by a small HTTP server on
// 127.0.0.1 that names the pod, reached through a kwok PortForward for that pod (ADR 0002).
import type { V1Namespace } from "@kubernetes/client-node";
import {
  createDeployment,
  createPodPortForward,
  createService,
  createStatefulSetWithHeadlessService,
  NotYet,
  waitFor,
  waitForReadyPods,
  type Kube,
} from "../test/cluster/helpers.js";
import { startReplyServer } from "./http.js";
import { onTeardown } from "./teardown.js";
import { say } from "./transcript.js";

export const NAMESPACE = "shop";

export interface SampleApp {
  /** `pod → 127.0.0.1:port` of the server standing in for each pod. */
  standIns: Map<string, string>;
}

interface Workload {
  name: string;
  replicas: number;
  podPort: number;
  servicePort: number;
  stateful?: boolean;
}

export async function createSampleApp(kube: Kube, apiPodPort: number): Promise<SampleApp> {
  await waitForNoEarlierShop(kube);
  await kube.core.createNamespace({ body: { metadata: { name: NAMESPACE, labels: { "app.kubernetes.io/part-of": "loc-demo" } } } });
  onTeardown(`namespace ${NAMESPACE}`, async () => {
    await kube.core.deleteNamespace({ name: NAMESPACE });
    return `deleted namespace ${NAMESPACE} (its pods, Services and port-forward rules go with it)`;
  });
  await waitFor(`the default ServiceAccount in ${NAMESPACE}`, async () => {
    const accounts = await kube.core.listNamespacedServiceAccount({ namespace: NAMESPACE });
    return accounts.items.some((account) => account.metadata?.name === "default") || undefined;
  });

  const workloads: Workload[] = [
    { name: "web", replicas: 1, podPort: 8080, servicePort: 8080 },
    { name: "api", replicas: 2, podPort: apiPodPort, servicePort: 8080 },
    { name: "db", replicas: 1, podPort: 5432, servicePort: 5432, stateful: true },
  ];
  const standIns = new Map<string, string>();
  for (const workload of workloads) {
    for (const [pod, address] of await createWorkload(kube, workload)) standIns.set(pod, address);
  }
  return { standIns };
}

async function createWorkload(kube: Kube, { name, replicas, podPort, servicePort, stateful }: Workload): Promise<Map<string, string>> {
  const labels = { app: name };
  const pods = { labels, ports: [{ name: "http", containerPort: podPort }] };
  const ports = [{ name: "http", port: servicePort, targetPort: "http" as never }];
  if (stateful) await createStatefulSetWithHeadlessService(kube, NAMESPACE, name, replicas, pods, ports);
  else {
    await createDeployment(kube, NAMESPACE, name, replicas, pods);
    await createService(kube, NAMESPACE, name, labels, ports);
  }
  const ready = await waitForReadyPods(kube, NAMESPACE, labels, replicas);
  const standIns = new Map<string, string>();
  for (const pod of ready.map((p) => p.metadata?.name ?? "")) {
    const server = await startReplyServer(`hello from the app: ${NAMESPACE}/${name}, pod ${pod}\n`);
    onTeardown(`the server standing in for pod ${pod}`, async () => {
      await server.stop();
      return `stopped the server standing in for pod ${pod} (127.0.0.1:${server.port})`;
    });
    await createPodPortForward(kube, NAMESPACE, pod, [{ ports: [podPort], target: { address: "127.0.0.1", port: server.port } }]);
    standIns.set(pod, `127.0.0.1:${server.port}`);
  }
  return standIns;
}

/** A demo interrupted hard may have left `shop` behind: delete it and wait until it is gone. */
async function waitForNoEarlierShop(kube: Kube): Promise<void> {
  const existing = await kube.core.readNamespace({ name: NAMESPACE }).catch(() => undefined as V1Namespace | undefined);
  if (!existing) return;
  say(`namespace ${NAMESPACE} is left from an earlier demo: deleting it first`);
  if (!existing.metadata?.deletionTimestamp) await kube.core.deleteNamespace({ name: NAMESPACE });
  await waitFor(
    `namespace ${NAMESPACE} of an earlier demo to be deleted`,
    async () => {
      const still = await kube.core.readNamespace({ name: NAMESPACE }).catch((error: { code?: number }) => {
        if (error.code === 404) return undefined;
        throw error;
      });
      if (still) throw new NotYet(`still ${still.status?.phase}`);
      return true;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}
