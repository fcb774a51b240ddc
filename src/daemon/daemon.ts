import { errorMessage, type LocError } from "../errors.js";
import { combineLatest, filter, map, merge, scan, type Observable, type Subscription } from "rxjs";
import type { HostEntry } from "../hosts/host-entry.js";
import type { BackoffPolicy } from "../kube/backoff.js";
import type { CollectionRef, KubeObject, WatchPort } from "../kube/cluster-port.js";
import { informer, type InformerEvent } from "../kube/informer.js";
import type { EndpointSliceObject, ServiceObject } from "../kube/service-model.js";
import { Listeners } from "../listeners.js";
import type { EventStore } from "../store/event-store.js";
import { DAEMON_STREAM, tunnelStream } from "../store/streams.js";
import type { PortBinder } from "./tunnel-listener.js";
import type { ForwardTransport } from "../transports/transport.js";
import type { DaemonStatus } from "../ipc/protocol.js";
import type { DaemonCore } from "./core.js";
import type { ExposeManager } from "./expose-manager.js";
import { safeRecorder, type Recorder } from "./record.js";
import { sessionLog } from "./session-log.js";
import { ClusterHealth, SILENCE_WARNING_MS, type ClusterIdentity } from "./cluster-health.js";
import { IpAllocator, type LoopbackRange } from "./ip-allocator.js";
import { loopbackAliasesFor, type LoopbackAliases } from "./loopback-aliases.js";
import { desiredUnits } from "./desired-units.js";
import { collections, describeScope, type WatchScope } from "./scope.js";
import { ProbeSlots } from "./probe-slots.js";
import { ServiceTunnel, type TunnelSpec } from "./service-tunnel.js";

export interface HostsSink {
  update(entries: readonly HostEntry[]): void;
  remove(): Promise<void>;
}

export interface DaemonConfig {
  watchPort: WatchPort;
  transport: ForwardTransport;
  store: EventStore;
  hosts: HostsSink;
  hostsFile: string;
  scope: WatchScope;
  clusterDomain: string;
  ipRange: LoopbackRange;
  version: string;
  backoff?: BackoffPolicy;
  /** Platform port for loopback addresses (aliases on macOS); default by `process.platform`. */
  loopback?: LoopbackAliases;
  /** The machine's own hostname: never handed out as a short name. */
  reservedNames?: string[];
  log?: (line: string) => void;
  /** Sessions of `loc expose`; stopped (and undone) first when the daemon stops. */
  exposes?: ExposeManager;
  /** Which cluster this is, for what the daemon says about it. */
  cluster?: ClusterIdentity;
  /** Binds Service ports below 1024 when the daemon runs as a user (through its root helper). */
  bindPrivileged?: PortBinder;
  /** How many tunnels probe their pod at once (default PROBE_SLOTS). */
  probeSlots?: number;
  now?: () => number;
}

// Enough to keep a few API server round trips busy without a burst of upgrades at start-up.
const PROBE_SLOTS = 32;

type Objects<T> = ReadonlyMap<string, T>;

/**
 * The forward half of loc: watches Services and EndpointSlices, keeps one ServiceTunnel per Service
 * (and per pod of a headless Service), and keeps the hosts block equal to the units' names.
 * Reconciles are serialized and coalesced: a burst of watch events is one pass and one hosts write.
 */
export class Daemon implements DaemonCore {
  private readonly units = new Map<string, ServiceTunnel>();
  private readonly skipped = new Map<string, { namespace: string; name: string; reason: string }>();
  private readonly problems = new Map<string, { resource: string; message: string; since: number }>();
  private readonly changes = new Listeners();
  /** Services whose address cannot be listened on (taken by another process), with why; retried each pass. */
  private readonly listenFailures = new Map<string, { namespace: string; name: string; reason: string }>();
  private readonly allocator: IpAllocator;
  private readonly loopback: LoopbackAliases;
  private subscription: Subscription | undefined;
  private latest: [Objects<ServiceObject>, Objects<EndpointSliceObject>] | undefined;
  private running: Promise<void> | undefined;
  private readonly startedAt = Date.now();
  private firstPass: (() => void) | undefined;
  private failStart: ((error: LocError) => void) | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  private unsubscribeSessions: (() => void) | undefined;
  private readonly record: Recorder;
  private readonly health: ClusterHealth;
  private readonly probeSlots: ProbeSlots;
  /** Resolves once the first full list has been reconciled (every tunnel listening). */
  readonly ready: Promise<void>;
  /**
   * Resolves (never rejects) with the reason the daemon cannot work at all, found before it first
   * served: a selector the server refuses, credentials it rejects, no permission to list.
   */
  readonly fatal: Promise<LocError>;

