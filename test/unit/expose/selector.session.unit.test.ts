// `loc expose --strategy selector` on the cluster twin: the Service is pointed at the proxy pod and
// back, conditionally on its resourceVersion; no workload is ever touched. Recovery of crashed
// selector sessions is in test/unit/recover/recover.twin.unit.test.ts (it shares that file's crash helper).
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocError } from "../../../src/errors.js";
import { resolveExpose } from "../../../src/expose/resolve.js";
import { ExposeSession, type ExposeOptions } from "../../../src/expose/session.js";
import { annotationsOf } from "../../../src/expose/selector.js";
import { parseStrategy } from "../../../src/expose/strategy.js";
import { locAnnotations } from "../../../src/expose/undo.js";
import { KubeRequestError } from "../../../src/kube/cluster-port.js";
import type { WorkloadRef } from "../../../src/kube/expose-cluster.js";
import { MemoryExposeCluster } from "../../support/memory-expose-cluster.js";
import type { ServiceObject } from "../../../src/kube/service-model.js";
import type { NewEvent } from "../../../src/store/events.js";
import { FakeReverseTransport } from "../../helpers/fake-reverse.js";
import { loc } from "../../helpers/run-cli.js";
import { tempDir } from "../../helpers/temp.js";

const OWNER = "alice.laptop";
const WEB: WorkloadRef = { kind: "Deployment", namespace: "shop", name: "web" };
// Keys deliberately unsorted: the restore must give back the very same map, not a sorted copy.
const SELECTOR = { tier: "frontend", app: "web" };
const MUTATING = new Set(["scaleWorkload", "patchWorkloadAnnotations", "createPod", "deletePod", "createSecret", "deleteSecret", "patchService"]);

