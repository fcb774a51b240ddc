import { describe, expect, it } from "vitest";
import { ExposeSession, type ExposeOptions } from "../../../src/expose/session.js";
import { KubeRequestError } from "../../../src/kube/cluster-port.js";
import type { WorkloadRef } from "../../../src/kube/expose-cluster.js";
import { MemoryExposeCluster } from "../../support/memory-expose-cluster.js";
import type { NewEvent } from "../../../src/store/events.js";
import { FakeReverseTransport } from "../../helpers/fake-reverse.js";

const WEB: WorkloadRef = { kind: "Deployment", namespace: "shop", name: "web" };
const OWNER = "alice.laptop";

function world(options: Partial<ExposeOptions> = {}) {
  const cluster = new MemoryExposeCluster();
  cluster.addNamespace("shop");
  cluster.addService({ metadata: { namespace: "shop", name: "web" }, spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } });
  cluster.addDeployment("shop", "web", 2, { app: "web" });
  const transport = new FakeReverseTransport();
  const events: { stream: string; event: NewEvent }[] = [];
  const make = (sessionId = "s1", more: Partial<ExposeOptions> = {}) =>
    new ExposeSession(
      { namespace: "shop", name: "web", maps: [], image: "img", user: "abc", runAsUser: 911, sshPort: 2222, readyTimeoutMs: 2_000, connectTimeoutMs: 2_000, localHost: "127.0.0.1", ...options, ...more },
      { cluster, transport, owner: OWNER, record: (stream, event) => events.push({ stream, event }), pollMs: 5, backoff: { baseMs: 5, capMs: 20, resetAfterMs: 60_000 }, sessionId },
    );
  const types = () => events.map(({ event }) => (event.type === "expose.intent" || event.type === "expose.outcome" ? `${event.type}:${event.data.action}` : event.type === "expose.step" ? `step:${event.data.step}` : event.type));
  return { cluster, transport, events, make, types };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** What a user would compare before and after: workloads, pods (non-loc), secrets. */
function snapshot(cluster: MemoryExposeCluster) {
  return {
    web: (({ replicas, annotations, uid }) => ({ replicas, annotations, uid }))(cluster.workload(WEB)!),
    pods: cluster.pods("shop").length,
    proxies: cluster.pods("shop").filter((p) => p.labels["loc.dev/session"]).length,
    secrets: cluster.secrets("shop").length,
  };
}

