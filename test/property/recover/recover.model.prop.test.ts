// `loc recover` as a model-based property over the cluster twin and one event log: random runs of
// exposes, stops, daemon crashes (after any recorded event, or mid-call with the answer lost),
// someone else's scales and recoveries, each expose with a random strategy (scale or selector). After
// every recover the cluster is as it was before any session (every Service with its own selector and
// no loc annotation), except that a workload someone else scaled keeps their replicas; a second
// recover changes nothing; another owner's live session (either strategy) is never touched. Once from
// the event log, once from the cluster's labels alone (`--from-cluster` after the state dir was lost).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { locAnnotations } from "../../../src/expose/undo.js";
import { ExposeSession, type SessionOutcome } from "../../../src/expose/session.js";
import { EXPOSE_STRATEGIES, type ExposeStrategy } from "../../../src/expose/strategy.js";
import type { ExposeCluster, WorkloadKind, WorkloadRef } from "../../../src/kube/expose-cluster.js";
import { MemoryExposeCluster } from "../../support/memory-expose-cluster.js";
import { inputFromCluster, inputFromStore } from "../../../src/recover/inputs.js";
import { recover, type RecoveryReport } from "../../../src/recover/recover.js";
import { ANY_VERSION } from "../../../src/store/event-store.js";
import type { NewEvent } from "../../../src/store/events.js";
import { MemoryEventStore } from "../../support/memory-store.js";
import { FakeReverseTransport } from "../../helpers/fake-reverse.js";
import { Mortal } from "../../helpers/mortal.js";

