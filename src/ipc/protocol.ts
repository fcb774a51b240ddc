import type { ExposeStatus, SessionOutcome } from "../expose/session.js";
import type { ClusterStatus } from "../daemon/cluster-health.js";
import type { TunnelStatus } from "../daemon/service-tunnel.js";
import type { NewEvent } from "../store/events.js";

/**
 * The daemon's unix-socket protocol: one JSON object per line each way, every line stamped with
 * `v`. Bump the version on any change an older peer would misread; both ends refuse a line of
 * another version with a one-line LocError instead of guessing. Lines without `v` come
 * from a loc older than the versioned protocol: version 0.
 */
export const PROTOCOL_VERSION = 1;

/** `loc expose` as sent to the daemon; absent fields take EXPOSE_DEFAULTS (src/ipc/expose-params.ts). */
export interface ExposeParams {
  /** `ns/svc`. */
  service: string;
  transport?: string;
  /** `scale` (default) or `selector`. */
  strategy?: string;
  /** `--map LOCAL:REMOTE` texts. */
  maps?: string[];
  image?: string;
  user?: string;
  runAsUser?: number;
  sshPort?: number;
  readyTimeoutMs?: number;
  connectTimeoutMs?: number;
  overrides?: Record<string, unknown>;
  /** Keep the session after the command exits (until `loc expose --stop` or daemon shutdown). */
  detach?: boolean;
}

export interface UnexposeParams {
  /** `ns/svc`. */
  service: string;
  /** Only this session: a Ctrl-C never stops another command's expose of the same Service. */
  session?: string;
}

/** What `loc expose` asks: start a session, or stop one (and undo it). */
export type ExposeRequest = { method: "expose"; params: ExposeParams } | { method: "unexpose"; params: UnexposeParams };

/** Requests, client to daemon. The wire adds `v`. */
export type DaemonRequest = { id: number; method: "status" } | { id: number; method: "watchStatus" } | ({ id: number } & ExposeRequest);

export type DaemonMethod = DaemonRequest["method"];
export const DAEMON_METHODS: readonly DaemonMethod[] = ["status", "watchStatus", "expose", "unexpose"];

/** The daemon's status as `loc list` shows it. */
export interface DaemonStatus {
  pid: number;
  startedAt: number;
  /** e.g. `all namespaces except kube-system, selector app=web`. */
  scope: string;
  hostsFile: string;
  /** The forward transport's name; absent from daemons older than the flag. */
  transport?: string;
  tunnels: TunnelStatus[];
  /** Services loc does not tunnel, with why (ExternalName, UDP only). */
  skipped: { namespace: string; name: string; reason: string }[];
  /** Watch trouble the daemon is retrying through; empty when all watches are healthy. */
  watchProblems: { resource: string; message: string; since: number }[];
  /** Services sent to this machine (`loc expose`). */
  exposes: ExposeStatus[];
  /** The API connection: connecting, reachable, or failing since when and retried when. */
  cluster?: ClusterStatus;
}

/** A refusal is a LocError on the daemon's side, sent whole so the client can throw it again. */
export interface Refusal {
  message: string;
  hint: string;
  code: string;
}

/** How an expose conversation ends: the session's outcome, or the command detached from an active session. */
export type ExposeEnd = SessionOutcome | { state: "detached" };

export interface StatusAnswer { id: number; ok: true; status: DaemonStatus }
export interface RefusalAnswer { id: number; ok: false; error: Refusal }
/** One recorded step of an expose session (`expose` and `unexpose` stream them). */
export interface ExposeEventAnswer { id: number; ok: true; session: string; event: NewEvent; time: number }
/** The last answer of an `expose` or `unexpose` conversation. */
export interface ExposeEndAnswer { id: number; ok: true; session: string; end: ExposeEnd }

/** Answers, daemon to client; `watchStatus` gets one StatusAnswer per change. The wire adds `v`. */
export type DaemonResponse = StatusAnswer | RefusalAnswer | ExposeEventAnswer | ExposeEndAnswer;

/** A message as it travels. */
export type Wire<T> = T & { v: number };

export function toWire<T extends object>(message: T): Wire<T> {
  return { v: PROTOCOL_VERSION, ...message };
}
