// KubeExposeCluster against the real test cluster: the contract the in-memory twin also passes,
// and what happens when RBAC forbids part of what an expose session needs.
import { KubeConfig, type V1Deployment, type V1Pod, type V1PolicyRule, type V1StatefulSet } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { KubeRequestError } from "../../../src/kube/cluster-port.js";
import type { PodManifest, WorkloadRef } from "../../../src/kube/expose-cluster.js";
import { KubeExposeCluster } from "../../../src/kube/kube-expose-cluster.js";
import {
  connect,
  createDeployment,
  createNamespace,
  createService,
  createStatefulSetWithHeadlessService,
  deleteNamespace,
  kwokPlacement,
  neverPulledImage,
  NotYet,
  waitFor,
  waitForReadyPods,
  type Kube,
  type PodShape,
} from "../../cluster/helpers.js";
import { createLimitedKubeconfig } from "../../cluster/rbac.js";
import { exposeClusterContract } from "../../helpers/expose-cluster-contract.js";
import { tempDir } from "../../helpers/temp.js";

const shape = (labels: Record<string, string>): PodShape => ({ labels, ports: [{ name: "http", containerPort: 8080 }] });
const httpPort = [{ name: "http", port: 80, targetPort: "http" }];

function podManifest(name: string, labels: Record<string, string>): PodManifest {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels },
    spec: {
      containers: [{ name: "app", image: neverPulledImage, ports: [{ name: "http", containerPort: 8080 }] }],
      nodeSelector: { ...kwokPlacement.nodeSelector },
      tolerations: kwokPlacement.tolerations.map((toleration) => ({ ...toleration })),
      terminationGracePeriodSeconds: 0,
    },
  };
}

/** The controller has observed the latest spec, its status matches it, and nothing is still writing. */
async function settled(kube: Kube, ref: WorkloadRef): Promise<void> {
  let lastVersion = "";
  await waitFor(
    `${ref.kind} ${ref.namespace}/${ref.name} settled`,
    async () => {
      const { namespace, name } = ref;
      const object: V1Deployment | V1StatefulSet =
        ref.kind === "Deployment" ? await kube.apps.readNamespacedDeployment({ namespace, name }) : await kube.apps.readNamespacedStatefulSet({ namespace, name });
      const want = object.spec?.replicas ?? 0;
      const status = object.status;
      const version = object.metadata?.resourceVersion ?? "";
      const caughtUp =
        (status?.observedGeneration ?? 0) >= (object.metadata?.generation ?? 0) &&
        (status?.replicas ?? 0) === want &&
        (status?.readyReplicas ?? 0) === want &&
        (status?.updatedReplicas ?? 0) === want;
      const stable = version === lastVersion;
      lastVersion = version;
      if (!caughtUp || !stable) throw new NotYet(`generation ${object.metadata?.generation}, status ${JSON.stringify(status)}`);
      return true;
    },
    { intervalMs: 300 },
  );
}

exposeClusterContract("KubeExposeCluster", async () => {
  const kube = connect(inject("kubeconfig"));
  const namespaces = [await createNamespace(kube, "expose-a"), await createNamespace(kube, "expose-b")] as const;
  return {
    cluster: new KubeExposeCluster(kube.config),
    namespaces,
    createDeployment: async (namespace, name, replicas, labels) => void (await createDeployment(kube, namespace, name, replicas, shape(labels))),
    createStatefulSet: async (namespace, name, replicas, labels) =>
      void (await createStatefulSetWithHeadlessService(kube, namespace, name, replicas, shape(labels), httpPort)),
    createService: async (namespace, name, selector) => void (await createService(kube, namespace, name, selector, httpPort)),
    createBarePod: async (namespace, name, labels) => void (await kube.core.createNamespacedPod({ namespace, body: podManifest(name, labels) as V1Pod })),
    podManifest,
    secretData: async (namespace, name) => {
      const secret = await kube.core.readNamespacedSecret({ namespace, name }).catch((error: { code?: number }) => {
        if (error.code === 404) return undefined;
        throw error;
      });
      return secret && Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
    },
    settled: (ref) => settled(kube, ref),
    eventually: (what, probe) => waitFor(what, probe),
    dispose: async () => {
      for (const namespace of namespaces) await deleteNamespace(kube, namespace);
    },
  };
});

