import type { Duplex, Writable } from "node:stream";

/** A pod port that bytes should reach. */
export interface PodTarget {
  namespace: string;
  pod: string;
  port: number;
  /** Only proving the pod answers (the stream is closed at once): nothing worth keeping warm for. */
  probe?: boolean;
}

export type PodRef = { namespace: string; pod: string };

/** Whether a multiplexing transport holds a live session to a pod. */
export type SessionState = "up" | "opening" | "none";

/** A multiplexing transport's per-pod session coming and going (never per connection). */
export type SessionEvent =
  | { type: "opened"; pod: PodRef; path: string; ms: number }
  | { type: "closed"; pod: PodRef; reason: string; cause: "idle" | "shutdown" | "lost" };

/**
 * Carries one TCP connection's bytes from the laptop to a pod port. `open` is called once per
 * accepted local connection; the returned stream is that connection's alone, so its failure never
 * touches another connection or the tunnel.
 */
export interface ForwardTransport {
  readonly kind: "forward";
  readonly name: string;
  open(target: PodTarget, signal?: AbortSignal): Promise<Duplex>;
  /**
   * Proves the pod's port takes a connection: waits for the kubelet's verdict on its dial (see
   * dial-verdict.ts). Without it, a probe is `open` and close, which proves only that the pod exists.
   */
  probe?(target: PodTarget, signal?: AbortSignal): Promise<void>;
  /** Multiplexing transports only: the pod's shared session, for `loc list`. */
  sessionState?(pod: PodRef): SessionState;
  /** Multiplexing transports only: sessions opened and closed, for `loc history`. */
  onSessionEvent?(listener: (event: SessionEvent) => void): () => void;
  /** Ends whatever the transport keeps open between connections (daemon shutdown). */
  close?(): void;
}

/**
 * A connection that can write what the pod sends straight to a local socket, ending it after the
 * pod's FIN; the promise settles as `pipeline(connection, socket)` would (spdy: PortForwardConnection).
 */
export interface DirectForward {
  forwardTo(socket: Writable, count?: (bytes: number) => void): Promise<void>;
}

export function canForwardTo(stream: Duplex): stream is Duplex & DirectForward {
  return typeof (stream as Partial<DirectForward>).forwardTo === "function";
}

/** One remote port on the proxy side and where its connections go on the laptop. */
export interface ReverseForward {
  /** The port the proxy pod listens on (the Service's target port). */
  remotePort: number;
  localHost: string;
  localPort: number;
}

export interface ReverseStats {
  /** Connections accepted since the session started. */
  connections: number;
  openConnections: number;
  /** Bytes from the cluster to the laptop. */
  bytesIn: number;
  /** Bytes from the laptop to the cluster. */
  bytesOut: number;
}

/** A live reverse session; never persisted, reopened by the saga after a loss. */
export interface ReverseSession {
  readonly stats: ReverseStats;
  /** Resolves with the reason when the session ends by itself (transport lost); never rejects. */
  readonly lost: Promise<Error>;
  /** Ends the session and every connection it carries. */
  close(): Promise<void>;
}

/** What the proxy pod needs from a reverse transport: its server's config and credentials. */
export interface ProxySide {
  /** The port the proxy's server listens on inside the pod. */
  port: number;
  /** Files for the session's Secret (file name → content), mounted at `mountPath` in the pod. */
  secretFiles: Record<string, string>;
  mountPath: string;
  /** The container command that starts the server with those files. */
  command: string[];
  /** Public, safe to show and record: e.g. the pinned host key's SHA256 fingerprint. */
  fingerprint: string;
}

export interface ReverseConnectorOptions {
  /** The user the proxy's server runs as and the client logs in as. */
  user: string;
  port: number;
}

/**
 * One expose session's transport: `prepare` makes fresh per-session credentials (they live only in
 * this object and in the cluster Secret); `connect` reaches the proxy pod and opens the forwards.
 */
export interface ReverseConnector {
  readonly proxy: ProxySide;
  connect(target: { namespace: string; pod: string }, forwards: ReverseForward[], signal?: AbortSignal): Promise<ReverseSession>;
}


/** Carries cluster traffic for a Service back to the laptop (`loc expose --transport NAME`). */
export interface ReverseTransport {
  readonly kind: "reverse";
  readonly name: string;
  prepare(options: ReverseConnectorOptions): ReverseConnector;
}
