// The test cluster itself: real controllers turn workloads into pods on the kwok node, EndpointSlices
// follow them, and the scale subresource works. Later e2e tests of loc build on all of this.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  connect,
  createDeployment,
  createNamespace,
  createService,
  createStatefulSetWithHeadlessService,
  deleteNamespace,
  scaleDeployment,
  waitForNoPods,
  waitForReadyEndpoints,
  waitForReadyPods,
  type Kube,
  type PodShape,
} from "../../cluster/helpers.js";

const web: PodShape = {
  labels: { app: "web" },
  ports: [
    { name: "http", containerPort: 8080 },
    { name: "admin", containerPort: 9090 },
  ],
};

describe("test cluster", () => {
  let kube: Kube;
  let namespace: string;

  beforeAll(async () => {
    kube = connect(inject("kubeconfig"));
    namespace = await createNamespace(kube, "cluster");
    await createDeployment(kube, namespace, "web", 2, web);
    // Multi-port: one named target port, one numeric.
    await createService(kube, namespace, "web", web.labels, [
      { name: "http", port: 80, targetPort: "http" },
      { name: "admin", port: 9000, targetPort: 9090 },
    ]);
  });

  afterAll(async () => {
    if (namespace) await deleteNamespace(kube, namespace);
  });

  it("runs a Deployment's pods on the kwok node through a ReplicaSet", async () => {
    const pods = await waitForReadyPods(kube, namespace, web.labels, 2);

    const replicaSets = (await kube.apps.listNamespacedReplicaSet({ namespace, labelSelector: "app=web" })).items;
    expect(replicaSets).toHaveLength(1);
    expect(replicaSets[0]?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: "Deployment", name: "web" });
    for (const pod of pods) {
      expect(pod.spec?.nodeName).toBe("fake");
      expect(pod.metadata?.ownerReferences?.[0]).toMatchObject({
        kind: "ReplicaSet",
        name: replicaSets[0]?.metadata?.name,
      });
      expect(pod.status?.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    }
    expect(new Set(pods.map((pod) => pod.status?.podIP)).size).toBe(2);
  });

  it("lists both pods as ready endpoints of the Service, with target ports resolved", async () => {
    const pods = await waitForReadyPods(kube, namespace, web.labels, 2);
    const { slices, readyAddresses } = await waitForReadyEndpoints(kube, namespace, "web", 2);

    expect(readyAddresses).toEqual(pods.map((pod) => pod.status?.podIP).sort());
    const ports = slices
      .flatMap((slice) => slice.ports ?? [])
      .map(({ name, port }) => ({ name, port }))
      .sort((a, b) => (a.name ?? "").localeCompare(b.name ?? ""));
    // The named targetPort "http" resolves to the container's 8080.
    expect(ports).toEqual([
      { name: "admin", port: 9090 },
      { name: "http", port: 8080 },
    ]);
    const service = await kube.core.readNamespacedService({ name: "web", namespace });
    expect(service.spec?.clusterIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  });

  it("scales to 0 and back to 2 through the scale subresource, with new pods", async () => {
    const before = await waitForReadyPods(kube, namespace, web.labels, 2);

    expect(await scaleDeployment(kube, namespace, "web", 0)).toBe(0);
    await waitForNoPods(kube, namespace, web.labels);
    await waitForReadyEndpoints(kube, namespace, "web", 0);

    expect(await scaleDeployment(kube, namespace, "web", 2)).toBe(2);
    const after = await waitForReadyPods(kube, namespace, web.labels, 2);
    await waitForReadyEndpoints(kube, namespace, "web", 2);

    const uids = (pods: typeof before) => pods.map((pod) => pod.metadata?.uid);
    const names = (pods: typeof before) => pods.map((pod) => pod.metadata?.name);
    expect(uids(after).filter((uid) => uids(before).includes(uid))).toEqual([]);
    expect(names(after).filter((name) => names(before).includes(name))).toEqual([]);
  });

  it("gives a StatefulSet behind a headless Service stable pod names and hostname endpoints", async () => {
    const db: PodShape = { labels: { app: "db" }, ports: [{ name: "pg", containerPort: 5432 }] };
    const { service } = await createStatefulSetWithHeadlessService(kube, namespace, "db", 2, db, [
      { name: "pg", port: 5432, targetPort: "pg" },
    ]);
    expect(service.spec?.clusterIP).toBe("None");

    const pods = await waitForReadyPods(kube, namespace, db.labels, 2);
    expect(pods.map((pod) => pod.metadata?.name)).toEqual(["db-0", "db-1"]);
    const { slices } = await waitForReadyEndpoints(kube, namespace, "db", 2);
    const hostnames = slices.flatMap((slice) => slice.endpoints.map((endpoint) => endpoint.hostname)).sort();
    expect(hostnames).toEqual(["db-0", "db-1"]);
  });
});
