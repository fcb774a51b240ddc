import { LocError } from "../errors.js";
import { DEFAULT_PROXY_IMAGE, DEFAULT_PROXY_UID, DEFAULT_PROXY_USER, DEFAULT_SSH_PORT } from "../expose/proxy-pod.js";
import { parseMapFlag } from "../expose/ports.js";
import { DEFAULT_STRATEGY, parseStrategy } from "../expose/strategy.js";
import { ExposeSession, type ExposeStatus, type SessionDeps } from "../expose/session.js";
import type { BackoffPolicy } from "../kube/backoff.js";
import type { ExposeCluster } from "../kube/expose-cluster.js";
import { formatServiceRef, parseServiceRef } from "../kube/service-ref.js";
import type { ReverseTransport } from "../transports/transport.js";
import type { ExposeParams, ExposeService } from "./expose-api.js";
import type { Recorder } from "./record.js";

export const DEFAULT_READY_TIMEOUT_MS = 60_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 60_000;

export interface ExposeManagerDeps {
  cluster: ExposeCluster;
  /** A TransportRegistry: unknown names are refused with the list of available ones. */
  transports: { get(kind: "reverse", name: string): ReverseTransport };
  owner: string;
  /** The API server's URL, recorded with each session. */
  clusterUrl?: string;
  record: Recorder;
  backoff?: BackoffPolicy;
  pollMs?: number;
}

/** The daemon's expose sessions: at most one per Service, each gone from here once it has ended. */
export class ExposeManager implements ExposeService {
  private readonly sessions = new Map<string, ExposeSession>();
  private readonly changeListeners = new Set<() => void>();

  constructor(private readonly deps: ExposeManagerDeps) {}

  create(params: ExposeParams): ExposeSession {
    const ref = parseServiceRef(String(params.service));
    const service = formatServiceRef(ref);
    const transport = this.deps.transports.get("reverse", String(params.transport));
    const maps = (params.maps ?? []).map((text) => parseMapFlag(String(text)));
    const strategy = parseStrategy(String(params.strategy ?? DEFAULT_STRATEGY));
    const running = this.sessions.get(service);
    if (running) {
      throw new LocError(`${service} is already exposed by this machine (session ${running.id})`, `stop it first: loc expose --stop ${service}`, "ALREADY_EXPOSED");
    }
    const sessionDeps: SessionDeps = {
      cluster: this.deps.cluster,
      transport,
      owner: this.deps.owner,
      clusterUrl: this.deps.clusterUrl,
      record: this.deps.record,
      backoff: this.deps.backoff,
      pollMs: this.deps.pollMs,
    };
    const session = new ExposeSession(
      {
        namespace: ref.namespace,
        name: ref.name,
        maps,
        strategy,
        image: params.image ?? DEFAULT_PROXY_IMAGE,
        user: params.user ?? DEFAULT_PROXY_USER,
        runAsUser: params.runAsUser ?? DEFAULT_PROXY_UID,
        sshPort: params.sshPort ?? DEFAULT_SSH_PORT,
        readyTimeoutMs: params.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
        connectTimeoutMs: params.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        overrides: params.overrides,
        localHost: "127.0.0.1",
      },
      sessionDeps,
    );
    this.sessions.set(service, session);
    const off = session.onEvent(() => this.notify());
    void session.done.then(() => {
      off();
      this.sessions.delete(service);
      this.notify();
    });
    return session;
  }

  /** Called on every step of every session (the daemon's status watchers listen). */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private notify(): void {
    for (const listener of this.changeListeners) listener();
  }

  find(service: string): ExposeSession | undefined {
    return this.sessions.get(service);
  }

  statuses(): ExposeStatus[] {
    return [...this.sessions.values()].map((session) => session.status());
  }

  /** Daemon shutdown: every session undoes its changes before the daemon exits. */
  async stopAll(reason: string): Promise<void> {
    await Promise.all([...this.sessions.values()].map((session) => session.stop(reason)));
  }
}
