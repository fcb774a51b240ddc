import { firstValueFrom, filter as rxFilter } from "rxjs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { KubeRequestError, type KubeObject } from "../../../src/kube/cluster-port.js";
import { informer, type InformerEvent } from "../../../src/kube/informer.js";
import { MemoryCluster } from "../../support/memory-cluster.js";

const PATH = "/api/v1/services";
const svc = (ns: string, name: string, port = 80): KubeObject & { spec: { port: number } } => ({
  metadata: { namespace: ns, name },
  spec: { port },
});

function start(cluster: MemoryCluster, clock = { now: 0 }) {
  const events: InformerEvent<KubeObject>[] = [];
  const delays: number[] = [];
  const source = informer<KubeObject>({
    port: cluster,
    ref: { path: PATH },
    resource: "services",
    // Backoff sleeps advance a fake clock instantly, so retries are deterministic and fast.
    sleep: async (ms) => {
      delays.push(ms);
      clock.now += ms;
    },
    now: () => clock.now,
    random: () => 1,
  });
  const subscription = source.subscribe((event) => events.push(event));
  subscriptions.push(subscription);
  return { events, delays, source, subscription };
}

const subscriptions: { unsubscribe(): void }[] = [];
afterEach(() => subscriptions.splice(0).forEach((s) => s.unsubscribe()));
const keys = (event: InformerEvent<KubeObject> | undefined) =>
  event && "objects" in event ? [...event.objects.keys()].sort() : [];

describe("informer (list+watch as an Observable)", () => {
  it("lists, then streams upserts and deletes with the full snapshot", async () => {
    const cluster = new MemoryCluster();
    cluster.upsert(PATH, svc("shop", "web"));
    const { events } = start(cluster);
    await vi.waitFor(() => expect(cluster.openWatches).toBe(1));
    cluster.upsert(PATH, svc("shop", "db"));
    cluster.upsert(PATH, svc("shop", "web", 81));
    cluster.remove(PATH, "shop", "db");
    expect(events.map((e) => e.type)).toEqual(["synced", "upserted", "upserted", "deleted"]);
    expect(keys(events[0])).toEqual(["shop/web"]);
    expect(keys(events[1])).toEqual(["shop/db", "shop/web"]);
    expect(keys(events[3])).toEqual(["shop/web"]);
  });

  it("resumes from the last resourceVersion when the server ends a watch, without relisting", async () => {
    const clock = { now: 0 };
    const cluster = new MemoryCluster();
    const { events } = start(cluster, clock);
    await vi.waitFor(() => expect(cluster.openWatches).toBe(1));
    cluster.upsert(PATH, svc("a", "one"));
    clock.now += 5 * 60_000;
    cluster.endWatches();
    await vi.waitFor(() => expect(cluster.calls.watch).toBe(2));
    cluster.upsert(PATH, svc("a", "two"));
    expect(cluster.calls.list).toBe(1);
    expect(events.map((e) => e.type)).toEqual(["synced", "upserted", "upserted"]);
  });

  it("relists on 410 Gone, whether the watch is refused or sends an ERROR event", async () => {
    const clock = { now: 0 };
    const cluster = new MemoryCluster();
    const { events } = start(cluster, clock);
    await vi.waitFor(() => expect(cluster.openWatches).toBe(1));
    cluster.sendError(PATH, 410, "too old resource version");
    await vi.waitFor(() => expect(cluster.calls.list).toBe(2));
    // The server ends the watch (its timeout); while it is down (same tick), history moves on and
    // is compacted past our version, so resuming is refused with 410.
    clock.now += 5 * 60_000;
    cluster.endWatches();
    cluster.upsert(PATH, svc("a", "one"));
    cluster.compact();
    await vi.waitFor(() => expect(cluster.calls.list).toBe(3));
    await vi.waitFor(() => expect(cluster.openWatches).toBe(1));
    const types = events.map((e) => e.type);
    expect(types.filter((t) => t === "relisting")).toHaveLength(2);
    expect(types.at(-1)).toBe("synced");
    expect(keys(events.at(-1))).toEqual(["a/one"]);
  });

  it("retries failures with growing, capped backoff and reports each one; a stable period resets it", async () => {
    const clock = { now: 0 };
    const cluster = new MemoryCluster();
    for (let i = 0; i < 9; i++) cluster.failNext(PATH, new KubeRequestError("Service Unavailable", 503));
    const { events, delays } = start(cluster, clock);
    await vi.waitFor(() => expect(cluster.openWatches).toBe(1));
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    const failures = events.filter((e) => e.type === "failed");
    expect(failures).toHaveLength(9);
    expect(failures[0]).toEqual({ type: "failed", resource: "services", message: "Service Unavailable (HTTP 503)", retryInMs: 500, problem: "other" });
    clock.now += 61_000;
    cluster.endWatches(new KubeRequestError("connection reset", undefined));
    await vi.waitFor(() => expect(delays).toHaveLength(10));
    expect(delays.at(-1)).toBe(500);
  });

  it("lists again after a failed watch, so recovery shows as a fresh snapshot at once", async () => {
    const cluster = new MemoryCluster();
    cluster.upsert(PATH, svc("shop", "web"));
    const { events } = start(cluster);
    await vi.waitFor(() => expect(cluster.openWatches).toBe(1));
    cluster.endWatches(new KubeRequestError("connect ECONNREFUSED 127.0.0.1:6443", undefined));
    await vi.waitFor(() => expect(cluster.calls.list).toBe(2));
    await vi.waitFor(() => expect(cluster.openWatches).toBe(1));
    expect(events.map((e) => e.type)).toEqual(["synced", "failed", "synced"]);
    expect(events[1]).toMatchObject({ type: "failed", problem: "unreachable" });
    expect(keys(events[2])).toEqual(["shop/web"]);
  });

  it("shares one list and one watch between subscribers; a late subscriber gets the current snapshot", async () => {
    const cluster = new MemoryCluster();
    cluster.upsert(PATH, svc("a", "one"));
    const { source } = start(cluster);
    await vi.waitFor(() => expect(cluster.openWatches).toBe(1));
    cluster.upsert(PATH, svc("a", "two"));
    const late = await firstValueFrom(source.pipe(rxFilter((e) => "objects" in e)));
    expect(keys(late)).toEqual(["a/one", "a/two"]);
    expect(cluster.calls).toEqual({ list: 1, watch: 1 });
  });

  it("stops watching when the last subscriber leaves", async () => {
    const cluster = new MemoryCluster();
    const { subscription } = start(cluster);
    await vi.waitFor(() => expect(cluster.openWatches).toBe(1));
    subscription.unsubscribe();
    expect(cluster.openWatches).toBe(0);
  });
});
