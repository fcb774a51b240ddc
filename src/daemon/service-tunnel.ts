import type { Duplex } from "node:stream";
import { createActor, fromPromise, type Actor } from "xstate";
import { tunnelMachine, type TunnelEmitted } from "../actors/tunnel-machine.js";
import type { BackoffPolicy } from "../kube/backoff.js";
import { describePorts, type ReadyEndpoint, type TunnelPort } from "../kube/service-model.js";
import type { NewEvent } from "../store/events.js";
import { tunnelStream } from "../store/streams.js";
import { PodDialError } from "../transports/dial-verdict.js";
import type { ForwardTransport, SessionState } from "../transports/transport.js";
import type { ProbeSlots } from "./probe-slots.js";
import { TunnelListener, type PortBinder } from "./tunnel-listener.js";

/** One address with listeners: a ClusterIP Service, a headless Service's name, or one of its pods. */
export interface TunnelSpec {
  /** `ns/svc`, or `ns/svc/pod` for a headless Service's per-pod tunnel. */
  readonly key: string;
  readonly namespace: string;
  readonly service: string;
  readonly ip: string;
  readonly ports: TunnelPort[];
  names: string[];
}

/** A row of `loc list`. */
export interface TunnelStatus {
  key: string;
  namespace: string;
  name: string;
  state: string;
  reason: string;
  pod: string;
  ip: string;
  ports: string[];
  names: string[];
  connections: number;
  bytesIn: number;
  bytesOut: number;
  since: number;
  /** With a multiplexing transport: whether its shared session to the tunnel's pod is up. */
  session?: SessionState;
}

const PROBE_TIMEOUT_MS = 10_000;

export interface TunnelDeps {
  transport: ForwardTransport;
  record: (stream: string, event: NewEvent) => void;
  backoff?: BackoffPolicy;
  now?: () => number;
  /** Binds ports below 1024 when the daemon dropped root (its hosts helper does it). */
  bindPrivileged?: PortBinder;
  /** The daemon's log: a local connection the tunnel could not carry is said there, not dropped silently. */
  log?: (line: string) => void;
  /** Shared by the daemon's tunnels: how many probes run at once (see probe-slots.ts). */
  probeSlots?: ProbeSlots;
}

// A client retrying in a loop must not flood the log: the first failure is said, then at most one
// summary per interval.
const CONNECTION_ERROR_LOG_INTERVAL_MS = 30_000;

// One machine for every tunnel: `provide()` builds a whole new machine (16 KB of heap each, a
// thousand Services made it 16 MB). Its probe finds the tunnel it probes for by the actor's system.
type Prober = (pod: string, signal: AbortSignal) => Promise<void>;
const probers = new WeakMap<object, Prober>();
const probingTunnelMachine = tunnelMachine.provide({
  actors: {
    probe: fromPromise<void, { service: string; pod: string }>(({ input, signal, system }) => {
      const probe = probers.get(system);
      if (!probe) return Promise.reject(new Error(`no tunnel to probe ${input.pod} for ${input.service}`));
      return probe(input.pod, signal);
    }),
  },
});

/**
 * A tunnel machine plus the listeners it steers. The machine decides which pod new connections go
 * to, and emits every state it enters; each is recorded in the `tunnel:<key>` stream, with this
 * tunnel's address and ports. The listeners stay bound from start to stop, so the address never
 * flaps while pods come and go.
 */
export class ServiceTunnel {
  private readonly actor: Actor<typeof tunnelMachine>;
  private readonly listeners: TunnelListener[];
  private endpoints: ReadyEndpoint[] = [];
  private since: number;
  private readonly now: () => number;
  private readonly stateListeners: (() => void)[] = [];
  private readonly connectionErrors = { unsaid: 0, lastSaidAt: -Infinity };

  constructor(
    readonly spec: TunnelSpec,
    private readonly deps: TunnelDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.since = this.now();
    this.actor = createActor(probingTunnelMachine, { input: { service: spec.key, backoff: deps.backoff } });
    probers.set(this.actor.system, (pod, signal) => this.probe(pod, signal));
    this.listeners = spec.ports.map(
      (port) =>
        new TunnelListener(spec.ip, port.port, () => this.openToPod(port.name), (error) => this.connectionFailed(port.port, error), deps.bindPrivileged),
    );
  }

  async start(): Promise<void> {
    await Promise.all(this.listeners.map((listener) => listener.listen()));
    this.actor.on("*", (emitted) => {
      this.since = this.now();
      this.deps.record(tunnelStream(this.spec.key), this.eventFor(emitted));
      for (const listener of this.stateListeners) listener();
    });
    this.actor.start();
  }

  /** Names can change without touching listeners (e.g. the short name moves to another namespace). */
  setNames(names: string[]): void {
    this.spec.names = names;
  }

  onStateChange(listener: () => void): void {
    this.stateListeners.push(listener);
  }

  setEndpoints(endpoints: ReadyEndpoint[]): void {
    this.endpoints = endpoints;
    this.actor.send({ type: "endpoints", pods: endpoints.map((e) => e.pod) });
  }