  constructor(private readonly config: DaemonConfig) {
    this.allocator = new IpAllocator(config.ipRange);
    this.probeSlots = new ProbeSlots(config.probeSlots ?? PROBE_SLOTS);
    this.loopback = config.loopback ?? loopbackAliasesFor(process.platform);
    this.ready = new Promise((resolve) => (this.firstPass = resolve));
    this.fatal = new Promise((resolve) => (this.failStart = resolve));
    this.record = safeRecorder(config.store, config.log);
    this.health = new ClusterHealth(config.cluster ?? { server: "the API server" }, config.log ?? (() => undefined), config.now);
    config.exposes?.onChange(() => this.notify());
  }

  start(): void {
    for (const event of this.config.store.read({ types: ["address.assigned"] })) {
      if (event.known && event.type === "address.assigned") this.allocator.restore(event.data.service, event.data.ip);
    }
    this.record(DAEMON_STREAM, { type: "daemon.started", data: { pid: process.pid, version: this.config.version, scope: describeScope(this.config.scope), hostsFile: this.config.hostsFile } });
    this.silenceTimer = setTimeout(() => this.health.silent(), SILENCE_WARNING_MS);
    this.silenceTimer.unref();
    const { transport } = this.config;
    const recordSession = sessionLog(transport.name, this.record);
    this.unsubscribeSessions = transport.onSessionEvent?.((event) => {
      recordSession(event);
      this.notify();
    });
    const { services, slices } = collections(this.config.scope);
    this.subscription = combineLatest([this.watch<ServiceObject>(services, "services"), this.watch<EndpointSliceObject>(slices, "endpointslices")]).subscribe(
      (state) => {
        this.latest = state;
        this.running ??= this.reconcileLoop();
      },
    );
  }

  get exposes(): ExposeManager | undefined {
    return this.config.exposes;
  }

  async stop(reason: string): Promise<void> {
    await this.config.exposes?.stopAll(reason);
    clearTimeout(this.silenceTimer);
    this.subscription?.unsubscribe();
    await this.running;
    await Promise.all(
      [...this.units.values()].map(async (unit) => {
        await unit.stop(reason);
        await this.loopback.remove(unit.spec.ip);
      }),
    );
    this.units.clear();
    // Shared pod sessions outlive any one tunnel: they end here, recorded as closed, not lost.
    this.config.transport.close?.();
    this.unsubscribeSessions?.();
    // Said, not thrown: the rest of the shutdown (the log's daemon.stopped) must still happen.
    await this.config.hosts.remove().catch((error: unknown) => this.config.log?.(`loc daemon: hosts block not removed: ${errorMessage(error)}`));
    this.record(DAEMON_STREAM, { type: "daemon.stopped", data: { pid: process.pid, reason } });
  }

  status(): DaemonStatus {
    return {
      pid: process.pid,
      startedAt: this.startedAt,
      scope: describeScope(this.config.scope),
      hostsFile: this.config.hostsFile,
      transport: this.config.transport.name,
      tunnels: [...this.units.values()].map((unit) => unit.status()),
      // A Service it cannot listen for is listed with why, never just missing.
      skipped: [...this.skipped.values(), ...this.listenFailures.values()],
      watchProblems: [...this.problems.values()],
      cluster: this.health.status(),
      exposes: this.config.exposes?.statuses() ?? [],
    };
  }

  onChange(listener: () => void): () => void {
    return this.changes.add(listener);
  }

  /** Merged snapshots of one kind over its collections; failures are recorded, never swallowed. */
  private watch<T extends KubeObject>(refs: CollectionRef[], kind: string): Observable<Objects<T>> {
    const streams = refs.map((ref) =>
      informer<T>({ port: this.config.watchPort, ref, resource: ref.path, backoff: this.config.backoff }).pipe(
        map((event) => {
          this.observeHealth(event, kind, ref);
          return { ref: ref.path, event };
        }),
      ),
    );
    return merge(...streams).pipe(
      scan((byRef, { ref, event }) => {
        if ("objects" in event) byRef.set(ref, event.objects);
        return byRef;
      }, new Map<string, Objects<T>>()),
      // Only once every collection has listed, so a half-listed state never removes tunnels.
      filter((byRef) => byRef.size === refs.length),
      map((byRef) => new Map([...byRef.values()].flatMap((objects) => [...objects]))),
    );
  }

