// loc expose when things go wrong on the real cluster: a forbidden scale half-way through, a proxy
// pod that never becomes Ready, and every refusal of bad input. Each ends with the cluster as it was.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createLimitedKubeconfig } from "../../../cluster/rbac.js";
import {
  connect,
  createDeployment,
  createNamespace,
  createService,
  createStatefulSetWithHeadlessService,
  deleteNamespace,
  kwokPlacement,
  neverPulledImage,
  waitFor,
  waitForReadyPods,
  type Kube,
} from "../../../cluster/helpers.js";
import { startDaemonProcess, type DaemonProcess } from "../../fixtures/daemon-process.js";
import { locState, standInArgs, startExpose, type ScaledKind } from "../../fixtures/expose-fixture.js";

const kubeconfig = inject("kubeconfig");
let kube: Kube;
let namespace: string;
let daemon: DaemonProcess;

beforeAll(async () => {
  kube = connect(kubeconfig);
  namespace = await createNamespace(kube, "expose-fail");
  daemon = await startDaemonProcess(["--namespace", namespace], kubeconfig);
});

afterAll(async () => {
  await daemon?.stop();
  if (namespace) await deleteNamespace(kube, namespace);
});

function clusterState(workloads: { kind: ScaledKind; name: string }[]) {
  return locState(kube, namespace, workloads);
}

async function runExpose(args: string[], stateDir = daemon.stateDir) {
  const expose = startExpose(args, stateDir);
  return expose.exit;
}

