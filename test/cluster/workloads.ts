// Workloads for the test cluster: Deployments, StatefulSets and Services whose pods land on the kwok
// node. The containers never run (kwok only reports them Running/Ready), so the image is never pulled.
import type {
  V1Container,
  V1ContainerPort,
  V1Deployment,
  V1PodTemplateSpec,
  V1Service,
  V1ServicePort,
  V1StatefulSet,
} from "@kubernetes/client-node";
import type { Kube } from "./kube.js";

/** An image reference that would fail if anything tried to pull it. */
export const neverPulledImage = "loc.invalid/never-pulled:0";

/** Scheduling onto the kwok node: it is labelled type=kwok and tainted so pods must opt in. */
export const kwokPlacement = {
  nodeSelector: { type: "kwok" },
  tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
} as const;

export interface PodShape {
  /** Labels of the pods; also the workload's selector. */
  labels: Record<string, string>;
  /** Container ports, e.g. [{ name: "http", containerPort: 8080 }]. */
  ports: V1ContainerPort[];
}

function podTemplate({ labels, ports }: PodShape): V1PodTemplateSpec {
  const container: V1Container = { name: "app", image: neverPulledImage, ports };
  return {
    metadata: { labels },
    spec: {
      containers: [container],
      nodeSelector: { ...kwokPlacement.nodeSelector },
      tolerations: kwokPlacement.tolerations.map((toleration) => ({ ...toleration })),
      // Nothing runs, so there is nothing to wait for on deletion.
      terminationGracePeriodSeconds: 0,
    },
  };
}

export async function createDeployment(
  kube: Kube,
  namespace: string,
  name: string,
  replicas: number,
  pods: PodShape,
): Promise<V1Deployment> {
  return kube.apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name },
      spec: { replicas, selector: { matchLabels: pods.labels }, template: podTemplate(pods) },
    },
  });
}

/** A StatefulSet with its governing headless Service (created first, as StatefulSets expect). */
export async function createStatefulSetWithHeadlessService(
  kube: Kube,
  namespace: string,
  name: string,
  replicas: number,
  pods: PodShape,
  servicePorts: V1ServicePort[],
): Promise<{ service: V1Service; statefulSet: V1StatefulSet }> {
  const service = await createService(kube, namespace, name, pods.labels, servicePorts, { headless: true });
  const statefulSet = await kube.apps.createNamespacedStatefulSet({
    namespace,
    body: {
      metadata: { name },
      spec: {
        serviceName: name,
        replicas,
        // Parallel: pods don't wait for their predecessors to be Ready one by one.
        podManagementPolicy: "Parallel",
        selector: { matchLabels: pods.labels },
        template: podTemplate(pods),
      },
    },
  });
  return { service, statefulSet };
}

export async function createService(
  kube: Kube,
  namespace: string,
  name: string,
  selector: Record<string, string>,
  ports: V1ServicePort[],
  { headless = false, labels }: { headless?: boolean; labels?: Record<string, string> } = {},
): Promise<V1Service> {
  return kube.core.createNamespacedService({
    namespace,
    body: {
      metadata: { name, ...(labels ? { labels } : {}) },
      spec: { selector, ports, ...(headless ? { clusterIP: "None" } : {}) },
    },
  });
}

/** Sets replicas through the scale subresource (as `kubectl scale` does) and returns what it reads back. */
export async function scaleDeployment(
  kube: Kube,
  namespace: string,
  name: string,
  replicas: number,
): Promise<number> {
  await kube.apps.replaceNamespacedDeploymentScale({
    name,
    namespace,
    body: { metadata: { name, namespace }, spec: { replicas } },
  });
  const scale = await kube.apps.readNamespacedDeploymentScale({ name, namespace });
  // replicas: 0 is omitted on the wire (omitempty), so absent means 0.
  return scale.spec?.replicas ?? 0;
}
