import { randomBytes } from "node:crypto";
import { filter, firstValueFrom, take, toArray } from "rxjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeRequestError, type CollectionRef, type KubeObject, type ListResult, type RawWatchEvent, type WatchPort } from "../../src/kube/cluster-port.js";
import { informer, type InformerEvent } from "../../src/kube/informer.js";

/**
 * What a WatchPort contract run needs besides the port: a collection it owns, ways to change it,
 * and the two server behaviours the twin is told to show while the real API server shows them on
 * its own (a watch ended by the server's timeout; a version older than the server's history).
 */
export interface WatchPortFixture {
  port: WatchPort;
  /** ConfigMaps the suite owns (on a real cluster: one namespace, selected by a label of this run). */
  ref: CollectionRef;
  create(name: string, data: Record<string, string>): Promise<void>;
  update(name: string, data: Record<string, string>): Promise<void>;
  remove(name: string): Promise<void>;
  /** The server ends open watches as on its timeout (the real server does so itself: its port asks for a short timeoutSeconds). */
  endWatches(): void;
  /**
   * Versions before now become too old to watch from: the twin compacts its history; the test
   * cluster restarts its API server, whose new watch cache starts at the current version (open
   * watches break meanwhile, as in a rollout).
   */
  expire(): Promise<void> | void;
  /** A collection the server refuses every list and watch of, with an error other than 410. */
  refusedRef: CollectionRef;
  /** Upper bound for one wait: a real server takes its watch timeout to end a watch. */
  waitMs: number;
  dispose(): Promise<void>;
}

type Change = `${"ADDED" | "MODIFIED" | "DELETED"} ${string}`;

/** Polls `probe` until it returns a value; fails the test after `ms`. */
async function eventually<T>(what: string, ms: number, probe: () => T | undefined): Promise<T> {
  for (const deadline = Date.now() + ms; ; await new Promise((resolve) => setTimeout(resolve, 20))) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  }
}

/** A watch as a test sees it: its changes (bookmarks left out), the last version seen, and how it ended. */
function openWatch(port: WatchPort, ref: CollectionRef, resourceVersion: string) {
  const abort = new AbortController();
  const seen: RawWatchEvent[] = [];
  let lastVersion = resourceVersion;
  let ended: { error?: unknown } | undefined;
  const done = port
    .watch(ref, resourceVersion, (event) => {
      seen.push(event);
      lastVersion = event.object.metadata?.resourceVersion ?? lastVersion;
    }, abort.signal)
    .then(
      () => void (ended = {}),
      (error: unknown) => void (ended = { error }),
    );
  return {
    changes: (): Change[] => seen.flatMap((e) => (e.type === "BOOKMARK" || e.type === "ERROR" ? [] : [`${e.type} ${e.object.metadata?.name ?? ""}` as const])),
    errors: () => seen.filter((e) => e.type === "ERROR"),
    get lastVersion() {
      return lastVersion;
    },
    get ended() {
      return ended;
    },
    stop: async () => {
      abort.abort();
      await done;
    },
  };
}

/** A WatchPort counting its calls; `staleNextResume` makes the next watch resume from version 1. */
function countingPort(port: WatchPort) {
  const counts = { list: 0, watch: 0, staleNextResume: false };
  const counted: WatchPort = {
    list<T extends KubeObject>(ref: CollectionRef, signal: AbortSignal): Promise<ListResult<T>> {
      counts.list += 1;
      return port.list<T>(ref, signal);
    },
    watch(ref, resourceVersion, onEvent, signal) {
      counts.watch += 1;
      const from = counts.staleNextResume ? "1" : resourceVersion;
      counts.staleNextResume = false;
      return port.watch(ref, from, onEvent, signal);
    },
  };
  return { counts, counted };
}

const names = (list: ListResult<KubeObject>) => list.items.map((item) => item.metadata?.name ?? "").sort();
const keysOf = (event: InformerEvent<KubeObject> | undefined) => (event && "objects" in event ? [...event.objects.values()].map((o) => o.metadata?.name ?? "").sort() : []);

/**
 * The behaviour every WatchPort must have, run against the in-memory twin (unit tier) and the real
 * API server (e2e tier): list+watch delivers adds, updates and deletes; a watch the server ends is
 * resumed from the last version; a version too old is 410 Gone; any other failure is an error,
 * never a quiet end. The informer over the port shows the same: it resumes without a relist,
 * relists on 410, and reports every other failure as an event while it retries.
 */
