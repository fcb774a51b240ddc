import { describe, expect, it } from "vitest";
import { ExposeSession } from "../../../src/expose/session.js";
import type { ExposeStrategy } from "../../../src/expose/strategy.js";
import { KubeRequestError } from "../../../src/kube/cluster-port.js";
import type { ExposeCluster, WorkloadRef } from "../../../src/kube/expose-cluster.js";
import { MemoryExposeCluster } from "../../support/memory-expose-cluster.js";
import type { ServiceObject } from "../../../src/kube/service-model.js";
import { inputFromCluster, inputFromStore } from "../../../src/recover/inputs.js";
import { recover, type RecoveryDeps } from "../../../src/recover/recover.js";
import { unfinishedSessions } from "../../../src/recover/sessions.js";
import { ANY_VERSION } from "../../../src/store/event-store.js";
import { exposeStream } from "../../../src/store/streams.js";
import { MemoryEventStore } from "../../support/memory-store.js";
import { FakeReverseTransport } from "../../helpers/fake-reverse.js";
import { Mortal } from "../../helpers/mortal.js";

const OWNER = "alice.laptop";
const WEB: WorkloadRef = { kind: "Deployment", namespace: "shop", name: "web" };
const API: WorkloadRef = { kind: "Deployment", namespace: "shop", name: "api" };
const MUTATING = new Set(["scaleWorkload", "patchWorkloadAnnotations", "createPod", "deletePod", "createSecret", "deleteSecret", "patchService"]);

function world() {
  const twin = new MemoryExposeCluster();
  for (const [name, replicas] of [["web", 2], ["api", 1]] as const) {
    twin.addService({ metadata: { namespace: "shop", name }, spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] } });
    twin.addDeployment("shop", name, replicas, { app: name });
  }
  const store = new MemoryEventStore();
  const deps = (more: Partial<RecoveryDeps> = {}): RecoveryDeps => ({
    cluster: () => twin,
    hosts: { hasBlock: async () => false, removeBlock: async () => false },
    record: (stream, event) => store.append(stream, [event], ANY_VERSION),
    dryRun: false,
    ...more,
  });
  const run = (more: Partial<RecoveryDeps> = {}) => recover({ ...inputFromStore(store, OWNER), staleFiles: [] }, deps(more));
  return { twin, store, deps, run };
}

/**
 * Runs a real session until it has made `op`, then "kills the process": every later cluster call
 * of the session hangs and its events are dropped. With `loseAnswer`, `op` takes effect but its
 * outcome is never recorded (the crash came between the call and its outcome).
 */
async function crashedSession(w: ReturnType<typeof world>, op: keyof ExposeCluster, options: { id?: string; service?: string; owner?: string; clusterUrl?: string; loseAnswer?: boolean; strategy?: ExposeStrategy } = {}) {
  const daemon = new Mortal();
  const view = daemon.view(w.twin, { dieAfter: (operation, _args, failed) => operation === op && !failed, loseAnswer: options.loseAnswer });
  const id = options.id ?? "s1";
  const session = new ExposeSession(
    { namespace: "shop", name: options.service ?? "web", maps: [], strategy: options.strategy, image: "img", user: "abc", runAsUser: 911, sshPort: 2222, readyTimeoutMs: 60_000, connectTimeoutMs: 60_000, localHost: "127.0.0.1" },
    {
      cluster: view,
      transport: new FakeReverseTransport(),
      owner: options.owner ?? OWNER,
      clusterUrl: options.clusterUrl,
      record: daemon.recorder((stream, event) => w.store.append(stream, [event], ANY_VERSION)),
      pollMs: 5,
      sessionId: id,
    },
  );
  session.start();
  for (const deadline = Date.now() + 3_000; !daemon.dead; await new Promise((resolve) => setTimeout(resolve, 2))) {
    if (Date.now() > deadline) throw new Error(`the session never reached ${op}`);
  }
  return id;
}

