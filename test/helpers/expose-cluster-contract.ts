import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeRequestError } from "../../src/kube/cluster-port.js";
import type { ExposeCluster, PodInfo, PodManifest, WorkloadRef } from "../../src/kube/expose-cluster.js";

/**
 * What a contract run needs besides the adapter: seeding (through whatever the backend offers:
 * kubectl-like API calls or twin helpers) and a way to wait, since a real cluster's controllers
 * act asynchronously while the twin's act at once.
 */
export interface ExposeClusterFixture {
  cluster: ExposeCluster;
  /** Two existing, distinct namespaces the suite may fill (shared by all its tests). */
  namespaces: readonly [string, string];
  /** Pods of the template have `labels` and a container port named "http" (8080). */
  createDeployment(namespace: string, name: string, replicas: number, labels: Record<string, string>): Promise<void>;
  createStatefulSet(namespace: string, name: string, replicas: number, labels: Record<string, string>): Promise<void>;
  /** A Service with one port `http` 80 → targetPort "http". */
  createService(namespace: string, name: string, selector: Record<string, string>): Promise<void>;
  createBarePod(namespace: string, name: string, labels: Record<string, string>): Promise<void>;
  /** A valid pod manifest for createPod (placed where the backend can schedule it), port http 8080. */
  podManifest(name: string, labels: Record<string, string>): PodManifest;
  /** Secret data as stored, for checking stringData (undefined when absent). */
  secretData(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** Waits until the workload's controller has caught up, so nothing else bumps its resourceVersion. */
  settled(ref: WorkloadRef): Promise<void>;
  /** Polls until `probe` returns a value (anything but undefined); throws on timeout. */
  eventually<T>(what: string, probe: () => Promise<T | undefined>): Promise<T>;
  dispose(): Promise<void>;
}

async function rejection(promise: Promise<unknown>): Promise<KubeRequestError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KubeRequestError);
  return error as KubeRequestError;
}

