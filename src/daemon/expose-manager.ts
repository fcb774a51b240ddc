import { LocError } from "../errors.js";
import { ExposeSession, type ExposeStatus, type ProxySettings, type SessionDeps } from "../expose/session.js";
import type { ExposeSpec } from "../ipc/expose-params.js";
import type { BackoffPolicy } from "../kube/backoff.js";
import type { ExposeCluster } from "../kube/expose-cluster.js";
import { Listeners } from "../listeners.js";
import type { ReverseTransport } from "../transports/transport.js";
import type { ExposeService } from "./core.js";
import type { Recorder } from "./record.js";

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
  private readonly changes = new Listeners();

  constructor(private readonly deps: ExposeManagerDeps) {}

  /** `spec` comes checked and complete from the protocol's parser (src/ipc/expose-params.ts). */
  create(spec: ExposeSpec): ExposeSession {
    const { service, ref } = spec;
    const transport = this.deps.transports.get("reverse", spec.transport);
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
      { ...proxySettings(spec), namespace: ref.namespace, name: ref.name, maps: spec.maps, strategy: spec.strategy, localHost: "127.0.0.1" },
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
    return this.changes.add(listener);
  }

  private notify(): void {
    this.changes.emit();
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

/** The spec's ProxySettings, nothing else (the session gets no protocol fields). */
function proxySettings({ image, user, runAsUser, sshPort, readyTimeoutMs, connectTimeoutMs, overrides }: ProxySettings): ProxySettings {
  return { image, user, runAsUser, sshPort, readyTimeoutMs, connectTimeoutMs, ...(overrides !== undefined ? { overrides } : {}) };
}
