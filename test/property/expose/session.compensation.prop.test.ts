// The saga's promise, checked over the cluster twin for both strategies: whatever single cluster call
// fails (before it acts, or after it acted with its answer lost), and whenever a stop arrives, the
// session ends with the cluster (workloads, proxies, the Service) as it was before the expose, and
// every recorded intent has an outcome.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ExposeSession } from "../../../src/expose/session.js";
import { EXPOSE_STRATEGIES, type ExposeStrategy } from "../../../src/expose/strategy.js";
import { KubeRequestError } from "../../../src/kube/cluster-port.js";
import type { ExposeCluster, WorkloadRef } from "../../../src/kube/expose-cluster.js";
import { MemoryExposeCluster } from "../../support/memory-expose-cluster.js";
import type { NewEvent } from "../../../src/store/events.js";
import { FakeReverseTransport } from "../../helpers/fake-reverse.js";

const MUTATIONS: (keyof ExposeCluster)[] = ["patchWorkloadAnnotations", "scaleWorkload", "createSecret", "createPod", "deletePod", "deleteSecret", "patchService"];
// Not findServices: the observation below reads through it, so an injected failure never hits the test itself.
const READS: (keyof ExposeCluster)[] = ["readWorkload", "readPod", "readSecret", "listPods", "findPods", "getService"];
const WORKLOADS: WorkloadRef[] = [
  { kind: "Deployment", namespace: "shop", name: "web" },
  { kind: "StatefulSet", namespace: "shop", name: "web-cache" },
];

function seeded(): MemoryExposeCluster {
  const cluster = new MemoryExposeCluster();
  cluster.addNamespace("shop");
  // Unsorted keys and a foreign annotation: a restore must give back this very map and keep theirs.
  cluster.addService({ metadata: { namespace: "shop", name: "web", annotations: { team: "shop" } }, spec: { selector: { tier: "front", app: "web" }, ports: [{ port: 80, targetPort: 8080 }] } });
  cluster.addDeployment("shop", "web", 2, { app: "web", tier: "front" });
  cluster.addStatefulSet("shop", "web-cache", 3, { app: "web", tier: "front" });
  return cluster;
}

async function observable(cluster: MemoryExposeCluster) {
  const [service] = await cluster.findServices("shop");
  return {
    // Everything but the resourceVersion, which a restore moves on; the selector also as text (key order).
    service: { ...service, metadata: { ...service?.metadata, resourceVersion: undefined }, selectorText: JSON.stringify(service?.spec?.selector) },
    workloads: WORKLOADS.map((ref) => {
      const w = cluster.workload(ref);
      return { uid: w?.uid, replicas: w?.replicas, annotations: w?.annotations };
    }),
    appPods: cluster.pods("shop").filter((p) => !p.labels["loc.dev/session"]).length,
    proxies: cluster.pods("shop").filter((p) => p.labels["loc.dev/session"]).map((p) => p.name),
    secrets: cluster.secrets("shop").map((s) => s.name),
  };
}

// Only calls the strategy makes: a failure injected into a call that never comes would waste the run.
const SCALE_ONLY = new Set<keyof ExposeCluster>(["patchWorkloadAnnotations", "scaleWorkload", "readWorkload"]);
const callsOf = (strategy: ExposeStrategy) => [...MUTATIONS, ...READS].filter((op) => (strategy === "scale" ? op !== "patchService" : !SCALE_ONLY.has(op)));

const failure = (strategy: ExposeStrategy) =>
  fc.record({
    operation: fc.constantFrom(...callsOf(strategy)),
    /** Which call of that operation fails (0 = the first). */
    nth: fc.nat({ max: 3 }),
    status: fc.constantFrom(403, 409, 500, 503),
    when: fc.constantFrom("before" as const, "after" as const),
  });
const run = fc.constantFrom(...EXPOSE_STRATEGIES).chain((strategy) => fc.record({ strategy: fc.constant(strategy), fail: failure(strategy) }));

describe("expose compensation", () => {
  it("any single failed call, and a stop at any point, leaves the cluster as it was", async () => {
    await fc.assert(
      fc.asyncProperty(run, fc.option(fc.nat({ max: 30 }), { nil: undefined }), async ({ strategy, fail }, stopAfterEvents) => {
        const cluster = seeded();
        const before = await observable(cluster);
        let seen = 0;
        // A failure "after" only makes sense for mutations: a read has no effect to keep.
        const when = MUTATIONS.includes(fail.operation) ? fail.when : "before";
        cluster.failNext(fail.operation, new KubeRequestError(`injected ${fail.status}`, fail.status), () => seen++ === fail.nth, when);
        const events: NewEvent[] = [];
        const session = new ExposeSession(
          { namespace: "shop", name: "web", maps: [], strategy, image: "img", user: "abc", runAsUser: 911, sshPort: 2222, readyTimeoutMs: 500, connectTimeoutMs: 500, localHost: "127.0.0.1" },
          { cluster, transport: new FakeReverseTransport(), owner: "me", record: (_s, e) => events.push(e), pollMs: 1, backoff: { baseMs: 1, capMs: 5, resetAfterMs: 60_000 }, sessionId: "prop" },
        );
        session.onEvent(() => {
          if (stopAfterEvents !== undefined && events.length === stopAfterEvents) void session.stop("stopped at a random point");
        });
        session.start();
        await new Promise<void>((resolve) => {
          const check = () => (session.status().state === "active" || events.some((e) => e.type === "expose.failed" || e.type === "expose.stopped") ? resolve() : setTimeout(check, 1));
          check();
        });
        const outcome = await session.stop("test over");

        expect(await observable(cluster)).toEqual(before);
        if (strategy === "selector") expect(cluster.calls.filter((c) => c.operation === "scaleWorkload" || c.operation === "patchWorkloadAnnotations")).toEqual([]);
        expect(events.filter((e) => e.type === "expose.warning")).toEqual([]);
        const intents = events.filter((e) => e.type === "expose.intent").length;
        const outcomes = events.filter((e) => e.type === "expose.outcome").length;
        expect(outcomes).toBe(intents);
        expect(["stopped", "failed"]).toContain(outcome.state);
      }),
      { numRuns: 150 },
    );
  });
});