describe("loc expose failures (real cluster)", () => {
  it("the second workload's scale is forbidden by RBAC: the first is restored, the error is reported", async () => {
    const labels = { app: "shop" };
    await createDeployment(kube, namespace, "shop-a", 2, { labels, ports: [{ containerPort: 8080 }] });
    await createStatefulSetWithHeadlessService(kube, namespace, "shop-b", 1, { labels, ports: [{ containerPort: 8080 }] }, [{ port: 8080 }]);
    await createService(kube, namespace, "shop", labels, [{ port: 80, targetPort: 8080 as never }]);
    await waitForReadyPods(kube, namespace, labels, 3);
    // Everything loc needs, except updating statefulsets/scale.
    const limited = await createLimitedKubeconfig(
      kube,
      namespace,
      [
        { apiGroups: [""], resources: ["services", "pods", "endpoints"], verbs: ["get", "list", "watch"] },
        { apiGroups: [""], resources: ["pods", "secrets"], verbs: ["get", "create", "delete"] },
        { apiGroups: [""], resources: ["pods/portforward"], verbs: ["get", "create"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
        { apiGroups: ["apps"], resources: ["replicasets", "deployments", "statefulsets"], verbs: ["get", "list", "patch"] },
        { apiGroups: ["apps"], resources: ["deployments/scale"], verbs: ["get", "update"] },
        { apiGroups: ["apps"], resources: ["statefulsets/scale"], verbs: ["get"] },
      ],
      mkdtempSync(join(tmpdir(), "loc-rbac-")),
    );
    const restricted = await startDaemonProcess(["--namespace", namespace], limited);
    try {
      const workloads = [{ kind: "Deployment" as const, name: "shop-a" }, { kind: "StatefulSet" as const, name: "shop-b" }];
      const before = await clusterState(workloads);
      const result = await runExpose([`${namespace}/shop`, ...standInArgs()], restricted.stateDir);
      expect(result.code).toBe(1);
      expect(result.stderr.trimEnd().split("\n").at(-1)).toMatch(
        new RegExp(`^loc: expose of ${namespace}/shop failed: .*statefulsets.apps "shop-b" is forbidden.* \\(hint: the cluster was put back as it was; each step: loc history --stream expose:[0-9a-f]{8}\\)$`),
      );
      expect(result.stdout).toContain("scale Deployment/shop-a ok");
      expect(result.stdout).toContain("restoreScale Deployment/shop-a ok");
      expect(await clusterState(workloads)).toEqual(before);
      await waitForReadyPods(kube, namespace, labels, 3);
    } finally {
      await restricted.stop();
    }
  });

  it("a proxy pod that never becomes Ready (no toleration for the only node's taint) is rolled back after the timeout", async () => {
    const labels = { app: "stuck" };
    await createDeployment(kube, namespace, "stuck", 2, { labels, ports: [{ containerPort: 9090 }] });
    await createService(kube, namespace, "stuck", labels, [{ port: 9090 }]);
    await waitForReadyPods(kube, namespace, labels, 2);
    const workloads = [{ kind: "Deployment" as const, name: "stuck" }];
    const before = await clusterState(workloads);
    const result = await runExpose([`${namespace}/stuck`, "--ready-timeout", "4s"]);
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd().split("\n").at(-1)).toMatch(
      new RegExp(`^loc: expose of ${namespace}/stuck failed: proxy pod loc-stuck-[0-9a-f]{8} was not Ready after 4 s: Unschedulable: .*untolerated taint.* \\(hint: the cluster was put back as it was; .*\\)$`),
    );
    await waitFor("the proxy pod and its Secret gone", async () => {
      const now = await clusterState(workloads);
      return JSON.stringify(now) === JSON.stringify(before) || undefined;
    });
    await waitForReadyPods(kube, namespace, labels, 2);
  });
});

describe("loc expose refuses bad input against the real cluster, changing nothing", () => {
  it.each([
    ["a namespace that does not exist", () => ["no-such-ns/web"], /^loc: expose of no-such-ns\/web failed: namespace "no-such-ns" does not exist \(hint: check the name: kubectl get namespaces\)$/],
    ["a service that does not exist", () => [`${namespace}/nope`], /failed: service .*\/nope does not exist \(hint: check the name: kubectl get services -n /],
    ["a service without a selector", () => [`${namespace}/manual`], /failed: service .*\/manual has no selector, so no pods of its own to stand in for \(hint: /],
    ["a bare pod behind the service", () => [`${namespace}/bare`], /failed: pod .*\/bare-pod has no controller \(a bare pod\), so loc could not bring it back after scaling it away \(hint: /],
    ["a service another owner already exposes", () => [`${namespace}/taken`], /failed: .*\/taken is already exposed by another loc \(owner bob\.elsewhere, session 0badc0de\) \(hint: ask its owner to stop it/],
    ["a --map port that is not in the service", () => [`${namespace}/mapped`, "--map", "3000:9999"], /failed: --map 3000:9999: 9999 is not a port of .*\/mapped \(ports: 7070→7070\) \(hint: /],
  ])("%s", async (_name, args, message) => {
    await seedBadInputs();
    const before = await kube.apps.listNamespacedDeployment({ namespace });
    const result = await runExpose([...args(), ...standInArgs()]);
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd().split("\n").at(-1)).toMatch(message);
    const after = await kube.apps.listNamespacedDeployment({ namespace });
    expect(after.items.map((d) => [d.metadata?.name, d.spec?.replicas, d.metadata?.resourceVersion])).toEqual(before.items.map((d) => [d.metadata?.name, d.spec?.replicas, d.metadata?.resourceVersion]));
  });
});

function placement() {
  return { nodeSelector: { ...kwokPlacement.nodeSelector }, tolerations: kwokPlacement.tolerations.map((t) => ({ ...t })) };
}

let seeded = false;
async function seedBadInputs(): Promise<void> {
  if (seeded) return;
  seeded = true;
  await createService(kube, namespace, "manual", {}, [{ port: 80 }]);
  await kube.core.createNamespacedPod({
    namespace,
    body: { metadata: { name: "bare-pod", labels: { app: "bare" } }, spec: { ...placement(), containers: [{ name: "c", image: neverPulledImage }] } },
  });
  await createService(kube, namespace, "bare", { app: "bare" }, [{ port: 80 }]);
  await kube.core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: "loc-taken-0badc0de", labels: { app: "taken", "loc.dev/session": "0badc0de", "loc.dev/owner": "bob.elsewhere", "loc.dev/service": "taken" } },
      spec: { ...placement(), containers: [{ name: "c", image: neverPulledImage }] },
    },
  });
  await createService(kube, namespace, "taken", { app: "taken" }, [{ port: 80 }]);
  await createDeployment(kube, namespace, "mapped", 1, { labels: { app: "mapped" }, ports: [{ containerPort: 7070 }] });
  await createService(kube, namespace, "mapped", { app: "mapped" }, [{ port: 7070 }]);
  await waitForReadyPods(kube, namespace, { app: "mapped" }, 1);
  await waitForReadyPods(kube, namespace, { app: "bare" }, 1);
}