const NS = "shop";
const OWNER = "me";
const SERVICES = 3;
const MUTATIONS = new Set(["patchWorkloadAnnotations", "scaleWorkload", "createSecret", "createPod", "deletePod", "deleteSecret", "patchService"]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const at = <T>(items: readonly T[], i: number): T => items[i] ?? expect.fail(`no item ${i}`);

/** Where the daemon dies: after its k-th recorded event, or (midCall) once the next cluster call after it has acted, its answer lost. */
type CrashPoint = { afterEvents: number; midCall: boolean };

/** One session's daemon process: once dead, nothing more reaches the cluster or the event log. */
class Daemon extends Mortal {
  private armed = false;
  private events = 0;

  constructor(
    private readonly store: MemoryEventStore,
    private readonly crash?: CrashPoint,
  ) {
    super();
    if (crash?.afterEvents === 0) this.reached();
  }

  readonly record = (stream: string, event: NewEvent): void => {
    if (this.dead) return;
    this.store.append(stream, [event], ANY_VERSION);
    this.events += 1;
    if (this.events === this.crash?.afterEvents) this.reached();
  };

  private reached(): void {
    if (this.crash?.midCall) this.armed = true;
    else this.die();
  }

  /** The twin as this daemon sees it: once armed, the next call acts and the daemon dies before its answer. */
  cluster(twin: MemoryExposeCluster): ExposeCluster {
    return this.view(twin, { dieAfter: () => this.armed, loseAnswer: true });
  }
}

type Live = { session: ExposeSession; daemon: Daemon };

function startSession(twin: MemoryExposeCluster, name: string, owner: string, id: string, daemon: Daemon, strategy: ExposeStrategy): ExposeSession {
  const session = new ExposeSession(
    { namespace: NS, name, maps: [], strategy, image: "img", user: "abc", runAsUser: 911, sshPort: 2222, readyTimeoutMs: 200, connectTimeoutMs: 200, localHost: "127.0.0.1" },
    // A short resetAfterMs: a dead session's pending timers then end soon instead of outliving the run.
    { cluster: daemon.cluster(twin), transport: new FakeReverseTransport(), owner, record: daemon.record, pollMs: 1, backoff: { baseMs: 1, capMs: 2, resetAfterMs: 20 }, sessionId: id },
  );
  session.start();
  return session;
}

/** Active, finished (refused), or its daemon died on the way. */
async function settle({ session, daemon }: Live): Promise<"active" | "crashed" | SessionOutcome> {
  let outcome: SessionOutcome | undefined;
  void session.done.then((o) => (outcome = o));
  for (;;) {
    if (daemon.dead) return "crashed";
    if (outcome) return outcome;
    if (session.status().state === "active") return "active";
    await sleep(1);
  }
}

type Source = "store" | "cluster";
type Spec = { kind: WorkloadKind; replicas: number };

/** Model and real system in one: the twin, the log, and what the cluster must look like after a recover. */
class World {
  readonly twin = new MemoryExposeCluster();
  readonly store = new MemoryEventStore();
  readonly refs: WorkloadRef[] = [];
  readonly uids: string[] = [];
  /** The uid of each Service svc<i> (and of "other", last): a recover must never touch a replaced one. */
  readonly serviceUids: string[] = [];
  /** Replicas each workload must have after a recover: the original, or someone else's last scale. */
  readonly expected: number[] = [];
  readonly live = new Map<number, Live>();
  /** Services with a session that crashed since the last recover (the only reason an expose is refused). */
  readonly crashedSince = new Set<number>();
  /** Workloads someone else scaled since the last recover (the only ones recover may leave). */
  readonly foreignSince = new Set<number>();
  other!: { session: ExposeSession; ref: WorkloadRef; uid: string; strategy: ExposeStrategy };
  private ids = 0;

  constructor(readonly source: Source) {}

  static async create(specs: Spec[], source: Source, otherStrategy: ExposeStrategy): Promise<World> {
    const world = new World(source);
    const { twin } = world;
    twin.addNamespace(NS);
    const add = (name: string, { kind, replicas }: Spec) => {
      const service = twin.addService({ metadata: { namespace: NS, name }, spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] } });
      world.serviceUids.push(service.metadata?.uid ?? "");
      return (kind === "Deployment" ? twin.addDeployment : twin.addStatefulSet).call(twin, NS, name, replicas, { app: name });
    };
    specs.forEach((spec, i) => {
      const state = add(`svc${i}`, spec);
      world.refs.push(state.ref);
      world.uids.push(state.uid);
      world.expected.push(spec.replicas);
    });
    // Another owner's session on a 4th service, recording into the same log: recover must skip it.
    const state = add("other", { kind: "Deployment", replicas: 2 });
    const daemon = new Daemon(world.store);
    const session = startSession(twin, "other", "other", "other1", daemon, otherStrategy);
    expect(await settle({ session, daemon })).toBe("active");
    world.other = { session, ref: state.ref, uid: state.uid, strategy: otherStrategy };
    return world;
  }

  nextId(): string {
    return `s${++this.ids}`;
  }

  async recover(): Promise<RecoveryReport> {
    const fromStore = inputFromStore(this.source === "store" ? this.store : undefined, OWNER);
    const input = this.source === "store" ? fromStore : await inputFromCluster(this.twin, OWNER, undefined, fromStore);
    const hosts = { hasBlock: async () => false, removeBlock: async () => false };
    return recover({ ...input, staleFiles: [] }, { cluster: () => this.twin, hosts, record: (s, e) => this.store.append(s, [e], ANY_VERSION), dryRun: false });
  }

  /** Workload i is as before any session: same object, expected replicas, no loc annotations. */
  expectRestored(i: number): void {
    const w = this.twin.workload(at(this.refs, i));
    expect({ uid: w?.uid, replicas: w?.replicas, loc: locAnnotations(w?.annotations ?? {}) }, `workload ${i}`).toEqual({ uid: at(this.uids, i), replicas: at(this.expected, i), loc: {} });
  }

  /** Service i (`SERVICES` is "other") as seeded: same object, its own selector, no loc annotation. */
  async serviceState(i: number) {
    const name = i < SERVICES ? `svc${i}` : "other";
    const service = (await this.twin.findServices(NS)).find((s) => s.metadata?.name === name);
    const annotations = (service?.metadata?.annotations ?? {}) as Record<string, string>;
    return { uid: service?.metadata?.uid, selector: service?.spec?.selector, loc: locAnnotations(annotations) };
  }

  async expectServiceRestored(i: number): Promise<void> {
    expect(await this.serviceState(i), `service ${i}`).toEqual({ uid: at(this.serviceUids, i), selector: { app: i < SERVICES ? `svc${i}` : "other" }, loc: {} });
  }

  /** Nothing of `me` is left; the other owner's session still holds its workload or Service, and its proxy. */
  async expectRecovered(): Promise<void> {
    for (let i = 0; i < SERVICES; i++) {
      this.expectRestored(i);
      await this.expectServiceRestored(i);
    }
    const other = this.twin.workload(this.other.ref);
    const id = this.other.session.id;
    if (this.other.strategy === "scale") {
      expect({ replicas: other?.replicas, session: other?.annotations["loc.dev/session"] }).toEqual({ replicas: 0, session: id });
      await this.expectServiceRestored(SERVICES);
    } else {
      expect({ uid: other?.uid, replicas: other?.replicas, loc: locAnnotations(other?.annotations ?? {}) }).toEqual({ uid: this.other.uid, replicas: 2, loc: {} });
      const claimed = { "loc.dev/session": id, "loc.dev/owner": "other", "loc.dev/original-selector": '{"app":"other"}' };
      expect(await this.serviceState(SERVICES)).toEqual({ uid: at(this.serviceUids, SERVICES), selector: { "loc.dev/session": id }, loc: claimed });
    }
    const pods = this.twin.pods(NS).filter((p) => p.labels["app.kubernetes.io/managed-by"] === "loc" || p.labels["loc.dev/session"] !== undefined);
    expect(pods.map((p) => p.name)).toEqual([this.other.session.podName]);
    expect(this.twin.secrets(NS).filter((s) => s.labels["loc.dev/session"] !== undefined).map((s) => s.name)).toEqual([this.other.session.podName]);
  }
}