const types = (store: MemoryEventStore, id: string) => store.read({ stream: exposeStream(id) }).map((e) => e.type);
const mutations = (twin: MemoryExposeCluster, from = 0) => twin.calls.slice(from).filter((c) => MUTATING.has(c.operation));
const proxies = (twin: MemoryExposeCluster) => twin.pods("shop").filter((p) => p.labels["loc.dev/session"]).map((p) => p.name);

describe("recover() over the cluster twin", () => {
  it("undoes a session that died after creating its proxy pod, then finds nothing left", async () => {
    const w = world();
    const web = w.twin.workload(WEB)!;
    await crashedSession(w, "createPod");
    const [pod, secret] = [w.twin.pod("shop", "loc-web-s1")!, w.twin.secrets("shop")[0]!];
    expect(w.twin.workload(WEB)).toMatchObject({ replicas: 0, annotations: { "loc.dev/session": "s1" } });
    expect(proxies(w.twin)).toEqual(["loc-web-s1"]);

    const report = await w.run();
    expect(report.actions.map((a) => `${a.action} ${a.target} ${a.status}`)).toEqual([
      "deletePod Pod/loc-web-s1 done", "deleteConfig Secret/loc-web-s1 done", "restoreScale Deployment/web done", "removeAnnotations Deployment/web done",
    ]);
    expect(report).toMatchObject({ source: "store", sessions: 1, done: 4, left: 0, failed: 0 });
    // Deleted by uid: the calls name the objects the session created.
    expect(mutations(w.twin).filter((c) => c.operation.startsWith("delete")).map((c) => c.args)).toEqual([
      ["shop", "loc-web-s1", pod.uid],
      ["shop", "loc-web-s1", secret.uid],
    ]);
    expect(proxies(w.twin)).toEqual([]);
    expect(w.twin.secrets("shop")).toEqual([]);
    expect(w.twin.workload(WEB)).toMatchObject({ uid: web.uid, replicas: 2, annotations: web.annotations });
    expect(types(w.store, "s1").at(-1)).toBe("expose.stopped");
    expect(w.store.read({ stream: "recovery" }).map((e) => e.type)).toEqual(["recovery.started", ...report.actions.map(() => "recovery.action"), "recovery.completed"]);

    expect(inputFromStore(w.store, OWNER).sessions).toEqual([]);
    const calls = w.twin.calls.length;
    expect(await w.run()).toMatchObject({ sessions: 0, actions: [] });
    expect(w.twin.calls.length).toBe(calls);
  });

  it("restores a scale whose outcome was never recorded", async () => {
    const w = world();
    await crashedSession(w, "scaleWorkload", { loseAnswer: true });
    expect(types(w.store, "s1").at(-1)).toBe("expose.intent");
    expect(w.twin.workload(WEB)?.replicas).toBe(0);
    expect(await w.run()).toMatchObject({ done: 2, failed: 0 });
    expect(w.twin.workload(WEB)).toMatchObject({ replicas: 2, annotations: {} });
  });

  it("appends at the stream version the log was read at: a write since then stops that session's recovery, nothing undone", async () => {
    const strict = (w: ReturnType<typeof world>) => w.deps({ record: (stream, event, expected = ANY_VERSION) => w.store.append(stream, [event], expected) });
    // Nobody else writes: every append lands at the version it expects.
    const calm = world();
    await crashedSession(calm, "createPod");
    expect(await recover({ ...inputFromStore(calm.store, OWNER), staleFiles: [] }, strict(calm))).toMatchObject({ done: 4, failed: 0 });
    expect(types(calm.store, "s1").at(-1)).toBe("expose.stopped");

    // A daemon stops the session after the log was read: recovery must not redo its undo.
    const raced = world();
    await crashedSession(raced, "createPod");
    const input = inputFromStore(raced.store, OWNER);
    expect(input.sessions[0]?.version).toBe(raced.store.streamVersion(exposeStream("s1")));
    raced.store.append(exposeStream("s1"), [{ type: "expose.stopped", data: { service: "shop/web", reason: "stopped by its daemon" } }], ANY_VERSION);
    const before = raced.twin.calls.length;
    const report = await recover({ ...input, staleFiles: [] }, strict(raced));
    expect(report).toMatchObject({ done: 0, failed: 1 });
    expect(report.actions[0]?.detail).toMatch(/is at version \d+, not the expected \d+/);
    expect(mutations(raced.twin, before)).toEqual([]);
  });

  it("leaves a workload someone else rescaled after the crash, but takes loc's annotations off", async () => {
    const w = world();
    await crashedSession(w, "createPod");
    w.twin.editWorkload(WEB, { replicas: 5 });
    const report = await w.run();
    expect(report).toMatchObject({ left: 1, failed: 0, done: 3 });
    expect(report.actions.find((a) => a.status === "left")?.detail).toMatch(/scaled to 5 by someone else/);
    expect(w.twin.workload(WEB)).toMatchObject({ replicas: 5, annotations: {} });
    expect(types(w.store, "s1").at(-1)).toBe("expose.stopped");
  });

  it("leaves a workload that was deleted and recreated untouched", async () => {
    const w = world();
    await crashedSession(w, "createPod");
    const fresh = w.twin.recreateWorkload(WEB);
    const report = await w.run();
    expect(report).toMatchObject({ left: 1, failed: 0 });
    expect(report.actions.find((a) => a.status === "left")?.detail).toMatch(/deleted or replaced/);
    // Same uid, replicas and resourceVersion: not scaled to the old object's 2, not annotated.
    expect(w.twin.workload(WEB)).toEqual(fresh);
    expect(mutations(w.twin).some((c) => c.operation === "scaleWorkload" && c.args[1] === 2)).toBe(false);
  });

  it("refuses a session recorded on another cluster, touching nothing, until run against that cluster", async () => {
    const w = world();
    await crashedSession(w, "createPod", { clusterUrl: "https://a" });
    const calls = w.twin.calls.length;
    const wrong = await w.run({ clusterUrl: "https://b" });
    expect(wrong).toMatchObject({ failed: 1, done: 0 });
    expect(wrong.actions[0]?.detail).toMatch(/it ran on https:\/\/a, the current context is https:\/\/b: rerun with --context or --kubeconfig/);
    expect(w.twin.calls.length).toBe(calls);
    expect(inputFromStore(w.store, OWNER).sessions.map((s) => s.id)).toEqual(["s1"]);

    expect(await w.run({ clusterUrl: "https://a" })).toMatchObject({ done: 4, failed: 0 });
    expect(w.twin.workload(WEB)?.replicas).toBe(2);
  });

  // The Secret owns the pod: a failed pod delete is healed by the Secret's (garbage collection),
  // a failed Secret delete is left for the second run.
  it.each([
    ["deletePod", "delete Pod/loc-web-s1: boom", []],
    ["deleteSecret", "delete Secret/loc-web-s1: boom", ["deleteConfig Secret/loc-web-s1 done"]],
  ] as const)("keeps a session unfinished when %s fails, and a second run settles it", async (op, detail, retried) => {
    const w = world();
    await crashedSession(w, "createPod");
    w.twin.failNext(op, new KubeRequestError("boom", 500));
    const first = await w.run();
    expect(first).toMatchObject({ failed: 1, done: 3 });
    expect(first.actions.find((a) => a.status === "failed")?.detail).toBe(detail);
    expect(w.twin.workload(WEB)).toMatchObject({ replicas: 2, annotations: {} });
    expect(types(w.store, "s1")).not.toContain("expose.stopped");
    expect(inputFromStore(w.store, OWNER).sessions).toHaveLength(1);

    const second = await w.run();
    expect(second).toMatchObject({ sessions: 1, failed: 0 });
    expect(second.actions.map((a) => `${a.action} ${a.target} ${a.status}`)).toEqual(retried);
    expect(types(w.store, "s1").at(-1)).toBe("expose.stopped");
    expect(proxies(w.twin)).toEqual([]);
    expect(w.twin.secrets("shop")).toEqual([]);
  });

  it("never touches or counts another owner's sessions in the same log", async () => {
    const w = world();
    await crashedSession(w, "createPod");
    await crashedSession(w, "createPod", { id: "b1", service: "api", owner: "bob.desktop" });
    expect(unfinishedSessions(w.store.read(), OWNER)).toMatchObject({ sessions: [{ id: "s1" }], otherOwners: 1 });
    const report = await w.run();
    expect(report).toMatchObject({ sessions: 1, done: 4 });
    expect(report.actions.every((a) => a.session === "s1")).toBe(true);
    expect(w.twin.workload(API)).toMatchObject({ replicas: 0, annotations: { "loc.dev/owner": "bob.desktop" } });
    expect(proxies(w.twin)).toEqual(["loc-api-b1"]);
    expect(types(w.store, "b1")).not.toContain("expose.stopped");
  });

  it("--from-cluster: finds this owner's leftovers by labels and annotations when the log is gone", async () => {
    const w = world();
    await crashedSession(w, "createPod");
    await crashedSession(w, "createPod", { id: "b1", service: "api", owner: "bob.desktop" });
    const fresh = new MemoryEventStore();
    const input = await inputFromCluster(w.twin, OWNER, undefined, inputFromStore(undefined, OWNER));
    expect(input.sessions).toEqual([{ id: "s1", service: "shop/web", namespace: "shop", owner: OWNER, workloads: [{ ref: WEB, uid: w.twin.workload(WEB)?.uid, scaledFrom: 2 }], services: [], proxies: ["loc-web-s1"] }]);
    const report = await recover({ ...input, staleFiles: [] }, w.deps({ record: (stream, event) => fresh.append(stream, [event], ANY_VERSION) }));
    expect(report).toMatchObject({ source: "cluster", sessions: 1, done: 4, failed: 0 });
    expect(w.twin.workload(WEB)).toMatchObject({ replicas: 2, annotations: {} });
    expect(w.twin.workload(API)).toMatchObject({ replicas: 0, annotations: { "loc.dev/owner": "bob.desktop" } });
    expect(proxies(w.twin)).toEqual(["loc-api-b1"]);
    expect(fresh.read({ stream: "expose:s1" }).at(-1)?.type).toBe("expose.stopped");
  });

  it("a dry run only plans: reads, no mutation, nothing recorded", async () => {
    const w = world();
    await crashedSession(w, "createPod");
    const [calls, events] = [w.twin.calls.length, w.store.read().length];
    const report = await w.run({ dryRun: true, record: () => expect.unreachable("a dry run records nothing") });
    expect(report.actions.map((a) => a.status)).toEqual(["planned", "planned", "planned", "planned"]);
    expect(report).toMatchObject({ dryRun: true, done: 0, failed: 0 });
    expect(mutations(w.twin, calls)).toEqual([]);
    expect(w.twin.calls.length).toBeGreaterThan(calls);
    expect(w.store.read().length).toBe(events);
    expect(w.twin.workload(WEB)?.replicas).toBe(0);
  });

  it("a stale claim superseded by a later session of this owner is not reported as left", async () => {
    // Session a1's stop released the workload on the cluster, but its daemon died before recording
    // that; then b1 claimed the same workload and died too. b1 restores it; a1 has nothing to do.
    const w = world();
    const aProcess = new Mortal();
    const releasing = (operation: string, args: unknown[]) => operation === "patchWorkloadAnnotations" && (args[2] as Record<string, unknown>)["loc.dev/session"] === null;
    const aView = aProcess.view(w.twin, { dieAfter: releasing, loseAnswer: true });
    const a = new ExposeSession(
      { namespace: "shop", name: "web", maps: [], image: "img", user: "abc", runAsUser: 911, sshPort: 2222, readyTimeoutMs: 60_000, connectTimeoutMs: 60_000, localHost: "127.0.0.1" },
      { cluster: aView, transport: new FakeReverseTransport(), owner: OWNER, record: aProcess.recorder((stream, event) => w.store.append(stream, [event], ANY_VERSION)), pollMs: 1, sessionId: "a1" },
    );
    a.start();
    while (a.status().state !== "active") await new Promise((resolve) => setTimeout(resolve, 1));
    void a.stop("user");
    while (!aProcess.dead) await new Promise((resolve) => setTimeout(resolve, 1));
    expect(w.twin.workload(WEB)).toMatchObject({ replicas: 2, annotations: {} });
    await crashedSession(w, "createPod", { id: "b1" });

    const report = await w.run();
    expect(report).toMatchObject({ sessions: 2, left: 0, failed: 0 });
    expect(report.actions.filter((a) => a.session === "a1")).toEqual([]);
    expect(w.twin.workload(WEB)).toMatchObject({ replicas: 2, annotations: {} });
    expect(w.store.read({ types: ["expose.warning"] })).toEqual([]);
  });
});