  private observeHealth(event: InformerEvent<unknown>, kind: string, ref: CollectionRef): void {
    if (event.type === "failed") {
      this.record(DAEMON_STREAM, { type: "watch.failed", data: { resource: event.resource, message: event.message, retryInMs: event.retryInMs } });
      const where = /\/namespaces\/([^/]+)\//.exec(ref.path)?.[1];
      const fatal = this.health.failed({ ...event, resource: where ? `${kind} in ${where}` : kind, path: ref.path, labelSelector: ref.labelSelector });
      if (fatal) {
        // Nothing more to watch: retrying cannot fix it, and a later success must not look ready.
        clearTimeout(this.silenceTimer);
        queueMicrotask(() => this.subscription?.unsubscribe());
        this.failStart?.(fatal);
        return;
      }
      const since = this.problems.get(ref.path)?.since ?? Date.now();
      this.problems.set(ref.path, { resource: kind, message: event.message, since });
      this.notify();
    } else if (event.type === "relisting") {
      this.record(DAEMON_STREAM, { type: "watch.relisted", data: { resource: event.resource, reason: event.reason } });
    } else if (event.type === "synced") {
      this.problems.delete(ref.path);
      if (this.problems.size === 0) this.health.synced();
      this.notify();
    }
  }

  private async reconcileLoop(): Promise<void> {
    try {
      while (this.latest) {
        const [services, slices] = this.latest;
        this.latest = undefined;
        await this.reconcile(services, slices);
        this.health.serving();
        this.firstPass?.();
        this.notify();
      }
    } finally {
      this.running = undefined;
    }
  }

  private async reconcile(services: Objects<ServiceObject>, slices: Objects<EndpointSliceObject>): Promise<void> {
    const { scope, clusterDomain, reservedNames = [] } = this.config;
    const ipFor = (key: string, active: ReadonlySet<string>) => this.ipFor(key, active);
    const desired = desiredUnits(services, slices, { scope, clusterDomain, reservedNames, skipped: this.skipped, record: this.record, ipFor });
    for (const key of this.listenFailures.keys()) if (!desired.has(key)) this.listenFailures.delete(key);
    const stale = [...this.units].filter(([key, unit]) => !desired.has(key) || !samePorts(unit.spec, desired.get(key)?.spec));
    await Promise.all(
      stale.map(async ([key, unit]) => {
        this.units.delete(key);
        await unit.stop(desired.has(key) ? "ports changed" : "service or pod gone");
        if (!desired.has(key)) await this.loopback.remove(unit.spec.ip);
      }),
    );
    const fresh = [...desired].filter(([key]) => !this.units.has(key));
    await Promise.all(
      fresh.map(async ([key, { spec }]) => {
        const unit = new ServiceTunnel(spec, { transport: this.config.transport, record: (s, e) => this.record(s, e), backoff: this.config.backoff, bindPrivileged: this.config.bindPrivileged, log: this.config.log, probeSlots: this.probeSlots });
        try {
          await this.loopback.add(spec.ip);
          await unit.start();
          this.units.set(key, unit);
          this.listenFailures.delete(key);
          unit.onStateChange(() => this.notify());
        } catch (error) {
          // Retried on every pass; recorded only when the reason changes, so the log is not flooded.
          const reason = `cannot listen on ${spec.ip}: ${(error as Error).message}`;
          if (this.listenFailures.get(key)?.reason !== reason) {
            this.record(tunnelStream(key), { type: "tunnel.stopped", data: { service: key, reason } });
            this.config.log?.(`loc daemon: ${key}: ${reason}; retried when the cluster next changes (another process has that address and port)`);
          }
          this.listenFailures.set(key, { namespace: spec.namespace, name: key.slice(spec.namespace.length + 1), reason });
        }
      }),
    );
    for (const [key, { spec, endpoints }] of desired) {
      const unit = this.units.get(key);
      unit?.setNames(spec.names);
      unit?.setEndpoints(endpoints);
    }
    this.config.hosts.update([...this.units.values()].map((unit) => ({ ip: unit.spec.ip, names: unit.spec.names })));
  }

  private ipFor(key: string, active: ReadonlySet<string>): string {
    const { ip, fresh } = this.allocator.assign(key, active);
    if (fresh) this.record(tunnelStream(key), { type: "address.assigned", data: { service: key, ip } });
    return ip;
  }

  private notify(): void {
    this.changes.emit();
  }
}

function samePorts(a: TunnelSpec, b: TunnelSpec | undefined): boolean {
  return b !== undefined && a.ip === b.ip && JSON.stringify(a.ports) === JSON.stringify(b.ports);
}