function world() {
  const cluster = new MemoryExposeCluster();
  cluster.addService({ metadata: { namespace: "shop", name: "web" }, spec: { selector: SELECTOR, ports: [{ name: "http", port: 80, targetPort: 8080 }] } });
  cluster.addDeployment("shop", "web", 2, SELECTOR);
  const transport = new FakeReverseTransport();
  const events: NewEvent[] = [];
  const make = (more: Partial<ExposeOptions> = {}, sessionId = "s1") =>
    new ExposeSession(
      { namespace: "shop", name: "web", maps: [], strategy: "selector", image: "img", user: "abc", runAsUser: 911, sshPort: 2222, readyTimeoutMs: 2_000, connectTimeoutMs: 2_000, localHost: "127.0.0.1", ...more },
      { cluster, transport, owner: OWNER, record: (_stream, event) => events.push(event), pollMs: 5, backoff: { baseMs: 5, capMs: 20, resetAfterMs: 60_000 }, sessionId },
    );
  const types = () => events.map((e) => (e.type === "expose.intent" || e.type === "expose.outcome" ? `${e.type}:${e.data.action}` : e.type === "expose.step" ? `step:${e.data.step}` : e.type));
  const intents = () => events.flatMap((e) => (e.type === "expose.intent" ? [e.data.action] : []));
  const outcomes = () => events.flatMap((e) => (e.type === "expose.outcome" ? [`${e.data.action} ${e.data.ok ? "ok" : "failed"}`] : []));
  const warnings = () => events.flatMap((e) => (e.type === "expose.warning" ? [e.data.message] : []));
  const service = async (name = "web") => (await cluster.getService("shop", name)) ?? expect.fail(`no Service ${name}`);
  const proxies = () => cluster.pods("shop").filter((p) => p.labels["loc.dev/session"]);
  return { cluster, transport, events, make, types, intents, outcomes, warnings, service, proxies };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The Service minus what any write changes: a restore is judged by everything else. */
const sansVersion = (s: ServiceObject) => ({ ...s, metadata: { ...s.metadata, resourceVersion: undefined, annotations: annotationsOf(s) } });

/** Someone else (kubectl) patches shop/web; the twin merges annotations, so loc's stay unless nulled. */
async function foreign(cluster: MemoryExposeCluster, change: { selector?: Record<string, string>; annotations?: Record<string, string | null> }): Promise<ServiceObject> {
  const now = (await cluster.getService("shop", "web"))!;
  const patch = { selector: change.selector ?? now.spec?.selector ?? {}, annotations: change.annotations ?? {} };
  return MemoryExposeCluster.prototype.patchService.call(cluster, "shop", "web", now.metadata!.uid!, now.metadata!.resourceVersion!, patch);
}

/** Runs `edit` once, just before loc's first patchService (after resolve read the Service). */
function beforeRetarget(cluster: MemoryExposeCluster, edit: () => Promise<ServiceObject>): { edited?: ServiceObject } {
  const seen: { edited?: ServiceObject } = {};
  const patch = cluster.patchService.bind(cluster);
  cluster.patchService = async (...args) => {
    seen.edited ??= await edit();
    return patch(...args);
  };
  return seen;
}

describe("expose --strategy selector", () => {
  it("reaches active by retargeting the Service after the transport is up; no workload is touched", async () => {
    const { cluster, transport, events, make, intents, service, proxies } = world();
    const web = cluster.workload(WEB)!;
    const appPods = cluster.pods("shop");
    const before = await service();
    const session = make();
    let connectedAtRetarget = -1;
    session.onEvent((e) => {
      if (e.type === "expose.intent" && e.data.action === "retarget") connectedAtRetarget = transport.sessions.length;
    });
    session.start();
    await until(() => session.status().state === "active", "active");

    expect(cluster.workload(WEB)).toEqual(web);
    expect(cluster.pods("shop").filter((p) => !p.labels["loc.dev/session"])).toEqual(appPods);
    expect(cluster.calls.filter((c) => c.operation === "scaleWorkload" || c.operation === "patchWorkloadAnnotations")).toEqual([]);
    // Only loc's labels: no ReplicaSet or other Service selecting the app's labels may count the proxy.
    expect(proxies().map((p) => p.labels)).toEqual([{ "loc.dev/session": "s1", "loc.dev/owner": OWNER, "loc.dev/service": "web", "app.kubernetes.io/managed-by": "loc" }]);
    const now = await service();
    expect(now.spec?.selector).toEqual({ "loc.dev/session": "s1" });
    expect(annotationsOf(now)).toEqual({ "loc.dev/session": "s1", "loc.dev/owner": OWNER, "loc.dev/original-selector": '{"app":"web","tier":"frontend"}' });
    expect(now.metadata?.uid).toBe(before.metadata?.uid);

    expect(intents()).toEqual(["createConfig", "createPod", "retarget"]);
    expect(connectedAtRetarget).toBe(1);
    const retarget = events.find((e) => e.type === "expose.intent" && e.data.action === "retarget");
    expect(retarget?.data).toMatchObject({ target: "Service/web", original: { uid: before.metadata?.uid, resourceVersion: before.metadata?.resourceVersion, selector: SELECTOR, to: { "loc.dev/session": "s1" } } });
    expect(events.find((e) => e.type === "expose.requested")?.data).toMatchObject({ strategy: "selector", owner: OWNER });
    expect(session.status()).toMatchObject({ strategy: "selector", state: "active", pod: "loc-web-s1", workloads: [] });
    await session.stop("done");
  });

  it("stop puts the selector back exactly and takes loc's annotations off", async () => {
    const { cluster, make, types, intents, outcomes, warnings, service, proxies } = world();
    const before = await service();
    const web = cluster.workload(WEB);
    const session = make();
    session.start();
    await until(() => session.status().state === "active", "active");

    expect(await session.stop("done")).toEqual({ state: "stopped" });
    const after = await service();
    expect(after.spec?.selector).toEqual(SELECTOR);
    expect(JSON.stringify(after.spec?.selector)).toBe(JSON.stringify(before.spec?.selector));
    expect(sansVersion(after)).toEqual(sansVersion(before));
    expect(locAnnotations(annotationsOf(after))).toEqual({});
    expect(intents()).toEqual(["createConfig", "createPod", "retarget", "restoreSelector", "deletePod", "deleteConfig"]);
    expect(outcomes().every((o) => o.endsWith(" ok"))).toBe(true);
    expect(outcomes()).toHaveLength(intents().length);
    // Traffic goes back to the app before the proxy disappears.
    expect(types().slice(types().indexOf("step:compensating"))).toEqual([
      "step:compensating", "expose.intent:restoreSelector", "expose.outcome:restoreSelector", "expose.intent:deletePod", "expose.outcome:deletePod",
      "expose.intent:deleteConfig", "expose.outcome:deleteConfig", "expose.stopped",
    ]);
    expect(warnings()).toEqual([]);
    expect([proxies(), cluster.secrets("shop")]).toEqual([[], []]);
    expect(cluster.workload(WEB)).toEqual(web);
  });

  it("the tunnel keeps serving until the selector is back, and closes before the proxy is deleted", async () => {
    const { transport, events, make } = world();
    const session = make();
    const openAt: Record<string, boolean> = {};
    session.onEvent((event) => {
      if (event.type === "expose.intent") openAt[event.data.action] = transport.sessions.at(-1)?.closed === false;
    });
    session.start();
    await until(() => session.status().state === "active", "active");
    expect(await session.stop("done")).toEqual({ state: "stopped" });
    expect(openAt).toMatchObject({ restoreSelector: true, deletePod: false });
    expect(events.at(-1)?.type).toBe("expose.stopped");
  });

  it("a retarget whose request landed but whose answer was a conflict finds its own claim and goes on", async () => {
    const { cluster, make, outcomes, service } = world();
    cluster.failNext("patchService", new KubeRequestError("the object has been modified", 409), undefined, "after");
    const session = make();
    session.start();
    await until(() => session.status().state === "active", "active");
    expect(outcomes()).toContain("retarget ok");
    expect((await service()).spec?.selector).toEqual({ "loc.dev/session": "s1" });
    expect(await session.stop("done")).toEqual({ state: "stopped" });
    expect((await service()).spec?.selector).toEqual(SELECTOR);
  });

  it("a selector someone changed while active is left as they set it, loc's claim released, and the stop still ends cleanly", async () => {
    const { cluster, make, intents, outcomes, warnings, service, proxies } = world();
    const session = make();
    session.start();
    await until(() => session.status().state === "active", "active");
    await foreign(cluster, { selector: { app: "web", track: "canary" } });

    expect(await session.stop("done")).toEqual({ state: "stopped" });
    const after = await service();
    expect(after.spec?.selector).toEqual({ app: "web", track: "canary" });
    expect(annotationsOf(after)).toEqual({});
    expect(warnings()).toEqual(['Service/web had its selector changed to {"app":"web","track":"canary"} by someone else while exposed (it was {"app":"web","tier":"frontend"}); left as it is']);
    expect(intents().slice(3)).toEqual(["releaseService", "deletePod", "deleteConfig"]);
    expect(outcomes().slice(3)).toEqual(["releaseService ok", "deletePod ok", "deleteConfig ok"]);
    expect([proxies(), cluster.secrets("shop")]).toEqual([[], []]);
  });

  it("a stop during the retarget lets it finish, then undoes it: stopped, selector back", async () => {
    const { make, intents, service } = world();
    const session = make();
    session.onEvent((e) => {
      if (e.type === "expose.intent" && e.data.action === "retarget") void session.stop("changed my mind");
    });
    session.start();
    expect(await session.done).toEqual({ state: "stopped" });
    expect(intents()).toEqual(["createConfig", "createPod", "retarget", "restoreSelector", "deletePod", "deleteConfig"]);
    expect((await service()).spec?.selector).toEqual(SELECTOR);
  });

  it("a Service replaced while active is left untouched, said in a warning", async () => {
    const { cluster, make, intents, warnings, service, proxies } = world();
    const session = make();
    session.start();
    await until(() => session.status().state === "active", "active");
    const fresh = cluster.addService({ metadata: { namespace: "shop", name: "web" }, spec: { selector: { app: "web" }, ports: [{ port: 80 }] } });
    expect(await session.stop("done")).toEqual({ state: "stopped" });
    expect(await service()).toEqual(fresh);
    expect(warnings()).toEqual(["Service/web was deleted or replaced while exposed; left as it is"]);
    expect(intents().slice(3)).toEqual(["deletePod", "deleteConfig"]);
    expect(proxies()).toEqual([]);
  });

  it("a conflict from a metadata-only change before the retarget is retried with the new version", async () => {
    const { cluster, make, outcomes, service } = world();
    beforeRetarget(cluster, () => foreign(cluster, { annotations: { team: "payments" } }));
    const session = make();
    session.start();
    await until(() => session.status().state === "active", "active");

    const now = await service();
    expect(now.spec?.selector).toEqual({ "loc.dev/session": "s1" });
    expect(annotationsOf(now)).toMatchObject({ team: "payments", "loc.dev/session": "s1" });
    // The edit, loc's stale try (409), loc's retry.
    expect(cluster.calls.filter((c) => c.operation === "patchService")).toHaveLength(3);
    expect(outcomes()).toEqual(["createConfig ok", "createPod ok", "retarget ok"]);

    await session.stop("done");
    expect((await service()).spec?.selector).toEqual(SELECTOR);
    expect(annotationsOf(await service())).toEqual({ team: "payments" });
  });

  it("a selector changed between resolve and retarget fails the session; the proxy goes, the Service stays as they set it", async () => {
    const { cluster, make, intents, warnings, service, proxies } = world();
    const seen = beforeRetarget(cluster, () => foreign(cluster, { selector: { app: "web", version: "v2" } }));
    const session = make();
    session.start();

    expect(await session.done).toMatchObject({ state: "failed", undone: true, error: 'Service/web\'s selector was changed meanwhile to {"app":"web","version":"v2"}' });
    expect(await service()).toEqual(seen.edited);
    expect(intents()).toEqual(["createConfig", "createPod", "retarget", "deletePod", "deleteConfig"]);
    expect(warnings()).toEqual([]);
    expect([proxies(), cluster.secrets("shop")]).toEqual([[], []]);
  });

  it.each([
    ["refused (403)", "before", 403],
    ["applied, answer lost (504)", "after", 504],
  ] as const)("a retarget %s is compensated: proxy and Secret deleted, Service as before", async (_what, when, status) => {
    const { cluster, make, service, proxies } = world();
    const before = await service();
    cluster.failNext("patchService", new KubeRequestError(`services "web" is forbidden or timed out (${status})`, status), undefined, when);
    const session = make();
    session.start();

    expect(await session.done).toMatchObject({ state: "failed", undone: true, error: expect.stringContaining(`(${status})`) });
    expect([proxies(), cluster.secrets("shop")]).toEqual([[], []]);
    // A refused patch changed nothing at all (same resourceVersion); an applied one was undone.
    if (when === "before") expect(await service()).toEqual(before);
    else expect(sansVersion(await service())).toEqual(sansVersion(before));
  });

  it("a proxy recreated after a loss is selected by the same Service: no second retarget", async () => {
    const { cluster, transport, make, intents, service } = world();
    const session = make();
    session.start();
    await until(() => session.status().state === "active", "active");
    const first = cluster.pod("shop", "loc-web-s1")!;
    await cluster.deletePod("shop", first.name, first.uid);
    transport.current?.lose("pod deleted");
    await until(() => transport.sessions.length === 2 && session.status().state === "active", "recreated");

    expect(cluster.pod("shop", "loc-web-s1")?.uid).not.toBe(first.uid);
    expect(intents().filter((i) => i === "retarget")).toHaveLength(1);
    expect((await service()).spec?.selector).toEqual({ "loc.dev/session": "s1" });
    expect(await session.stop("done")).toEqual({ state: "stopped" });
    expect((await service()).spec?.selector).toEqual(SELECTOR);
  });

  it("a selector restore that keeps failing is a leftover: failed, not undone, and the proxy still goes", async () => {
    const { cluster, events, make, proxies, service } = world();
    const session = make();
    session.start();
    await until(() => session.status().state === "active", "active");
    for (let i = 0; i < 4; i++) cluster.failNext("patchService", new KubeRequestError("etcdserver: request timed out", 500));

    expect(await session.stop("done")).toMatchObject({ state: "failed", undone: false, error: "could not undo everything: Service/web's selector not restored: etcdserver: request timed out" });
    expect((await service()).spec?.selector).toEqual({ "loc.dev/session": "s1" });
    expect(proxies()).toEqual([]);
    // Recorded as a leftover, so the log keeps the session unfinished for `loc recover`.
    expect(events.find((e) => e.type === "expose.failed")?.data).toMatchObject({ leftovers: ["Service/web's selector not restored: etcdserver: request timed out"] });
  });

  it("stands in for a bare pod, which the scale strategy refuses", async () => {
    const { cluster, make, service } = world();
    cluster.addService({ metadata: { namespace: "shop", name: "debug" }, spec: { selector: { app: "debug" }, ports: [{ port: 80, targetPort: 8080 }] } });
    const bare = cluster.addBarePod("shop", "debug-1", { app: "debug" });
    const refused = await resolveExpose(cluster, "shop", "debug", [], OWNER, "scale").catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "NO_CONTROLLER" });

    const session = make({ name: "debug" });
    session.start();
    await until(() => session.status().state === "active", "active");
    expect((await service("debug")).spec?.selector).toEqual({ "loc.dev/session": "s1" });
    expect(await session.stop("done")).toEqual({ state: "stopped" });
    expect((await service("debug")).spec?.selector).toEqual({ app: "debug" });
    expect(cluster.pod("shop", "debug-1")).toEqual(bare);
  });

  it.each([
    ["scale", "bob.desktop", "EXPOSED_BY_OTHER", "shop/web is already exposed by another loc (owner bob.desktop, session b0b)"],
    ["selector", "bob.desktop", "EXPOSED_BY_OTHER", "shop/web is already exposed by another loc (owner bob.desktop, session b0b)"],
    ["selector", OWNER, "ALREADY_EXPOSED", "shop/web is already exposed by this machine (session b0b)"],
  ] as const)("strategy %s refuses a Service retargeted by %s, without a mutating call", async (strategy, by, code, message) => {
    const cluster = new MemoryExposeCluster();
    const annotations = { "loc.dev/session": "b0b", "loc.dev/owner": by, "loc.dev/original-selector": '{"app":"web"}' };
    cluster.addService({ metadata: { namespace: "shop", name: "web", annotations }, spec: { selector: { "loc.dev/session": "b0b" }, ports: [{ port: 80 }] } });
    cluster.addDeployment("shop", "web", 2, { app: "web" });
    const error = await resolveExpose(cluster, "shop", "web", [], OWNER, strategy).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocError);
    expect(error).toMatchObject({ code, message });
    expect(cluster.calls.filter((c) => MUTATING.has(c.operation))).toEqual([]);
  });

  it("an unknown strategy is refused with the list, by parseStrategy and by the CLI before any daemon is asked", async () => {
    expect(() => parseStrategy("nope")).toThrow(LocError);
    expect(() => parseStrategy("nope")).toThrow(/available: scale, selector/);
    // No daemon runs in this state dir: reaching it would print "no loc daemon is running" instead.
    const { code, stdout, stderr } = await loc(["expose", "--state-dir", join(tempDir(), "s"), "shop/web", "--strategy", "nope"]);
    expect(code).not.toBe(0);
    expect(stdout).toBe("");
    expect(stderr.trimEnd().split("\n")).toEqual(['loc: unknown strategy "nope"; available: scale, selector (hint: e.g. --strategy selector (keeps the app\'s pods running))']);
  });
});