describe("expose session on the cluster twin", () => {
  it("scales the Deployment to 0, creates a labelled proxy pod, connects, and undoes it all on stop", async () => {
    const { cluster, transport, make, types, events } = world();
    const before = snapshot(cluster);
    const session = make();
    session.start();
    await until(() => session.status().state === "active", "active");

    const web = cluster.workload(WEB)!;
    expect(web.replicas).toBe(0);
    expect(web.annotations).toMatchObject({ "loc.dev/session": "s1", "loc.dev/owner": OWNER, "loc.dev/original-replicas": "2" });
    const proxy = cluster.pod("shop", "loc-web-s1")!;
    expect(proxy.labels).toEqual({ app: "web", "loc.dev/session": "s1", "loc.dev/owner": OWNER, "loc.dev/service": "web", "app.kubernetes.io/managed-by": "loc" });
    // Controlled by the session's Secret, so the scaled-down ReplicaSet cannot adopt (and delete) it.
    expect(proxy.ownerReferences).toEqual([expect.objectContaining({ kind: "Secret", name: "loc-web-s1", controller: true })]);
    expect(cluster.secrets("shop").map((s) => s.name)).toEqual(["loc-web-s1"]);
    expect(transport.current?.forwards).toEqual([{ remotePort: 8080, localHost: "127.0.0.1", localPort: 8080 }]);
    expect(session.status()).toMatchObject({ state: "active", pod: "loc-web-s1", ports: ["8080→127.0.0.1:8080"], workloads: ["Deployment/web 2→0"] });

    expect(await session.stop("test over")).toEqual({ state: "stopped" });
    expect(snapshot(cluster)).toEqual(before);
    expect(transport.current?.closed).toBe(true);
    expect(types()).toEqual([
      "expose.requested", "step:resolving", "step:scalingDown",
      "expose.intent:annotate", "expose.outcome:annotate", "expose.intent:scale", "expose.outcome:scale",
      "step:creatingProxy", "expose.intent:createConfig", "expose.outcome:createConfig", "expose.intent:createPod", "expose.outcome:createPod",
      "step:waitingReady", "step:establishing", "expose.active", "step:stopping", "step:compensating",
      "expose.intent:deletePod", "expose.outcome:deletePod", "expose.intent:deleteConfig", "expose.outcome:deleteConfig",
      "expose.intent:restoreScale", "expose.outcome:restoreScale", "expose.intent:removeAnnotations", "expose.outcome:removeAnnotations",
      "expose.stopped",
    ]);
    expect(new Set(events.map((e) => e.stream))).toEqual(new Set(["expose:s1"]));
    const scaleIntent = events.find(({ event }) => event.type === "expose.intent" && event.data.action === "scale")?.event;
    expect(scaleIntent?.data).toMatchObject({ target: "Deployment/web", original: { replicas: 2, to: 0, uid: before.web.uid } });
  });

  it("restores the first workload when the second one's scale is forbidden", async () => {
    const { cluster, make } = world();
    cluster.addStatefulSet("shop", "web-cache", 3, { app: "web" });
    const before = { web: cluster.workload(WEB), cache: cluster.workload({ kind: "StatefulSet", namespace: "shop", name: "web-cache" }) };
    cluster.failNext("scaleWorkload", new KubeRequestError("statefulsets.apps \"web-cache\" is forbidden", 403), (args) => (args[0] as WorkloadRef).kind === "StatefulSet");
    const session = make();
    session.start();
    const outcome = await session.done;
    expect(outcome).toMatchObject({ state: "failed", undone: true, error: expect.stringContaining("forbidden") });
    expect(cluster.workload(WEB)).toMatchObject({ replicas: 2, annotations: before.web!.annotations, uid: before.web!.uid });
    expect(cluster.workload({ kind: "StatefulSet", namespace: "shop", name: "web-cache" })).toMatchObject({ replicas: 3, annotations: before.cache!.annotations });
    expect(cluster.pods("shop").filter((p) => p.labels["loc.dev/session"])).toEqual([]);
  });

  it("rolls back when the proxy pod is never Ready, naming why", async () => {
    const { cluster, make } = world({ readyTimeoutMs: 150 });
    const before = snapshot(cluster);
    cluster.setPodReadiness("never");
    const session = make();
    session.start();
    await until(() => cluster.pod("shop", "loc-web-s1") !== undefined, "proxy pod");
    cluster.setPodStatus("shop", "loc-web-s1", { unschedulable: "Unschedulable: 0/1 nodes are available" });
    const outcome = await session.done;
    expect(outcome).toMatchObject({ state: "failed", error: "proxy pod loc-web-s1 was not Ready after 0.15 s: Unschedulable: 0/1 nodes are available" });
    cluster.setPodReadiness("auto");
    expect({ ...snapshot(cluster), pods: before.pods }).toEqual(before);
    expect(cluster.workload(WEB)?.replicas).toBe(2);
  });

  it("fails fast on ImagePullBackOff instead of waiting out the timeout", async () => {
    const { cluster, make } = world({ readyTimeoutMs: 60_000 });
    cluster.setPodReadiness("never");
    const session = make();
    session.start();
    await until(() => cluster.pod("shop", "loc-web-s1") !== undefined, "proxy pod");
    cluster.setPodStatus("shop", "loc-web-s1", { waiting: "ImagePullBackOff: Back-off pulling image \"img\"" });
    expect(await session.done).toMatchObject({ state: "failed", error: "proxy pod loc-web-s1 cannot start: ImagePullBackOff: Back-off pulling image \"img\"" });
    expect(cluster.workload(WEB)?.replicas).toBe(2);
  });

  it("retries the first connection until the proxy answers", async () => {
    const { transport, make } = world();
    transport.failConnects = 3;
    const session = make();
    session.start();
    await until(() => session.status().state === "active", "active");
    expect(transport.connectAttempts).toBe(4);
    await session.stop("done");
  });

  it("gives up and undoes everything when the proxy never answers within the connect timeout", async () => {
    const { cluster, transport, make } = world({ connectTimeoutMs: 100 });
    const before = snapshot(cluster);
    transport.failConnects = Number.POSITIVE_INFINITY;
    const session = make();
    session.start();
    expect(await session.done).toMatchObject({ state: "failed", error: "could not connect to the proxy pod within 0.1 s: connection refused" });
    expect(snapshot(cluster)).toEqual(before);
  });

  it("reconnects after a transport loss, and recreates the proxy pod only when it is gone", async () => {
    const { cluster, transport, make, types } = world();
    const session = make();
    session.start();
    await until(() => session.status().state === "active", "active");
    const firstUid = cluster.pod("shop", "loc-web-s1")?.uid;
    transport.current?.lose("stream reset");
    await until(() => transport.sessions.length === 2 && session.status().state === "active", "reconnected");
    expect(cluster.pod("shop", "loc-web-s1")?.uid).toBe(firstUid);

    const pod = cluster.pod("shop", "loc-web-s1")!;
    await cluster.deletePod("shop", pod.name, pod.uid);
    transport.current?.lose("pod deleted");
    await until(() => transport.sessions.length === 3 && session.status().state === "active", "recreated");
    expect(cluster.pod("shop", "loc-web-s1")?.uid).not.toBe(firstUid);
    expect(types().filter((t) => t === "step:reconnecting")).toHaveLength(2);
    await session.stop("done");
    expect(cluster.pods("shop").filter((p) => p.labels["loc.dev/session"])).toEqual([]);
    expect(cluster.secrets("shop")).toEqual([]);
    expect(cluster.workload(WEB)?.replicas).toBe(2);
  });

  it("leaves a workload someone rescaled meanwhile, and says so", async () => {
    const { cluster, make, events } = world();
    const session = make();
    session.start();
    await until(() => session.status().state === "active", "active");
    cluster.editWorkload(WEB, { replicas: 5 });
    await session.stop("done");
    expect(cluster.workload(WEB)?.replicas).toBe(5);
    expect(cluster.workload(WEB)?.annotations["loc.dev/session"]).toBeUndefined();
    const warnings = events.flatMap(({ event }) => (event.type === "expose.warning" ? [event.data.message] : []));
    expect(warnings).toEqual(["Deployment/web was scaled to 5 by someone else while exposed (it had 2); left as it is"]);
  });

  it("finishes a mutation in flight before undoing it when stopped mid-scale", async () => {
    const { cluster, make, types } = world();
    const before = snapshot(cluster);
    let release = () => undefined as void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const scale = cluster.scaleWorkload.bind(cluster);
    cluster.scaleWorkload = async (...args) => {
      await gate;
      return scale(...args);
    };
    const session = make();
    session.start();
    await until(() => types().includes("expose.intent:scale"), "the scale in flight");
    const stopped = session.stop("changed my mind");
    release();
    expect(await stopped).toEqual({ state: "stopped" });
    expect(snapshot(cluster)).toEqual(before);
    expect(types()).toContain("expose.outcome:restoreScale");
  });

  it("maps ports: --map local:remote by number or name, named target ports from the pods", async () => {
    const { cluster, transport, make } = world();
    cluster.addService({ metadata: { namespace: "shop", name: "api" }, spec: { selector: { app: "api" }, ports: [{ name: "http", port: 80, targetPort: "web" }, { name: "admin", port: 9000, targetPort: 9000 }] } });
    cluster.addDeployment("shop", "api", 1, { app: "api" }, { web: 3000 });
    const { parseMapFlag } = await import("../../../src/expose/ports.js");
    const session = make("s2", { name: "api", maps: [parseMapFlag("4000:http"), parseMapFlag("9001:9000")] });
    session.start();
    await until(() => session.status().state === "active", "active");
    expect(transport.current?.forwards).toEqual([
      { remotePort: 3000, localHost: "127.0.0.1", localPort: 4000 },
      { remotePort: 9000, localHost: "127.0.0.1", localPort: 9001 },
    ]);
    await session.stop("done");
  });

  it("two sessions racing for one workload: exactly one wins, and the loser never touches the winner's workload", async () => {
    const { cluster, make } = world();
    const [a, b] = [make("aaaa1111"), make("bbbb2222")];
    a.start();
    b.start();
    await until(() => [a, b].some((s) => s.status().state === "active") && [a, b].some((s) => s.status().state === "failed" || s.status().state === "stopped" || s.status().state === "active"), "both settled");
    await Promise.race([a.done, b.done]);
    const winner = [a, b].find((s) => s.status().state === "active");
    expect(winner).toBeDefined();
    expect(cluster.workload(WEB)).toMatchObject({ replicas: 0, annotations: { "loc.dev/session": winner?.id } });
    const loser = winner === a ? b : a;
    expect(await loser.done).toMatchObject({ state: "failed", error: expect.stringMatching(/claimed meanwhile by loc session|no longer claimed/) });
    expect(cluster.workload(WEB)).toMatchObject({ replicas: 0, annotations: { "loc.dev/session": winner?.id } });
    await winner?.stop("done");
    expect(cluster.workload(WEB)).toMatchObject({ replicas: 2, annotations: {} });
  });

  it("an undo that keeps failing is reported as a failure naming what is left, never as a clean stop", async () => {
    const { cluster, make } = world();
    const session = make();
    session.start();
    await until(() => session.status().state === "active", "active");
    for (let i = 0; i < 4; i++) cluster.failNext("scaleWorkload", new KubeRequestError("etcdserver: request timed out", 500), (args) => args[1] === 2);
    const outcome = await session.stop("done");
    expect(outcome).toMatchObject({ state: "failed", undone: false, error: "could not undo everything: Deployment/web not restored: etcdserver: request timed out" });
    expect(cluster.workload(WEB)?.replicas).toBe(0);
  });

  it("recreates an evicted proxy pod (phase Failed, not deleting)", async () => {
    const { cluster, transport, make } = world();
    const session = make();
    session.start();
    await until(() => session.status().state === "active", "active");
    const first = cluster.pod("shop", "loc-web-s1")?.uid;
    cluster.setPodStatus("shop", "loc-web-s1", { ready: false, phase: "Failed" });
    transport.current?.lose("evicted");
    await until(() => transport.sessions.length === 2 && session.status().state === "active" && cluster.pod("shop", "loc-web-s1")?.uid !== first, "recreated");
    await session.stop("done");
    expect(cluster.workload(WEB)?.replicas).toBe(2);
  });
});
