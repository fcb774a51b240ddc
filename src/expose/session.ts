import { createActor, fromCallback, fromPromise, type Actor } from "xstate";
import { exposeMachine, phaseOf, type ExposeEvent } from "../actors/expose-machine.js";
import type { BackoffPolicy } from "../kube/backoff.js";
import type { ExposeCluster } from "../kube/expose-cluster.js";
import type { NewEvent } from "../store/events.js";
import { exposeStream } from "../store/streams.js";
import type { ReverseConnector, ReverseSession, ReverseStats, ReverseTransport } from "../transports/transport.js";
import { newSessionId, proxyPodName } from "./identity.js";
import { describeMapping, type MapFlag } from "./ports.js";
import { resolveExpose, type ExposePlan } from "./resolve.js";
import { workloadTarget } from "./mutation.js";
import { createProxy, podExists, scaleDown, watchPod, type StepContext } from "./steps.js";
import { retarget } from "./selector.js";
import { DEFAULT_STRATEGY, type ExposeStrategy } from "./strategy.js";
import { undoStep, type UndoStep } from "./undo-steps.js";

/**
 * How a session's proxy pod and tunnel are set up: one list, so the protocol's checked request
 * (ExposeSpec in src/ipc/expose-params.ts) and the session's options cannot drift apart.
 */
export interface ProxySettings {
  /** The proxy pod's image, its SSH user and uid, and the port its sshd listens on. */
  image: string;
  user: string;
  runAsUser: number;
  sshPort: number;
  readyTimeoutMs: number;
  connectTimeoutMs: number;
  /** Merged into the proxy pod's manifest. */
  overrides?: Record<string, unknown>;
}

export interface ExposeOptions extends ProxySettings {
  namespace: string;
  name: string;
  maps: MapFlag[];
  /** Default `scale`. */
  strategy?: ExposeStrategy;
  /** Where mapped connections go on this machine. */
  localHost: string;
}

export interface SessionDeps {
  cluster: ExposeCluster;
  transport: ReverseTransport;
  owner: string;
  /** The API server's URL, recorded so recovery never undoes on another cluster. */
  clusterUrl?: string;
  /** Appends to the event store; the session's events go to `expose:<id>`. */
  record: (stream: string, event: NewEvent) => void;
  backoff?: BackoffPolicy;
  pollMs?: number;
  now?: () => number;
  sessionId?: string;
}

/** A row of `loc list` for one expose. No secrets: the fingerprint is public. */
export interface ExposeStatus {
  id: string;
  service: string;
  transport: string;
  strategy: ExposeStrategy;
  state: string;
  reason: string;
  pod: string;
  ports: string[];
  workloads: string[];
  connections: number;
  openConnections: number;
  bytesIn: number;
  bytesOut: number;
  since: number;
}

export type SessionOutcome = { state: "stopped" } | { state: "failed"; error: string; hint?: string; undone: boolean };

/**
 * One `loc expose`: the saga machine plus the live transport session it steers. Everything it does
 * is recorded in the `expose:<id>` stream and handed to listeners (the CLI streams them).
 */
export class ExposeSession {
  readonly id: string;
  readonly service: string;
  readonly podName: string;
  readonly strategy: ExposeStrategy;
  readonly done: Promise<SessionOutcome>;
  private readonly actor: Actor<typeof exposeMachine>;
  private readonly reverse: ReverseConnector;
  private readonly steps: StepContext;
  private readonly listeners = new Set<(event: NewEvent) => void>();
  private live: ReverseSession | undefined;
  /** Traffic of sessions already closed (reconnects), so `loc list` shows totals. */
  private readonly carried: ReverseStats = { connections: 0, openConnections: 0, bytesIn: 0, bytesOut: 0 };
  private since: number;
  private readonly now: () => number;

  constructor(
    private readonly options: ExposeOptions,
    private readonly deps: SessionDeps,
  ) {
    this.id = deps.sessionId ?? newSessionId();
    this.service = `${options.namespace}/${options.name}`;
    this.podName = proxyPodName(options.name, this.id);
    this.strategy = options.strategy ?? DEFAULT_STRATEGY;
    this.now = deps.now ?? Date.now;
    this.since = this.now();
    this.reverse = deps.transport.prepare({ user: options.user, port: options.sshPort });
    const pollMs = deps.pollMs ?? 500;
    this.steps = {
      cluster: deps.cluster,
      sessionId: this.id,
      owner: deps.owner,
      namespace: options.namespace,
      service: this.service,
      image: options.image,
      runAsUser: options.runAsUser,
      reverse: this.reverse,
      overrides: options.overrides,
      record: (event) => this.record(event),
      pollMs,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    };
    this.actor = createActor(this.machine(), {
      input: {
        service: this.service,
        about: { sessionId: this.id, podName: this.podName, image: options.image, localHost: options.localHost, transport: { name: deps.transport.name, port: options.sshPort, fingerprint: this.reverse.proxy.fingerprint } },
        readyTimeoutMs: options.readyTimeoutMs,
        connectTimeoutMs: options.connectTimeoutMs,
        backoff: deps.backoff,
      },
    });
    // The machine says what happens; a new phase (anything but a warning) restarts `loc list`'s age.
    this.actor.on("*", (event) => {
      if (event.type !== "expose.warning") this.since = this.now();
      this.record(event);
    });
    this.done = new Promise((resolve) => {
      this.actor.subscribe({
        next: (snapshot) => {
          if (snapshot.status === "done") resolve(snapshot.value === "stopped" ? { state: "stopped" } : this.failure(snapshot.context));
        },
      });
    });
  }

