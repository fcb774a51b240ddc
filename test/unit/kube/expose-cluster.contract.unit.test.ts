import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { describe, expect, it, onTestFinished } from "vitest";
import { KubeRequestError } from "../../../src/kube/cluster-port.js";
import type { PodManifest, WorkloadRef } from "../../../src/kube/expose-cluster.js";
import { KubeExposeCluster } from "../../../src/kube/kube-expose-cluster.js";
import { MemoryExposeCluster } from "../../support/memory-expose-cluster.js";
import { exposeClusterContract } from "../../helpers/expose-cluster-contract.js";

const manifest = (name: string, labels: Record<string, string> = {}): PodManifest => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, labels },
  spec: { containers: [{ name: "app", image: "loc.invalid/app:0", ports: [{ name: "http", containerPort: 8080 }] }] },
});

exposeClusterContract("MemoryExposeCluster", async () => {
  const twin = new MemoryExposeCluster();
  twin.addNamespace("shop");
  twin.addNamespace("other");
  return {
    cluster: twin,
    namespaces: ["shop", "other"],
    createDeployment: async (namespace, name, replicas, labels) => void twin.addDeployment(namespace, name, replicas, labels, { http: 8080 }),
    createStatefulSet: async (namespace, name, replicas, labels) => void twin.addStatefulSet(namespace, name, replicas, labels, { http: 8080 }),
    createService: async (namespace, name, selector) =>
      void twin.addService({ metadata: { namespace, name }, spec: { selector, ports: [{ name: "http", port: 80, targetPort: "http" }] } }),
    createBarePod: async (namespace, name, labels) => void twin.addBarePod(namespace, name, labels),
    podManifest: manifest,
    secretData: async (namespace, name) => twin.secrets(namespace).find((s) => s.name === name)?.data,
    settled: async () => {},
    // The twin's controllers act at once: whatever the test waits for must already be so.
    eventually: async (what, probe) => {
      const value = await probe();
      if (value === undefined) throw new Error(`the twin should already show: ${what}`);
      return value;
    },
    dispose: async () => {},
  };
});

const web: WorkloadRef = { kind: "Deployment", namespace: "shop", name: "web" };
const db: WorkloadRef = { kind: "StatefulSet", namespace: "shop", name: "db" };

function seeded(): MemoryExposeCluster {
  const twin = new MemoryExposeCluster();
  twin.addDeployment("shop", "web", 2, { app: "web" }, { http: 8080 });
  twin.addStatefulSet("shop", "db", 2, { app: "db" });
  return twin;
}

