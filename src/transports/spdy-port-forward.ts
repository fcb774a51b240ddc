import type { KubeConfig } from "@kubernetes/client-node";
import type { Duplex } from "node:stream";
import { awaitDialVerdict } from "./dial-verdict.js";
import { dialSession, type DialedSession, type SessionPath } from "./spdy/dial-session.js";
import { SpdySession, type SessionOptions } from "./spdy/session.js";
import type { ForwardTransport, PodRef, PodTarget, SessionEvent, SessionState } from "./transport.js";

export type { PodRef, SessionEvent } from "./transport.js";

export interface SpdyTransportOptions extends SessionOptions {
  /** Close a pod's session after this long without connections. */
  idleMs?: number;
  /** The same for a session that has carried nothing but probes. */
  probeIdleMs?: number;
  /** Which way into the API server; both, WebSocket first, by default. */
  only?: SessionPath;
  onSessionEvent?: (event: SessionEvent) => void;
  /** Replaces the API server dial (tests). */
  dial?: (pod: PodRef, signal?: AbortSignal) => Promise<DialedSession>;
}

interface PodSession {
  opening?: Promise<SpdySession>;
  session?: SpdySession;
  idleTimer?: NodeJS.Timeout;
  /** Closed by close(), not lost: said so in its event. */
  shutdown?: boolean;
  /** Has carried a connection that was not a probe. */
  used?: boolean;
}

// Every tunnel probes its pod when it starts or moves; with a thousand Services that is a thousand
// sessions. Kept 60 s they hold the API server's connections and ~36 KB each here for nobody: a
// session that only proved a pod answers goes after a short grace (two tunnels of one pod share it).
const PROBE_IDLE_MS = 2_000;

/**
 * Port-forward multiplexed like kubectl's: one SPDY session per pod, shared by every tunnel and
 * connection to it, two streams per connection. A session opens on first use, is dropped on
 * GOAWAY, socket loss or missed pings (the next connection opens a new one) and closes when idle.
 */
export class SpdyPortForwardTransport implements ForwardTransport {
  readonly kind = "forward";
  readonly name = "spdy";
  private readonly pods = new Map<string, PodSession>();
  private readonly listeners = new Set<(event: SessionEvent) => void>();
  private readonly dial: (pod: PodRef, signal?: AbortSignal) => Promise<DialedSession>;

  constructor(
    config: KubeConfig,
    private readonly options: SpdyTransportOptions = {},
  ) {
    this.dial = options.dial ?? ((pod, signal) => dialSession(config, pod, { signal, only: options.only }));
  }

  async open(target: PodTarget, signal?: AbortSignal): Promise<Duplex> {
    const pod = { namespace: target.namespace, pod: target.pod };
    for (let attempt = 0; ; attempt += 1) {
      const session = await this.session(pod, signal);
      // A session can stop taking streams between the await and here (GOAWAY): take a new one once.
      if (!session.isOpen && attempt === 0) continue;
      const entry = this.pods.get(key(pod));
      if (entry?.session === session) {
        clearTimeout(entry.idleTimer);
        if (!target.probe) entry.used = true;
      }
      return session.openConnection(target.port);
    }
  }

  async probe(target: PodTarget, signal?: AbortSignal): Promise<void> {
    await awaitDialVerdict(await this.open({ ...target, probe: true }, signal), { halfClose: true, signal });
  }

  /** Whether the pod's session is up, for status displays. */
  sessionState(pod: PodRef): SessionState {
    const entry = this.pods.get(key(pod));
    if (entry?.session?.isOpen) return "up";
    return entry?.opening ? "opening" : "none";
  }

  get sessionCount(): number {
    return [...this.pods.values()].filter((entry) => entry.session?.isOpen).length;
  }

  onSessionEvent(listener: (event: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Closes every session (daemon shutdown). */
  close(): void {
    for (const entry of this.pods.values()) {
      clearTimeout(entry.idleTimer);
      entry.shutdown = true;
      entry.session?.close();
    }
    this.pods.clear();
  }

  private emit(event: SessionEvent): void {
    this.options.onSessionEvent?.(event);
    for (const listener of this.listeners) listener(event);
  }

  private async session(pod: PodRef, signal?: AbortSignal): Promise<SpdySession> {
    const entry = this.pods.get(key(pod));
    if (entry?.session?.isOpen) return entry.session;
    if (entry?.opening) return abortable(entry.opening, signal);
    const fresh: PodSession = {};
    // The dial is shared by every connection waiting for it, so one caller's abort must not cancel it.
    fresh.opening = this.openSession(pod, fresh);
    fresh.opening.catch(() => undefined);
    this.pods.set(key(pod), fresh);
    return abortable(fresh.opening, signal);
  }

  private async openSession(pod: PodRef, entry: PodSession): Promise<SpdySession> {
    const started = performance.now();
    let dialed: DialedSession;
    try {
      dialed = await this.dial(pod);
    } catch (error) {
      if (this.pods.get(key(pod)) === entry) this.pods.delete(key(pod));
      throw error;
    } finally {
      entry.opening = undefined;
    }
    const session = new SpdySession(dialed.socket, this.options);
    entry.session = session;
    this.emit({ type: "opened", pod, path: dialed.path, ms: performance.now() - started });
    const forget = () => {
      clearTimeout(entry.idleTimer);
      if (this.pods.get(key(pod)) === entry) this.pods.delete(key(pod));
    };
    let idleClose = false;
    session.on("goaway", forget);
    session.on("closed", (reason: Error) => {
      forget();
      this.emit({ type: "closed", pod, reason: reason.message, cause: idleClose ? "idle" : entry.shutdown ? "shutdown" : "lost" });
    });
    session.on("idle", () => {
      clearTimeout(entry.idleTimer);
      entry.idleTimer = setTimeout(() => {
        if (session.connectionCount > 0) return;
        idleClose = true;
        session.close(new Error("port-forward session idle"));
      }, entry.used ? (this.options.idleMs ?? 60_000) : (this.options.probeIdleMs ?? PROBE_IDLE_MS)).unref();
    });
    return session;
  }
}

function key(pod: PodRef): string {
  return `${pod.namespace}/${pod.pod}`;
}

function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new Error("port-forward aborted"));
  return new Promise((resolve, reject) => {
    const abort = () => reject(new Error("port-forward aborted"));
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}