  async stop(reason: string): Promise<void> {
    this.actor.send({ type: "stop", reason });
    await Promise.all(this.listeners.map((listener) => listener.close()));
  }

  status(): TunnelStatus {
    const snapshot = this.actor.getSnapshot();
    const { context } = snapshot;
    const { namespace, key } = this.spec;
    const pod = snapshot.hasTag("waiting") ? "" : (context.pod ?? "");
    return {
      key,
      namespace,
      // `svc`, or `svc/pod` for a headless Service's pod.
      name: key.slice(namespace.length + 1),
      state: snapshot.value,
      reason: snapshot.hasTag("waiting") ? "no ready endpoints" : snapshot.hasTag("retrying") ? (context.error ?? "") : "",
      pod,
      ip: this.spec.ip,
      ports: this.describePorts(context.pod),
      names: this.spec.names,
      connections: this.listeners.reduce((n, l) => n + l.stats.openConnections, 0),
      bytesIn: this.listeners.reduce((n, l) => n + l.stats.bytesIn, 0),
      bytesOut: this.listeners.reduce((n, l) => n + l.stats.bytesOut, 0),
      since: this.since,
      session: pod ? this.deps.transport.sessionState?.({ namespace, pod }) : undefined,
    };
  }

  private describePorts(pod: string | undefined): string[] {
    return describePorts(this.spec.ports, this.endpoints.find((e) => e.pod === pod));
  }

  /** The machine's words, with this tunnel's address and ports: the stream's event. */
  private eventFor(emitted: TunnelEmitted): NewEvent {
    const { key: service, ip } = this.spec;
    switch (emitted.type) {
      case "waitingForEndpoints":
        return { type: "tunnel.waitingForEndpoints", data: { service, reason: "no ready endpoints" } };
      case "connecting":
        return { type: "tunnel.connecting", data: { service, pod: emitted.pod, ip } };
      case "forwarding":
        return { type: "tunnel.forwarding", data: { service, pod: emitted.pod, ip, ports: this.describePorts(emitted.pod) } };
      case "backingOff":
        return { type: "tunnel.backingOff", data: { service, delayMs: emitted.delayMs, error: emitted.error } };
      case "stopped":
        return { type: "tunnel.stopped", data: { service, reason: emitted.reason } };
    }
  }

  private connectionFailed(port: number, error: Error): void {
    const errors = this.connectionErrors;
    errors.unsaid += 1;
    const now = this.now();
    if (!this.deps.log || now - errors.lastSaidAt < CONNECTION_ERROR_LOG_INTERVAL_MS) return;
    const others = errors.unsaid > 1 ? ` (and ${errors.unsaid - 1} more failed since last said)` : "";
    const detail = error instanceof PodDialError && error.detail !== error.message ? ` — the server said: ${error.detail}` : "";
    this.deps.log(`loc daemon: ${this.spec.key}: a connection to ${this.spec.ip}:${port} failed: ${error.message}${others}${detail}`);
    errors.unsaid = 0;
    errors.lastSaidAt = now;
  }

  /** Opens a connection to the chosen pod's port; refuses while no pod is chosen. */
  private openToPod(portName: string): Promise<Duplex> {
    const snapshot = this.actor.getSnapshot();
    const { pod } = snapshot.context;
    const endpoint = this.endpoints.find((e) => e.pod === pod);
    const podPort = endpoint?.podPorts[portName];
    if (!pod || !endpoint || podPort === undefined || snapshot.hasTag("waiting")) {
      return Promise.reject(new Error(`${this.spec.key} has no ready endpoint`));
    }
    const podFailed = (error: unknown) => {
      if (error instanceof PodDialError) this.actor.send({ type: "podFailed", pod, error: error.message });
    };
    return this.deps.transport.open({ namespace: this.spec.namespace, pod, port: podPort }).then(
      (stream) => stream.once("error", podFailed),
      (error: unknown) => {
        podFailed(error);
        throw error;
      },
    );
  }

  /** A pod is usable when its port takes a port-forwarded connection (the transport's verdict). */
  private async probe(pod: string, signal: AbortSignal): Promise<void> {
    const endpoint = this.endpoints.find((e) => e.pod === pod);
    const port = endpoint && Object.values(endpoint.podPorts)[0];
    if (port === undefined) throw new Error(`pod ${pod} has no port for this service`);
    // The timeout counts from the slot on: a probe queued behind a thousand others has not failed.
    const release = await this.deps.probeSlots?.acquire(signal);
    // A timer cleared with the attempt, not AbortSignal.timeout: a pod that fails fast would
    // otherwise leave one pending 10 s timer per retry.
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), PROBE_TIMEOUT_MS);
    try {
      const target = { namespace: this.spec.namespace, pod, port, probe: true };
      const both = AbortSignal.any([signal, timeout.signal]);
      const { transport } = this.deps;
      if (transport.probe) await transport.probe(target, both);
      else (await transport.open(target, both)).destroy();
    } finally {
      clearTimeout(timer);
      release?.();
    }
  }
}