describe("recover() of selector sessions", () => {
  const SELECTOR = { app: "web" };
  const service = async (w: ReturnType<typeof world>) => (await w.twin.getService("shop", "web")) ?? expect.fail("no Service web");
  const loc = (s: ServiceObject) => Object.keys((s.metadata?.annotations ?? {}) as object).filter((k) => k.startsWith("loc.dev/"));
  const lines = (report: { actions: { action: string; target: string; status: string }[] }) => report.actions.map((a) => `${a.action} ${a.target} ${a.status}`);
  /** Died with the retarget applied and its outcome lost: the worst moment for a selector session. */
  const crashedRetargeted = async (w: ReturnType<typeof world>) => {
    await crashedSession(w, "patchService", { strategy: "selector", loseAnswer: true });
    expect((await service(w)).spec?.selector).toEqual({ "loc.dev/session": "s1" });
    expect(types(w.store, "s1").at(-1)).toBe("expose.intent");
  };

  it("from the log: selector back first, then the proxy; the Deployment is never touched; a second run does nothing", async () => {
    const w = world();
    const web = w.twin.workload(WEB);
    const uid = (await service(w)).metadata?.uid;
    await crashedRetargeted(w);
    expect(unfinishedSessions(w.store.read(), OWNER).sessions).toMatchObject([{ id: "s1", workloads: [], services: [{ name: "web", uid, selector: SELECTOR }], proxies: ["loc-web-s1"] }]);

    const report = await w.run();
    expect(lines(report)).toEqual(["restoreSelector Service/web done", "deletePod Pod/loc-web-s1 done", "deleteConfig Secret/loc-web-s1 done"]);
    expect(await service(w)).toMatchObject({ metadata: { uid }, spec: { selector: SELECTOR } });
    expect(loc(await service(w))).toEqual([]);
    expect([proxies(w.twin), w.twin.secrets("shop")]).toEqual([[], []]);
    expect(w.twin.workload(WEB)).toEqual(web);
    expect(types(w.store, "s1").at(-1)).toBe("expose.stopped");

    const calls = w.twin.calls.length;
    expect(await w.run()).toMatchObject({ sessions: 0, actions: [] });
    expect(w.twin.calls.length).toBe(calls);
  });

  it("--from-cluster with an unreadable original selector: nothing guessed, the Service left and still marked as loc's", async () => {
    const w = world();
    await crashedRetargeted(w);
    const now = await service(w);
    await w.twin.patchService("shop", "web", now.metadata?.uid ?? "", now.metadata?.resourceVersion ?? "", { selector: { "loc.dev/session": "s1" }, annotations: { "loc.dev/original-selector": "{not json" } });
    const input = await inputFromCluster(w.twin, OWNER, undefined, inputFromStore(undefined, OWNER));
    const report = await recover({ ...input, staleFiles: [] }, w.deps({ record: () => undefined }));
    expect(lines(report)).toEqual(["leave Service/web left", "deletePod Pod/loc-web-s1 done", "deleteConfig Secret/loc-web-s1 done"]);
    expect(report.actions[0]?.detail).toMatch(/original selector is unknown/);
    expect((await service(w)).spec?.selector).toEqual({ "loc.dev/session": "s1" });
    expect(loc(await service(w)).sort()).toEqual(["loc.dev/original-selector", "loc.dev/owner", "loc.dev/session"]);
  });

  it("--from-cluster: finds the retargeted Service by its annotations when the log is gone", async () => {
    const w = world();
    const uid = (await service(w)).metadata?.uid;
    await crashedRetargeted(w);
    const fresh = new MemoryEventStore();
    const input = await inputFromCluster(w.twin, OWNER, undefined, inputFromStore(undefined, OWNER));
    expect(input.sessions).toEqual([{ id: "s1", service: "shop/web", namespace: "shop", owner: OWNER, workloads: [], services: [{ name: "web", uid, selector: SELECTOR }], proxies: ["loc-web-s1"] }]);

    const report = await recover({ ...input, staleFiles: [] }, w.deps({ record: (stream, event) => fresh.append(stream, [event], ANY_VERSION) }));
    expect(report).toMatchObject({ source: "cluster", done: 3, left: 0, failed: 0 });
    expect((await service(w)).spec?.selector).toEqual(SELECTOR);
    expect(loc(await service(w))).toEqual([]);
    expect((await inputFromCluster(w.twin, OWNER, undefined, inputFromStore(undefined, OWNER))).sessions).toEqual([]);
  });

  it("a selector someone changed before the recover is left and only released, never overwritten", async () => {
    const w = world();
    await crashedRetargeted(w);
    const now = await service(w);
    const theirs = { app: "web", track: "canary" };
    // kubectl edit: the twin merges annotations, so loc's claim stays on.
    await w.twin.patchService("shop", "web", now.metadata!.uid!, now.metadata!.resourceVersion!, { selector: theirs, annotations: {} });
    const calls = w.twin.calls.length;

    const report = await w.run();
    expect(lines(report)).toEqual(["leave Service/web left", "releaseService Service/web done", "deletePod Pod/loc-web-s1 done", "deleteConfig Secret/loc-web-s1 done"]);
    expect(report.actions[0]?.detail).toMatch(/had its selector changed to \{"app":"web","track":"canary"\} by someone else/);
    expect((await service(w)).spec?.selector).toEqual(theirs);
    expect(loc(await service(w))).toEqual([]);
    expect(mutations(w.twin, calls).filter((c) => c.operation === "patchService").map((c) => (c.args[4] as { selector: unknown }).selector)).toEqual([theirs]);
    expect(types(w.store, "s1").at(-1)).toBe("expose.stopped");

    const again = w.twin.calls.length;
    expect(await w.run()).toMatchObject({ sessions: 0, actions: [] });
    expect(w.twin.calls.length).toBe(again);
  });

  it("a Service deleted and recreated before the recover is left untouched", async () => {
    const w = world();
    await crashedRetargeted(w);
    const fresh = w.twin.addService({ metadata: { namespace: "shop", name: "web" }, spec: { selector: SELECTOR, ports: [{ port: 80, targetPort: 8080 }] } });
    const report = await w.run();
    expect(lines(report)).toEqual(["leave Service/web left", "deletePod Pod/loc-web-s1 done", "deleteConfig Secret/loc-web-s1 done"]);
    expect(await service(w)).toEqual(fresh);
    expect(mutations(w.twin).filter((c) => c.operation === "patchService")).toHaveLength(1);
  });
});