type Cmd = fc.AsyncCommand<World, World>;

class Expose implements Cmd {
  constructor(
    readonly service: number,
    readonly strategy: ExposeStrategy,
    readonly crash: CrashPoint | undefined,
  ) {}
  check = (m: World) => !m.live.has(this.service);
  async run(m: World): Promise<void> {
    const daemon = new Daemon(m.store, this.crash);
    const live = { session: startSession(m.twin, `svc${this.service}`, OWNER, m.nextId(), daemon, this.strategy), daemon };
    const result = await settle(live);
    if (result === "active") m.live.set(this.service, live);
    else if (result === "crashed") m.crashedSince.add(this.service);
    else {
      // Only something a crashed session left behind (its claim or its proxy) makes loc refuse.
      expect(result).toMatchObject({ state: "failed", error: expect.stringMatching(/already exposed/) });
      expect(m.crashedSince.has(this.service), "refused without a crashed session").toBe(true);
    }
  }
  toString = () => `Expose(svc${this.service}, ${this.strategy}${this.crash ? `, crash after ${this.crash.afterEvents}${this.crash.midCall ? " mid-call" : ""}` : ""})`;
}

class Stop implements Cmd {
  constructor(readonly service: number) {}
  check = (m: World) => m.live.has(this.service);
  async run(m: World): Promise<void> {
    const { session, daemon } = m.live.get(this.service) ?? expect.fail("no live session");
    m.live.delete(this.service);
    // A crash point beyond "active" lands while the stop undoes: then the stop never ends.
    const outcome = await Promise.race([session.stop("test stop"), daemon.died.then(() => undefined)]);
    if (daemon.dead || !outcome) return void m.crashedSince.add(this.service);
    expect(outcome.state).toBe("stopped");
    expect(m.twin.pods(NS).filter((p) => p.labels["loc.dev/session"] === session.id)).toEqual([]);
    expect(m.twin.secrets(NS).filter((s) => s.labels["loc.dev/session"] === session.id)).toEqual([]);
    // A crashed session may still hold this workload at 0 until recover; otherwise the stop restored it.
    if (!m.crashedSince.has(this.service)) {
      m.expectRestored(this.service);
      await m.expectServiceRestored(this.service);
    }
  }
  toString = () => `Stop(svc${this.service})`;
}

class CrashDaemon implements Cmd {
  check = () => true;
  async run(m: World): Promise<void> {
    for (const [service, { daemon }] of m.live) {
      daemon.die();
      m.crashedSince.add(service);
    }
    m.live.clear();
  }
  toString = () => "CrashDaemon";
}