/** The behaviour every ExposeCluster adapter must have, against a fixture made once per suite. */
export function exposeClusterContract(name: string, makeFixture: () => Promise<ExposeClusterFixture>): void {
  describe(`ExposeCluster contract: ${name}`, () => {
    let f: ExposeClusterFixture;
    let cluster: ExposeCluster;
    let ns: string;
    let other: string;
    // Pods of every test carry a label unique to this run, so a shared cluster's other pods never match.
    const run = randomBytes(4).toString("hex");

    beforeAll(async () => {
      f = await makeFixture();
      cluster = f.cluster;
      [ns, other] = f.namespaces;
    });
    afterAll(async () => {
      await f?.dispose();
    });

    /** Waits for exactly `count` Ready, not deleting pods matching `labels`, sorted by name. */
    const readyPods = (namespace: string, labels: Record<string, string>, count: number): Promise<PodInfo[]> =>
      f.eventually(`${count} ready pods`, async () => {
        const pods = await cluster.listPods(namespace, labels);
        return pods.length === count && pods.every((p) => p.ready && !p.deleting) ? pods : undefined;
      });

    it("tells an existing namespace from a missing one", async () => {
      expect(await cluster.namespaceExists(ns)).toBe(true);
      expect(await cluster.namespaceExists(`loc-missing-${run}`)).toBe(false);
    });

    it("reads a Service with the API server's defaults, and undefined for a missing one", async () => {
      await f.createService(ns, "svc-read", { app: `svc-read-${run}` });
      const service = await cluster.getService(ns, "svc-read");
      expect(service?.metadata).toMatchObject({ name: "svc-read", namespace: ns, uid: expect.any(String), resourceVersion: expect.any(String) });
      expect(service?.spec).toMatchObject({ type: "ClusterIP", clusterIP: expect.stringMatching(/^\d+\.\d+\.\d+\.\d+$/), selector: { app: `svc-read-${run}` } });
      expect(service?.spec?.ports).toEqual([{ name: "http", port: 80, protocol: "TCP", targetPort: "http" }]);
      expect(await cluster.getService(ns, "svc-missing")).toBeUndefined();
      expect(await cluster.getService(`loc-missing-${run}`, "svc-read")).toBeUndefined();
    });

    it("lists a Deployment's pods, owned by a ReplicaSet the Deployment owns", async () => {
      const labels = { app: `dep-own-${run}` };
      await f.createDeployment(ns, "dep-own", 2, labels);
      const pods = await readyPods(ns, labels, 2);
      const deployment = await cluster.readWorkload({ kind: "Deployment", namespace: ns, name: "dep-own" });
      const rsName = pods[0]?.ownerReferences[0]?.name ?? "";
      for (const pod of pods) {
        expect(pod).toMatchObject({ namespace: ns, phase: "Running", ready: true, deleting: false, labels, containerPorts: { http: 8080 } });
        expect(pod.ownerReferences).toEqual([expect.objectContaining({ apiVersion: "apps/v1", kind: "ReplicaSet", name: rsName, controller: true })]);
        expect(pod.unschedulable).toBeUndefined();
        expect(pod.waiting).toBeUndefined();
        expect(await cluster.readPod(ns, pod.name)).toEqual(pod);
      }
      const rs = await cluster.readReplicaSet(ns, rsName);
      expect(rs).toMatchObject({ kind: "ReplicaSet", namespace: ns, name: rsName, uid: pods[0]?.ownerReferences[0]?.uid });
      expect(rs?.ownerReferences).toEqual([expect.objectContaining({ kind: "Deployment", name: "dep-own", uid: deployment?.uid, controller: true })]);
      expect(await cluster.readReplicaSet(ns, "dep-own-missing")).toBeUndefined();
      expect(await cluster.readPod(ns, "dep-own-missing")).toBeUndefined();
      expect(await cluster.listPods(ns, { ...labels, extra: "no" })).toEqual([]);
    });

    it("lists a StatefulSet's pods <name>-<ordinal>, owned by the StatefulSet", async () => {
      const labels = { app: `sts-own-${run}` };
      await f.createStatefulSet(ns, "sts-own", 2, labels);
      const pods = await readyPods(ns, labels, 2);
      const statefulSet = await cluster.readWorkload({ kind: "StatefulSet", namespace: ns, name: "sts-own" });
      expect(pods.map((p) => p.name)).toEqual(["sts-own-0", "sts-own-1"]);
      for (const pod of pods) {
        expect(pod.ownerReferences).toEqual([expect.objectContaining({ apiVersion: "apps/v1", kind: "StatefulSet", name: "sts-own", uid: statefulSet?.uid, controller: true })]);
      }
    });

    it("reads workloads (replicas, uid, resourceVersion, annotations) and undefined for missing ones", async () => {
      await f.createDeployment(ns, "dep-read", 3, { app: `dep-read-${run}` });
      await f.createStatefulSet(ns, "sts-read", 1, { app: `sts-read-${run}` });
      const deployment = await cluster.readWorkload({ kind: "Deployment", namespace: ns, name: "dep-read" });
      expect(deployment).toMatchObject({ ref: { kind: "Deployment", namespace: ns, name: "dep-read" }, replicas: 3, uid: expect.any(String), resourceVersion: expect.any(String) });
      expect(deployment?.annotations).toEqual(expect.any(Object));
      const statefulSet = await cluster.readWorkload({ kind: "StatefulSet", namespace: ns, name: "sts-read" });
      expect(statefulSet).toMatchObject({ ref: { kind: "StatefulSet", namespace: ns, name: "sts-read" }, replicas: 1 });
      expect(statefulSet?.uid).not.toBe(deployment?.uid);
      // Same name, other kind: a different object.
      expect(await cluster.readWorkload({ kind: "StatefulSet", namespace: ns, name: "dep-read" })).toBeUndefined();
      expect(await cluster.readWorkload({ kind: "Deployment", namespace: ns, name: "missing" })).toBeUndefined();
      expect(await cluster.readWorkload({ kind: "Deployment", namespace: `loc-missing-${run}`, name: "dep-read" })).toBeUndefined();
    });

    for (const kind of ["Deployment", "StatefulSet"] as const) {
      it(`scales a ${kind} with its current resourceVersion and refuses a stale one (409)`, async () => {
        const name = `${kind === "Deployment" ? "dep" : "sts"}-scale`;
        const labels = { app: `${name}-${run}` };
        const ref: WorkloadRef = { kind, namespace: ns, name };
        await (kind === "Deployment" ? f.createDeployment : f.createStatefulSet)(ns, name, 2, labels);
        await readyPods(ns, labels, 2);
        await f.settled(ref);
        const before = await cluster.readWorkload(ref);
        if (!before) throw new Error("workload missing");

        const scaled = await cluster.scaleWorkload(ref, 0, before.resourceVersion);
        expect(scaled).toMatchObject({ ref, uid: before.uid, replicas: 0 });
        expect(scaled.resourceVersion).not.toBe(before.resourceVersion);
        expect(await cluster.readWorkload(ref)).toMatchObject({ replicas: 0 });
        await f.eventually("no pods", async () => ((await cluster.listPods(ns, labels)).length === 0 ? true : undefined));

        const stale = await rejection(cluster.scaleWorkload(ref, 2, before.resourceVersion));
        expect(stale.statusCode).toBe(409);
        expect((await cluster.readWorkload(ref))?.replicas).toBe(0);

        await f.settled(ref);
        const current = await cluster.readWorkload(ref);
        const back = await cluster.scaleWorkload(ref, 1, current?.resourceVersion ?? "");
        expect(back.replicas).toBe(1);
        await readyPods(ns, labels, 1);

        expect((await rejection(cluster.scaleWorkload({ kind, namespace: ns, name: "missing" }, 0, "1"))).statusCode).toBe(404);
      });

      it(`adds and removes ${kind} annotations conditional on the uid (409 when it differs)`, async () => {
        const name = `${kind === "Deployment" ? "dep" : "sts"}-annotate`;
        const ref: WorkloadRef = { kind, namespace: ns, name };
        await (kind === "Deployment" ? f.createDeployment : f.createStatefulSet)(ns, name, 1, { app: `${name}-${run}` });
        await f.settled(ref);
        const before = await cluster.readWorkload(ref);
        if (!before) throw new Error("workload missing");

        const added = await cluster.patchWorkloadAnnotations(ref, before.uid, { "loc.dev/a": "1", "loc.dev/b": '{"x":2}' });
        expect(added.annotations).toMatchObject({ ...before.annotations, "loc.dev/a": "1", "loc.dev/b": '{"x":2}' });
        expect(added).toMatchObject({ uid: before.uid, replicas: before.replicas });
        expect(added.resourceVersion).not.toBe(before.resourceVersion);
        // Not toEqual(added): a real Deployment's generation moves with its annotations, so the
        // controller writes status right after and the resourceVersion moves on again.
        expect(await cluster.readWorkload(ref)).toMatchObject({ uid: before.uid, annotations: added.annotations });

        const removed = await cluster.patchWorkloadAnnotations(ref, before.uid, { "loc.dev/a": null, "loc.dev/absent": null });
        expect(removed.annotations["loc.dev/a"]).toBeUndefined();
        expect(removed.annotations["loc.dev/b"]).toBe('{"x":2}');

        const wrongUid = await rejection(cluster.patchWorkloadAnnotations(ref, "00000000-0000-4000-8000-000000000000", { "loc.dev/c": "3" }));
        expect(wrongUid.statusCode).toBe(409);
        expect(wrongUid.message).toMatch(/precondition failed/);
        expect((await cluster.readWorkload(ref))?.annotations["loc.dev/c"]).toBeUndefined();

        const missing = await rejection(cluster.patchWorkloadAnnotations({ kind, namespace: ns, name: "missing" }, before.uid, { "loc.dev/a": "1" }));
        expect(missing.statusCode).toBe(404);
      });
    }

    it("creates a pod from a manifest, reads it back and refuses a duplicate name (409)", async () => {
      const labels = { app: `create-${run}`, "loc.dev/role": "proxy" };
      const created = await cluster.createPod(ns, f.podManifest("created-pod", labels));
      expect(created).toMatchObject({ namespace: ns, name: "created-pod", uid: expect.any(String), labels, ownerReferences: [], deleting: false, containerPorts: { http: 8080 } });
      const ready = await f.eventually("created pod ready", async () => {
        const pod = await cluster.readPod(ns, "created-pod");
        return pod?.ready ? pod : undefined;
      });
      expect(ready).toMatchObject({ uid: created.uid, phase: "Running", labels });
      expect((await rejection(cluster.createPod(ns, f.podManifest("created-pod", labels)))).statusCode).toBe(409);
      expect((await rejection(cluster.createPod(`loc-missing-${run}`, f.podManifest("created-pod", labels)))).statusCode).toBe(404);
    });

    it("deletes a pod only with its uid: a wrong uid is 'gone' and leaves it, then 'deleted', then 'gone'", async () => {
      const created = await cluster.createPod(ns, f.podManifest("doomed-pod", { app: `doomed-${run}` }));
      expect(await cluster.deletePod(ns, "doomed-pod", "00000000-0000-4000-8000-000000000000")).toBe("gone");
      expect((await cluster.readPod(ns, "doomed-pod"))?.uid).toBe(created.uid);
      expect(await cluster.deletePod(ns, "doomed-pod", created.uid)).toBe("deleted");
      await f.eventually("pod deleted", async () => ((await cluster.readPod(ns, "doomed-pod")) === undefined ? true : undefined));
      expect(await cluster.deletePod(ns, "doomed-pod", created.uid)).toBe("gone");
      expect(await cluster.deletePod(ns, "never-existed", created.uid)).toBe("gone");
    });

    it("creates a Secret owned by a pod, reads it, and deletes it only with its uid", async () => {
      const pod = await cluster.createPod(ns, f.podManifest("secret-owner", { app: `secret-${run}` }));
      const labels = { "loc.dev/session": run };
      const secret = await cluster.createSecret(ns, { name: "proxy-keys", labels, data: { "authorized_keys": "ssh-ed25519 AAAA test\n" }, ownerPod: { name: pod.name, uid: pod.uid } });
      expect(secret).toEqual({ name: "proxy-keys", uid: expect.any(String) });
      expect(await cluster.readSecret(ns, "proxy-keys")).toEqual({ uid: secret.uid, labels });
      expect(await f.secretData(ns, "proxy-keys")).toEqual({ "authorized_keys": "ssh-ed25519 AAAA test\n" });
      expect((await rejection(cluster.createSecret(ns, { name: "proxy-keys", labels, data: {} }))).statusCode).toBe(409);

      expect(await cluster.deleteSecret(ns, "proxy-keys", "00000000-0000-4000-8000-000000000000")).toBe("gone");
      expect(await cluster.readSecret(ns, "proxy-keys")).toBeDefined();
      expect(await cluster.deleteSecret(ns, "proxy-keys", secret.uid)).toBe("deleted");
      expect(await cluster.readSecret(ns, "proxy-keys")).toBeUndefined();
      expect(await cluster.deleteSecret(ns, "proxy-keys", secret.uid)).toBe("gone");
      await cluster.deletePod(ns, pod.name, pod.uid);
    });

    it("garbage-collects a Secret with the pod that owns it", async () => {
      const pod = await cluster.createPod(ns, f.podManifest("gc-owner", { app: `gc-${run}` }));
      await cluster.createSecret(ns, { name: "gc-secret", labels: {}, data: { a: "b" }, ownerPod: { name: pod.name, uid: pod.uid } });
      expect(await cluster.deletePod(ns, pod.name, pod.uid)).toBe("deleted");
      await f.eventually("owned Secret collected", async () => ((await cluster.readSecret(ns, "gc-secret")) === undefined ? true : undefined));
    });

    it("finds pods by a label selector string in one namespace or all", async () => {
      const find = { "loc.dev/find": run };
      await f.createBarePod(ns, "find-a", { ...find, tier: "web" });
      await f.createBarePod(other, "find-b", { ...find, tier: "db" });
      await f.createBarePod(other, "find-c", { tier: "web" });
      const everywhere = await cluster.findPods(`loc.dev/find=${run}`);
      expect(everywhere.map((p) => `${p.namespace}/${p.name}`).sort()).toEqual([`${ns}/find-a`, `${other}/find-b`].sort());
      expect(everywhere.every((p) => p.ownerReferences.length === 0)).toBe(true);
      expect((await cluster.findPods(`loc.dev/find=${run}`, other)).map((p) => p.name)).toEqual(["find-b"]);
      expect((await cluster.findPods(`loc.dev/find=${run},tier!=db`)).map((p) => p.name)).toEqual(["find-a"]);
      expect((await cluster.findPods(`loc.dev/find=${run},tier in (db,cache)`)).map((p) => p.name)).toEqual(["find-b"]);
      expect(await cluster.findPods(`loc.dev/find=${run}`, `loc-missing-${run}`)).toEqual([]);
    });

    it("replaces a Service's selector exactly and merges annotations, conditional on uid and resourceVersion (409)", async () => {
      const original = { app: `svc-patch-${run}`, tier: "web" };
      await f.createService(ns, "svc-patch", original);
      const read = await cluster.getService(ns, "svc-patch");
      const uid = read?.metadata?.uid ?? "";
      const version = read?.metadata?.resourceVersion ?? "";
      const saved = { "loc.dev/original-selector": JSON.stringify(original) };
      const patched = await cluster.patchService(ns, "svc-patch", uid, version, { selector: { "loc.dev/session": run }, annotations: saved });
      expect(patched.spec?.selector).toEqual({ "loc.dev/session": run });
      expect(patched.metadata?.annotations).toMatchObject(saved);
      expect((await cluster.getService(ns, "svc-patch"))?.spec?.selector).toEqual({ "loc.dev/session": run });
      // The version loc read is stale now: a second patch from it is refused, not applied.
      expect((await rejection(cluster.patchService(ns, "svc-patch", uid, version, { selector: original, annotations: {} }))).statusCode).toBe(409);
      const now = patched.metadata?.resourceVersion ?? "";
      expect((await rejection(cluster.patchService(ns, "svc-patch", "00000000-0000-4000-8000-000000000000", now, { selector: original, annotations: {} }))).statusCode).toBe(409);
      const restored = await cluster.patchService(ns, "svc-patch", uid, now, { selector: original, annotations: { "loc.dev/original-selector": null } });
      expect(restored.spec?.selector).toEqual(original);
      expect((restored.metadata?.annotations as Record<string, string> | undefined)?.["loc.dev/original-selector"]).toBeUndefined();
    });

    it("finds every Service with uid, selector and annotations, in one namespace or all", async () => {
      await f.createService(other, "svc-find", { app: `svc-find-${run}` });
      const read = await cluster.getService(other, "svc-find");
      const inOther = await cluster.findServices(other);
      expect(inOther.every((s) => s.metadata?.namespace === other)).toBe(true);
      const found = inOther.find((s) => s.metadata?.name === "svc-find");
      expect(found?.metadata).toMatchObject({ uid: read?.metadata?.uid, resourceVersion: expect.any(String) });
      expect(found?.spec?.selector).toEqual({ app: `svc-find-${run}` });
      const everywhere = await cluster.findServices();
      expect(everywhere.some((s) => s.metadata?.namespace === other && s.metadata.name === "svc-find")).toBe(true);
      expect(everywhere.some((s) => s.metadata?.namespace === ns)).toBe(true);
    });

    it("finds Secrets by a label selector, identity and labels only, in one namespace or all", async () => {
      const labels = { "loc.dev/find-secret": run };
      const a = await cluster.createSecret(ns, { name: "find-secret-a", labels: { ...labels, tier: "web" }, data: { key: "private" } });
      const b = await cluster.createSecret(other, { name: "find-secret-b", labels, data: { key: "private" } });
      await cluster.createSecret(other, { name: "find-secret-c", labels: { tier: "web" }, data: {} });
      const found = await cluster.findSecrets(`loc.dev/find-secret=${run}`);
      expect(found.sort((x, y) => x.name.localeCompare(y.name))).toEqual([
        { namespace: ns, name: "find-secret-a", uid: a.uid, labels: { ...labels, tier: "web" } },
        { namespace: other, name: "find-secret-b", uid: b.uid, labels },
      ]);
      expect((await cluster.findSecrets(`loc.dev/find-secret=${run}`, other)).map((x) => x.name)).toEqual(["find-secret-b"]);
      expect(await cluster.findSecrets(`loc.dev/find-secret=${run},tier=db`)).toEqual([]);
    });

    it("finds every Deployment and StatefulSet with replicas, uid and annotations, in one namespace or all", async () => {
      await f.createDeployment(other, "dep-find", 2, { app: `dep-find-${run}` });
      await f.createStatefulSet(other, "sts-find", 1, { app: `sts-find-${run}` });
      const inOther = await cluster.findWorkloads(other);
      const byName = new Map(inOther.map((w) => [`${w.ref.kind}/${w.ref.name}`, w]));
      const read = await cluster.readWorkload({ kind: "Deployment", namespace: other, name: "dep-find" });
      expect(byName.get("Deployment/dep-find")).toMatchObject({ ref: read?.ref, uid: read?.uid, replicas: 2, annotations: read?.annotations, resourceVersion: expect.any(String) });
      expect(byName.get("StatefulSet/sts-find")).toMatchObject({ ref: { kind: "StatefulSet", namespace: other, name: "sts-find" }, replicas: 1 });
      expect(inOther.every((w) => w.ref.namespace === other)).toBe(true);
      const everywhere = await cluster.findWorkloads();
      expect(everywhere.some((w) => w.ref.namespace === ns)).toBe(true);
      expect(everywhere.some((w) => w.ref.namespace === other && w.ref.name === "dep-find")).toBe(true);
    });

    it("fails with a KubeRequestError (400) on a malformed selector", async () => {
      expect((await rejection(cluster.findPods("a in (b"))).statusCode).toBe(400);
    });
  });
}