describe("MemoryExposeCluster (twin only)", () => {
  it("seeds a Deployment as ReplicaSet <name>-<hash> with Ready pods <rs>-<n>", async () => {
    const twin = seeded();
    const pods = twin.pods("shop").filter((p) => p.labels.app === "web");
    const rs = pods[0]?.ownerReferences[0]?.name ?? "";
    expect(rs).toMatch(/^web-[0-9a-f]{10}$/);
    expect(pods.map((p) => p.name)).toEqual([`${rs}-0`, `${rs}-1`]);
    expect(pods.every((p) => p.ready && p.phase === "Running" && p.labels["pod-template-hash"] === rs.slice(4))).toBe(true);
    expect(twin.workload(web)?.annotations).toEqual({ "deployment.kubernetes.io/revision": "1" });
  });

  it("hands out strictly increasing resourceVersions across all objects", async () => {
    const twin = seeded();
    const v1 = Number(twin.workload(web)?.resourceVersion);
    const v2 = Number(twin.workload(db)?.resourceVersion);
    const created = await twin.createPod("shop", manifest("proxy"));
    const scaled = await twin.scaleWorkload(web, 0, String(v1));
    expect(v2).toBeGreaterThan(v1);
    expect(Number(scaled.resourceVersion)).toBeGreaterThan(v2);
    expect(twin.pod("shop", created.name)).toBeDefined();
  });

  it("fails the next matching call before it acts, once", async () => {
    const twin = seeded();
    const boom = new KubeRequestError("etcdserver: request timed out", 500);
    twin.failNext("scaleWorkload", boom, ([ref]) => (ref as WorkloadRef).kind === "StatefulSet");
    const rv = twin.workload(web)?.resourceVersion ?? "";
    expect((await twin.scaleWorkload(web, 1, rv)).replicas).toBe(1);
    await expect(twin.scaleWorkload(db, 0, twin.workload(db)?.resourceVersion ?? "")).rejects.toBe(boom);
    expect(twin.workload(db)?.replicas).toBe(2);
    expect((await twin.scaleWorkload(db, 0, twin.workload(db)?.resourceVersion ?? "")).replicas).toBe(0);
    expect(twin.calls.filter((c) => c.operation === "scaleWorkload")).toHaveLength(3);
  });

  it("with when 'after', acts and then loses the answer", async () => {
    const twin = seeded();
    twin.failNext("createPod", new KubeRequestError("connection reset", undefined), undefined, "after");
    await expect(twin.createPod("shop", manifest("proxy"))).rejects.toMatchObject({ statusCode: undefined });
    expect(twin.pod("shop", "proxy")).toBeDefined();
    expect((await twin.createPod("shop", manifest("proxy")).catch((e: KubeRequestError) => e)) as KubeRequestError).toMatchObject({ statusCode: 409 });
  });

  it("keeps created pods unready under setPodReadiness('never') until setPodStatus says otherwise", async () => {
    const twin = new MemoryExposeCluster();
    twin.addNamespace("shop");
    twin.setPodReadiness("never");
    const pod = await twin.createPod("shop", manifest("proxy"));
    expect(pod).toMatchObject({ ready: false, phase: "Pending" });
    twin.setPodStatus("shop", "proxy", { unschedulable: "Unschedulable: 0/1 nodes are available: 1 node(s) had untolerated taint." });
    expect(await twin.readPod("shop", "proxy")).toMatchObject({ ready: false, unschedulable: expect.stringMatching(/^Unschedulable: /) });
    twin.setPodStatus("shop", "proxy", { unschedulable: null, waiting: "ImagePullBackOff: Back-off pulling image" });
    const waiting = await twin.readPod("shop", "proxy");
    expect(waiting?.unschedulable).toBeUndefined();
    expect(waiting?.waiting).toBe("ImagePullBackOff: Back-off pulling image");
    twin.setPodStatus("shop", "proxy", { waiting: null, ready: true });
    expect(await twin.readPod("shop", "proxy")).toMatchObject({ ready: true, phase: "Running" });
    twin.setPodReadiness("auto");
    expect((await twin.createPod("shop", manifest("proxy-2"))).ready).toBe(true);
  });

  it("records the manifest a pod was created from", async () => {
    const twin = seeded();
    await twin.createPod("shop", manifest("proxy", { role: "proxy" }));
    expect(twin.podManifest("shop", "proxy")).toEqual(manifest("proxy", { role: "proxy" }));
    expect(twin.pod("shop", "proxy")?.containerPorts).toEqual({ http: 8080 });
  });

  it("rejects invalid names and pods without containers (422), like the API server", async () => {
    const twin = seeded();
    await expect(twin.createPod("shop", manifest("Bad_Name"))).rejects.toMatchObject({ statusCode: 422 });
    await expect(twin.createPod("shop", { metadata: { name: "empty", labels: {} }, spec: { containers: [] } })).rejects.toMatchObject({ statusCode: 422 });
    await expect(twin.scaleWorkload(web, -1, twin.workload(web)?.resourceVersion ?? "")).rejects.toMatchObject({ statusCode: 422 });
  });

  it("simulates someone else's edit: new resourceVersion (stale scale is 409) and reconciled pods", async () => {
    const twin = seeded();
    const before = twin.workload(web);
    const edited = twin.editWorkload(web, { replicas: 3, annotations: { "team/owner": "x" } });
    expect(Number(edited.resourceVersion)).toBeGreaterThan(Number(before?.resourceVersion));
    expect(edited.annotations["team/owner"]).toBe("x");
    expect(await twin.listPods("shop", { app: "web" })).toHaveLength(3);
    await expect(twin.scaleWorkload(web, 0, before?.resourceVersion ?? "")).rejects.toMatchObject({ statusCode: 409 });
    expect(twin.editWorkload(web).resourceVersion).not.toBe(edited.resourceVersion);
  });

  it("simulates a replacement: a new uid fails the old uid's precondition", async () => {
    const twin = seeded();
    const before = twin.workload(db);
    const after = twin.recreateWorkload(db);
    expect(after.uid).not.toBe(before?.uid);
    await expect(twin.patchWorkloadAnnotations(db, before?.uid ?? "", { a: "b" })).rejects.toMatchObject({ statusCode: 409, message: /precondition failed: uid/ });
    const pods = await twin.listPods("shop", { app: "db" });
    expect(pods.map((p) => p.ownerReferences[0]?.uid)).toEqual([after.uid, after.uid]);
  });

  it("does not write (nor bump resourceVersion) on a scale or patch that changes nothing", async () => {
    const twin = seeded();
    const before = twin.workload(web);
    expect((await twin.scaleWorkload(web, 2, before?.resourceVersion ?? "")).resourceVersion).toBe(before?.resourceVersion);
    expect((await twin.patchWorkloadAnnotations(web, before?.uid ?? "", { absent: null })).resourceVersion).toBe(before?.resourceVersion);
  });

  it("follows a scale, or a Deployment annotation change, with the controller's status write: the returned version is stale", async () => {
    const twin = seeded();
    const scaled = await twin.scaleWorkload(web, 1, twin.workload(web)?.resourceVersion ?? "");
    expect(Number(twin.workload(web)?.resourceVersion)).toBeGreaterThan(Number(scaled.resourceVersion));
    await expect(twin.scaleWorkload(web, 0, scaled.resourceVersion)).rejects.toMatchObject({ statusCode: 409 });
    const annotated = await twin.patchWorkloadAnnotations(web, scaled.uid, { "loc.dev/a": "1" });
    expect(twin.workload(web)?.resourceVersion).not.toBe(annotated.resourceVersion);
    const dbState = twin.workload(db);
    const dbAnnotated = await twin.patchWorkloadAnnotations(db, dbState?.uid ?? "", { "loc.dev/a": "1" });
    expect(twin.workload(db)?.resourceVersion).toBe(dbAnnotated.resourceVersion);
  });

  it("lets controllers replace deleted pods: a ReplicaSet under a new name, a StatefulSet under the same", async () => {
    const twin = seeded();
    const [webPod] = await twin.listPods("shop", { app: "web" });
    const [dbPod] = await twin.listPods("shop", { app: "db" });
    if (!webPod || !dbPod) throw new Error("seeded pods missing");
    expect(await twin.deletePod("shop", webPod.name, webPod.uid)).toBe("deleted");
    expect(await twin.deletePod("shop", dbPod.name, dbPod.uid)).toBe("deleted");
    const webPods = await twin.listPods("shop", { app: "web" });
    expect(webPods).toHaveLength(2);
    expect(webPods.map((p) => p.name)).not.toContain(webPod.name);
    const replaced = twin.pod("shop", dbPod.name);
    expect(replaced?.uid).not.toBe(dbPod.uid);
    expect(await twin.deletePod("shop", dbPod.name, dbPod.uid)).toBe("gone");
    expect(twin.pod("shop", dbPod.name)?.uid).toBe(replaced?.uid);
  });

  it("collects a Secret at once when its owner pod does not exist", async () => {
    const twin = seeded();
    await twin.createSecret("shop", { name: "orphan", labels: {}, data: {}, ownerPod: { name: "gone", uid: "no-such-uid" } });
    expect(twin.secrets("shop")).toEqual([]);
    expect(await twin.readSecret("shop", "orphan")).toBeUndefined();
  });

  it("fills in Service defaults", () => {
    const twin = new MemoryExposeCluster();
    const service = twin.addService({ metadata: { namespace: "shop", name: "web" }, spec: { selector: { app: "web" }, ports: [{ port: 80 }] } });
    expect(service.spec).toMatchObject({ type: "ClusterIP", clusterIP: expect.stringMatching(/^10\.96\./), ports: [{ port: 80, protocol: "TCP", targetPort: 80 }] });
  });
});