// Never to 0: someone else's scale to 0 cannot be told from loc's own scale-down, so loc restores it.
class ForeignScale implements Cmd {
  constructor(
    readonly workload: number,
    readonly replicas: number,
  ) {}
  check = () => true;
  async run(m: World): Promise<void> {
    m.twin.editWorkload(at(m.refs, this.workload), { replicas: this.replicas });
    m.expected[this.workload] = this.replicas;
    m.foreignSince.add(this.workload);
  }
  toString = () => `ForeignScale(svc${this.workload} → ${this.replicas})`;
}

class Recover implements Cmd {
  // `loc recover` refuses while this machine's daemon runs.
  check = (m: World) => m.live.size === 0;
  async run(m: World): Promise<void> {
    const report = await m.recover();
    expect(report.actions.filter((a) => a.status === "failed")).toEqual([]);
    // Loc leaves only what someone else scaled. (A stale session whose workload a later session of
    // this owner claimed again is not "left": that later session restores it in the same run.)
    for (const a of report.actions.filter((x) => x.status === "left")) {
      expect(m.foreignSince.has(m.refs.findIndex((r) => a.target === `${r.kind}/${r.name}`)), `left ${a.target} nobody else touched: ${a.detail}`).toBe(true);
    }
    await m.expectRecovered();
    if (m.source === "store") expect(inputFromStore(m.store, OWNER).sessions.map((s) => s.id)).toEqual([]);

    const calls = m.twin.calls.length;
    const again = await m.recover();
    expect(again.actions).toEqual([]);
    expect(m.twin.calls.slice(calls).filter((c) => MUTATIONS.has(c.operation))).toEqual([]);
    m.crashedSince.clear();
    m.foreignSince.clear();
  }
  toString = () => "Recover";
}

const service = fc.nat({ max: SERVICES - 1 });
// Up to ~24 events: before the first intent, between intents and outcomes, waiting for Ready, active, and while stopping.
const crashPoint = fc.oneof(fc.constant(undefined), fc.record({ afterEvents: fc.nat({ max: 24 }), midCall: fc.boolean() }));
const strategy = fc.constantFrom(...EXPOSE_STRATEGIES);
const expose = fc.tuple(service, strategy, crashPoint).map(([s, how, crash]) => new Expose(s, how, crash));
const stop = service.map((s) => new Stop(s));
const foreignScale = fc.tuple(service, fc.integer({ min: 1, max: 4 })).map(([w, r]) => new ForeignScale(w, r));
// fc.commands picks among its arbitraries uniformly: exposes and stops are listed more than once to come up more often.
const commands = fc.commands<World, World, false>(
  [expose, expose, expose, stop, stop, fc.constant(null).map(() => new CrashDaemon()), foreignScale, fc.constant(null).map(() => new Recover())],
  { maxCommands: 20, size: "max" },
);
const specs = fc.array(fc.record({ kind: fc.constantFrom<WorkloadKind>("Deployment", "StatefulSet"), replicas: fc.integer({ min: 1, max: 3 }) }), { minLength: SERVICES, maxLength: SERVICES });

describe("loc recover over random sessions, crashes and foreign edits", () => {
  it.each(["store", "cluster"] as const)("recovering from the %s restores the cluster (foreign scales kept) and is idempotent", async (source) => {
    await fc.assert(
      fc.asyncProperty(specs, strategy, commands, async (specs, otherStrategy, cmds) => {
        const world = await World.create(specs, source, otherStrategy);
        await fc.asyncModelRun(() => ({ model: world, real: world }), cmds);
        // Every run ends recovered: the daemon dies with whatever is live, then recover.
        await new CrashDaemon().run(world);
        await new Recover().run(world);
        // The other owner's session, untouched so far, still stops cleanly.
        expect(await world.other.session.stop("test over")).toEqual({ state: "stopped" });
        const other = world.twin.workload(world.other.ref);
        expect({ uid: other?.uid, replicas: other?.replicas, loc: locAnnotations(other?.annotations ?? {}) }).toEqual({ uid: world.other.uid, replicas: 2, loc: {} });
        await world.expectServiceRestored(SERVICES);
        expect(world.twin.pods(NS).filter((p) => p.labels["loc.dev/session"] !== undefined)).toEqual([]);
        expect(world.twin.secrets(NS)).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });
});
