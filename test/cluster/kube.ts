// API clients for the test cluster and per-test namespaces.
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
} from "@kubernetes/client-node";
import { waitFor } from "./wait.js";

export interface Kube {
  config: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  discovery: DiscoveryV1Api;
  custom: CustomObjectsApi;
}

export function connect(kubeconfigPath: string): Kube {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  return {
    config,
    core: config.makeApiClient(CoreV1Api),
    apps: config.makeApiClient(AppsV1Api),
    discovery: config.makeApiClient(DiscoveryV1Api),
    custom: config.makeApiClient(CustomObjectsApi),
  };
}

/** Creates a fresh namespace and waits for its default ServiceAccount, without which pods are rejected. */
export async function createNamespace(kube: Kube, prefix: string): Promise<string> {
  const created = await kube.core.createNamespace({ body: { metadata: { generateName: `${prefix}-` } } });
  const name = created.metadata?.name;
  if (!name) throw new Error("created namespace has no name");
  await waitFor(`default ServiceAccount in ${name}`, async () => {
    const accounts = await kube.core.listNamespacedServiceAccount({ namespace: name });
    return accounts.items.some((account) => account.metadata?.name === "default") || undefined;
  });
  return name;
}

/** Deletes without waiting: the namespace controller finishes in the background. */
export async function deleteNamespace(kube: Kube, name: string): Promise<void> {
  await kube.core.deleteNamespace({ name });
}