export function watchPortContract(name: string, makeFixture: () => Promise<WatchPortFixture>): void {
  describe(`WatchPort contract: ${name}`, () => {
    let f: WatchPortFixture;
    const run = randomBytes(3).toString("hex");
    const signal = () => new AbortController().signal;
    const cleanups: (() => Promise<void>)[] = [];
    const watch = (from: string) => {
      const opened = openWatch(f.port, f.ref, from);
      cleanups.push(opened.stop);
      return opened;
    };

    beforeAll(async () => {
      f = await makeFixture();
    });
    afterAll(async () => {
      for (const stop of cleanups.splice(0)) await stop();
      await f?.dispose();
    });

    it("lists what exists with a version; a watch from it delivers adds, updates and deletes in order; aborting ends it quietly", async () => {
      await f.create(`a-${run}`, { v: "1" });
      const list = await f.port.list(f.ref, signal());
      expect(names(list)).toContain(`a-${run}`);
      expect(list.resourceVersion).toMatch(/\S/);

      const opened = watch(list.resourceVersion);
      await f.create(`b-${run}`, { v: "1" });
      await f.update(`a-${run}`, { v: "2" });
      await f.remove(`b-${run}`);
      const want: Change[] = [`ADDED b-${run}`, `MODIFIED a-${run}`, `DELETED b-${run}`];
      await eventually("three changes", f.waitMs, () => (opened.changes().length >= want.length ? true : undefined));
      expect(opened.changes()).toEqual(want);
      await opened.stop();
      expect(opened.ended).toEqual({});
    });

    it("a watch the server ends resolves; resuming from the last version seen delivers what changed meanwhile, nothing twice", async () => {
      const first = watch((await f.port.list(f.ref, signal())).resourceVersion);
      await f.create(`c-${run}`, { v: "1" });
      await eventually("the add", f.waitMs, () => (first.changes().length > 0 ? true : undefined));
      f.endWatches();
      expect(await eventually("the server to end the watch", f.waitMs, () => first.ended)).toEqual({});

      await f.update(`c-${run}`, { v: "2" });
      await f.create(`d-${run}`, { v: "1" });
      const resumed = watch(first.lastVersion);
      await eventually("two changes", f.waitMs, () => (resumed.changes().length >= 2 ? true : undefined));
      await new Promise((resolve) => setTimeout(resolve, 200)); // time for anything sent twice to arrive
      expect(first.changes()).toEqual([`ADDED c-${run}`]);
      expect(resumed.changes()).toEqual([`MODIFIED c-${run}`, `ADDED d-${run}`]);
    });

    it("a watch from a version older than the server's history is 410 Gone: a rejection or an ERROR event", async () => {
      await f.create(`e-${run}`, { v: "1" });
      await f.expire();
      const stale = watch("1");
      const gone = await eventually("410 Gone", f.waitMs, () => {
        if (stale.ended?.error !== undefined) return (stale.ended.error as KubeRequestError).statusCode;
        return stale.errors()[0]?.object.code;
      });
      expect(gone).toBe(410);
      expect(stale.changes()).toEqual([]);
    });

    it("any other failure of a list or a watch is a KubeRequestError with its status, never a quiet end", async () => {
      const listed = await f.port.list(f.refusedRef, signal()).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(listed).toBeInstanceOf(KubeRequestError);
      expect((listed as KubeRequestError).statusCode).toBeGreaterThanOrEqual(400);
      expect((listed as KubeRequestError).statusCode).not.toBe(410);
      const watched = openWatch(f.port, f.refusedRef, "1");
      cleanups.push(watched.stop);
      const ended = await eventually("the refused watch to end", f.waitMs, () => watched.ended);
      expect(ended.error).toBeInstanceOf(KubeRequestError);
      expect((ended.error as KubeRequestError).statusCode).not.toBe(410);
    });

    it("the informer over it resumes a watch the server ended without listing again", async () => {
      const { counts, counted } = countingPort(f.port);
      const events: InformerEvent<KubeObject>[] = [];
      const subscription = informer<KubeObject>({ port: counted, ref: f.ref, resource: "configmaps" }).subscribe((event) => events.push(event));
      try {
        await eventually("the first watch", f.waitMs, () => (counts.watch === 1 ? true : undefined));
        await f.create(`g-${run}`, { v: "1" });
        await eventually("the add", f.waitMs, () => (events.some((e) => e.type === "upserted") ? true : undefined));
        f.endWatches();
        await eventually("a second watch", f.waitMs, () => (counts.watch >= 2 ? true : undefined));
        await f.create(`h-${run}`, { v: "1" });
        await eventually("the second add", f.waitMs, () => (keysOf(events.at(-1)).includes(`h-${run}`) ? true : undefined));
        expect(counts.list).toBe(1);
        expect(events.map((e) => e.type)).toEqual(["synced", "upserted", "upserted"]);
      } finally {
        subscription.unsubscribe();
      }
    });

    it("the informer over it relists when the server answers 410 Gone", async () => {
      const { counts, counted } = countingPort(f.port);
      const events: InformerEvent<KubeObject>[] = [];
      const subscription = informer<KubeObject>({ port: counted, ref: f.ref, resource: "configmaps" }).subscribe((event) => events.push(event));
      try {
        await f.create(`i-${run}`, { v: "1" });
        await eventually("the add", f.waitMs, () => (keysOf(events.at(-1)).includes(`i-${run}`) ? true : undefined));
        // Its next resume names a version the server has forgotten, as after a long disconnection.
        // (Expiring may break the open watch: the informer then reports it and lists again by itself.)
        await f.expire();
        counts.staleNextResume = true;
        f.endWatches();
        const relisted = () => {
          const at = events.findIndex((e) => e.type === "relisting");
          return at >= 0 && events.slice(at + 1).some((e) => e.type === "synced") ? true : undefined;
        };
        await eventually("a relist after 410", f.waitMs, relisted);
        expect(events.filter((e) => e.type === "relisting")).toEqual([{ type: "relisting", resource: "configmaps", reason: "resourceVersion too old (410 Gone)" }]);
        expect(keysOf(events.at(-1))).toContain(`i-${run}`);
      } finally {
        subscription.unsubscribe();
      }
    });

    it("the informer over it reports every other failure as an event and keeps retrying", async () => {
      const failures = informer<KubeObject>({ port: f.port, ref: f.refusedRef, resource: "nosuchresources", sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 50))) }).pipe(
        filter((event) => event.type === "failed"),
        take(3),
        toArray(),
      );
      const seen = await firstValueFrom(failures);
      expect(seen).toHaveLength(3);
      for (const event of seen) expect(event).toMatchObject({ type: "failed", resource: "nosuchresources", message: expect.stringMatching(/HTTP \d{3}/), retryInMs: expect.any(Number) });
    });
  });
}