  get plan(): ExposePlan | undefined {
    return this.actor.getSnapshot().context.plan;
  }

  onEvent(listener: (event: NewEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    const cluster = this.deps.clusterUrl ? { cluster: this.deps.clusterUrl } : {};
    this.record({ type: "expose.requested", data: { service: this.service, transport: this.deps.transport.name, strategy: this.strategy, owner: this.deps.owner, ports: this.options.maps.map((m) => m.text), ...cluster } });
    this.actor.start();
  }

  /** Undoes everything (unless already finished) and resolves once the session has ended. */
  async stop(reason: string): Promise<SessionOutcome> {
    if (this.actor.getSnapshot().status === "active") this.actor.send({ type: "stop", reason });
    return this.done;
  }

  status(): ExposeStatus {
    const snapshot = this.actor.getSnapshot();
    const { context } = snapshot;
    const state = phaseOf(snapshot);
    const stats = this.stats();
    return {
      id: this.id,
      service: this.service,
      transport: this.deps.transport.name,
      strategy: this.strategy,
      state,
      reason: state === "active" ? "" : (context.error ?? context.pending ?? ""),
      pod: context.pod?.name ?? "",
      ports: (context.plan?.ports ?? []).map((p) => describeMapping(p, this.options.localHost)),
      workloads: (context.plan?.workloads ?? []).map((w) => `${workloadTarget(w.ref)} ${w.replicas}→0`),
      ...stats,
      since: this.since,
    };
  }

  private failure(context: { error: string | undefined; failure: string | undefined; hint: string | undefined; plan: ExposePlan | undefined; leftovers: string[] }): SessionOutcome {
    if (context.leftovers.length > 0) {
      const cause = context.failure ? `${context.failure}; then ` : "";
      return { state: "failed", error: `${cause}could not undo everything: ${context.leftovers.join("; ")}`, undone: false, hint: "these changes are still in the cluster; each step is in loc history" };
    }
    // Refused while resolving: nothing was changed, and the refusal's own hint says what to do.
    const undone = context.plan !== undefined;
    return { state: "failed", error: context.failure ?? context.error ?? "unknown error", undone, ...(context.hint && !undone ? { hint: context.hint } : {}) };
  }

  private stats(): ReverseStats {
    const live = this.live?.stats;
    return {
      connections: this.carried.connections + (live?.connections ?? 0),
      openConnections: live?.openConnections ?? 0,
      bytesIn: this.carried.bytesIn + (live?.bytesIn ?? 0),
      bytesOut: this.carried.bytesOut + (live?.bytesOut ?? 0),
    };
  }

  private machine() {
    const steps = this.steps;
    return exposeMachine.provide({
      actors: {
        resolve: fromPromise(() => resolveExpose(steps.cluster, this.options.namespace, this.options.name, this.options.maps, this.deps.owner, this.strategy)),
        scaleDown: fromPromise(({ input }) => scaleDown(steps, input.workload)),
        createProxy: fromPromise(({ input }) => createProxy(steps, input.plan, this.podName, input.replacing)),
        watchPod: fromCallback<ExposeEvent, { pod: string }>(({ sendBack, input }) => watchPod(steps, input.pod, sendBack)),
        connect: fromPromise(({ input, signal }) => this.connect(input.pod, input.plan, signal)),
        watchTransport: fromCallback<ExposeEvent, void>(({ sendBack }) => {
          const live = this.live;
          if (!live) sendBack({ type: "transport.lost", error: "no transport session" });
          else void live.lost.then((error) => sendBack({ type: "transport.lost", error: error.message }));
        }),
        retarget: fromPromise(({ input }) => retarget(steps, input.plan.target)),
        podExists: fromPromise(({ input }) => podExists(steps, input.pod)),
        undo: fromPromise<void, UndoStep>(({ input }) => undoStep(steps, input)),
      },
      actions: {
        closeTransport: () => this.closeTransport(),
      },
    });
  }

  private async connect(pod: string, plan: ExposePlan, signal: AbortSignal): Promise<void> {
    this.closeTransport();
    const forwards = plan.ports.map((p) => ({ remotePort: p.remotePort, localHost: this.options.localHost, localPort: p.localPort }));
    const session = await this.reverse.connect({ namespace: this.options.namespace, pod }, forwards, signal);
    if (signal.aborted) {
      // The machine moved on (a stop) while the handshake finished: this session is nobody's.
      await session.close();
      throw new Error("connect cancelled");
    }
    this.live = session;
  }

  private closeTransport(): void {
    const live = this.live;
    if (!live) return;
    this.live = undefined;
    this.carried.connections += live.stats.connections;
    this.carried.bytesIn += live.stats.bytesIn;
    this.carried.bytesOut += live.stats.bytesOut;
    void live.close();
  }

  private record(event: NewEvent): void {
    this.deps.record(exposeStream(this.id), event);
    for (const listener of this.listeners) listener(event);
    // Recorded, so it may have happened: the machine counts it among what to undo.
    if (event.type === "expose.intent") this.actor.send({ type: "intent", intent: event.data });
  }
}