describe("KubeExposeCluster on a real control plane", () => {
  let kube: Kube;
  let namespace: string;

  beforeAll(async () => {
    kube = connect(inject("kubeconfig"));
    namespace = await createNamespace(kube, "expose-real");
  });

  afterAll(async () => {
    if (namespace) await deleteNamespace(kube, namespace);
  });

  it("annotating a Deployment bumps its generation: the controller then writes status and copies the annotation to the ReplicaSet", async () => {
    const ref: WorkloadRef = { kind: "Deployment", namespace, name: "web" };
    await createDeployment(kube, namespace, "web", 1, shape({ app: "web" }));
    await waitForReadyPods(kube, namespace, { app: "web" }, 1);
    await settled(kube, ref);
    const cluster = new KubeExposeCluster(kube.config);
    const before = await kube.apps.readNamespacedDeployment({ namespace, name: "web" });
    const patched = await cluster.patchWorkloadAnnotations(ref, before.metadata?.uid ?? "", { "loc.dev/exposed": "yes" });

    const after = await waitFor("the controller to observe the new generation", async () => {
      const deployment = await kube.apps.readNamespacedDeployment({ namespace, name: "web" });
      return deployment.status?.observedGeneration === deployment.metadata?.generation ? deployment : undefined;
    });
    expect(after.metadata?.generation).toBe((before.metadata?.generation ?? 0) + 1);
    expect(Number(after.metadata?.resourceVersion)).toBeGreaterThan(Number(patched.resourceVersion));
    const replicaSets = await kube.apps.listNamespacedReplicaSet({ namespace });
    expect(replicaSets.items[0]?.metadata?.annotations?.["loc.dev/exposed"]).toBe("yes");
  });
});

/** Everything an expose session needs in its namespace, except updating a StatefulSet's scale. */
const allButStatefulSetScale: V1PolicyRule[] = [
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "create", "delete"] },
  { apiGroups: [""], resources: ["secrets"], verbs: ["get", "create", "delete"] },
  { apiGroups: [""], resources: ["services"], verbs: ["get"] },
  { apiGroups: ["apps"], resources: ["replicasets"], verbs: ["get"] },
  { apiGroups: ["apps"], resources: ["deployments", "statefulsets"], verbs: ["get", "patch"] },
  { apiGroups: ["apps"], resources: ["deployments/scale"], verbs: ["get", "update"] },
  { apiGroups: ["apps"], resources: ["statefulsets/scale"], verbs: ["get"] },
];

describe("KubeExposeCluster under RBAC", () => {
  let kube: Kube;
  let namespace: string;
  const web: WorkloadRef = { kind: "Deployment", namespace: "", name: "web" };
  const db: WorkloadRef = { kind: "StatefulSet", namespace: "", name: "db" };

  beforeAll(async () => {
    kube = connect(inject("kubeconfig"));
    namespace = await createNamespace(kube, "expose-rbac");
    web.namespace = db.namespace = namespace;
    await createDeployment(kube, namespace, "web", 1, shape({ app: "web" }));
    await createStatefulSetWithHeadlessService(kube, namespace, "db", 1, shape({ app: "db" }), httpPort);
    await waitForReadyPods(kube, namespace, { app: "web" }, 1);
    await waitForReadyPods(kube, namespace, { app: "db" }, 1);
    await settled(kube, web);
    await settled(kube, db);
  });

  afterAll(async () => {
    if (namespace) await deleteNamespace(kube, namespace);
  });

  it("rejects scaling a StatefulSet with 403 when statefulsets/scale update is not allowed, while a Deployment scales", async () => {
    const path = await createLimitedKubeconfig(kube, namespace, allButStatefulSetScale, tempDir());
    const config = new KubeConfig();
    config.loadFromFile(path);
    const limited = new KubeExposeCluster(config);
    // The authorizer learns of the new Role through its informer: wait until it applies.
    const dbBefore = await waitFor("the limited identity can read the StatefulSet", () => limited.readWorkload(db));

    const error = await limited.scaleWorkload(db, 0, dbBefore.resourceVersion).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeRequestError);
    expect(error).toMatchObject({ statusCode: 403, message: expect.stringMatching(/statefulsets\/scale/) });
    expect((error as Error).message).not.toMatch(/Bearer|eyJ/);
    expect((await limited.readWorkload(db))?.replicas).toBe(1);

    const webBefore = await limited.readWorkload(web);
    const scaled = await limited.scaleWorkload(web, 0, webBefore?.resourceVersion ?? "");
    expect(scaled).toMatchObject({ replicas: 0, uid: webBefore?.uid });

    // Cluster-scoped reads are not granted by a Role either: namespaceExists reports 403, not false.
    await expect(limited.namespaceExists(namespace)).rejects.toMatchObject({ statusCode: 403 });
  });
});