/** A KubeExposeCluster talking to a local HTTP server that answers with `respond`; the token is a canary. */
async function fakeApiServer(respond: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<KubeExposeCluster> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => respond(req, body, res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return new KubeExposeCluster(configFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
}

function configFor(server: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: "c", server, skipTLSVerify: true }],
    users: [{ name: "u", token: "canary-token-123" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return config;
}

const status = (code: number, message: string, extra: object = {}) => JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message, code, ...extra });

describe("KubeExposeCluster wire format and errors (no cluster)", () => {
  it("sends the annotation patch as a JSON merge patch carrying the uid", async () => {
    let seen: { method?: string; url?: string; type?: string; body?: string } = {};
    const cluster = await fakeApiServer((req, body, res) => {
      seen = { method: req.method, url: req.url, type: req.headers["content-type"], body };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ metadata: { name: "web", namespace: "shop", uid: "u1", resourceVersion: "7", annotations: { a: "1" } }, spec: { replicas: 0 } }));
    });
    const state = await cluster.patchWorkloadAnnotations(web, "u1", { a: "1", b: null });
    expect(seen).toEqual({ method: "PATCH", url: "/apis/apps/v1/namespaces/shop/deployments/web", type: "application/merge-patch+json", body: expect.any(String) });
    expect(JSON.parse(seen.body ?? "")).toEqual({ metadata: { uid: "u1", annotations: { a: "1", b: null } } });
    expect(state).toEqual({ ref: web, uid: "u1", resourceVersion: "7", replicas: 0, annotations: { a: "1" } });
  });

  it("reports the server's refusal to change metadata.uid (422) as the 409 the interface promises", async () => {
    const cluster = await fakeApiServer((_req, _body, res) => {
      res.writeHead(422, { "content-type": "application/json" });
      res.end(status(422, 'Deployment.apps "web" is invalid: metadata.uid: Invalid value: "u1": field is immutable', { reason: "Invalid", details: { causes: [{ reason: "FieldValueInvalid", field: "metadata.uid" }] } }));
    });
    await expect(cluster.patchWorkloadAnnotations(web, "u1", { a: "1" })).rejects.toMatchObject({ statusCode: 409, message: /precondition failed: uid u1/ });
  });

  it("carries the metav1.Status message and code, never headers or the token", async () => {
    const cluster = await fakeApiServer((_req, _body, res) => {
      res.writeHead(403, { "content-type": "application/json", "x-echo": "canary-token-123" });
      res.end(status(403, 'pods is forbidden: User "system:serviceaccount:shop:x" cannot list resource "pods"'));
    });
    const error = await cluster.listPods("shop", { app: "web" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeRequestError);
    expect(error).toMatchObject({ statusCode: 403, message: 'list pods app=web in shop: pods is forbidden: User "system:serviceaccount:shop:x" cannot list resource "pods"' });
    expect((error as Error).message).not.toMatch(/canary|Headers|HTTP-Code/);
  });

  it("maps 404 to undefined/false/'gone', a delete's uid-precondition 409 to 'gone', and other 409s to errors", async () => {
    const answers: [number, string][] = [];
    const cluster = await fakeApiServer((_req, _body, res) => {
      const [code, message] = answers.shift() ?? [500, "unexpected"];
      res.writeHead(code, { "content-type": "application/json" });
      res.end(status(code, message));
    });
    answers.push([404, "not found"], [404, "not found"], [404, "not found"], [404, "not found"]);
    expect(await cluster.namespaceExists("x")).toBe(false);
    expect(await cluster.readWorkload(web)).toBeUndefined();
    expect(await cluster.deletePod("shop", "p", "u")).toBe("gone");
    expect(await cluster.deleteSecret("shop", "s", "u")).toBe("gone");
    answers.push([409, 'Operation cannot be fulfilled on Pod "p": the UID in the precondition (u) does not match the UID in record (v). The object might have been deleted and then recreated']);
    expect(await cluster.deletePod("shop", "p", "u")).toBe("gone");
    answers.push([409, 'Operation cannot be fulfilled on deployments.apps "web": the object has been modified']);
    await expect(cluster.scaleWorkload(web, 0, "1")).rejects.toMatchObject({ statusCode: 409 });
    answers.push([500, "etcdserver: request timed out"]);
    await expect(cluster.getService("shop", "web")).rejects.toMatchObject({ statusCode: 500, message: "read Service shop/web: etcdserver: request timed out" });
  });

  it("reports a refused connection without a status code", async () => {
    const cluster = new KubeExposeCluster(configFor("http://127.0.0.1:1"));
    const error = await cluster.readPod("shop", "p").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeRequestError);
    expect(error).toMatchObject({ statusCode: undefined, message: expect.stringMatching(/^read pod shop\/p: .*ECONNREFUSED/) });
    expect((error as Error).message).not.toMatch(/canary/);
  });
});
