import type { ClusterStatus } from "./cluster-health.js";
import type { ExposeStatus } from "../expose/session.js";
import type { ExposeMessage, ExposeParams, ExposeService } from "./expose-api.js";
import type { TunnelStatus } from "./tunnel-unit.js";

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

/** What the daemon's core offers to its socket server. */
export interface DaemonCore {
  status(): DaemonStatus;
  /** Emits whenever the status may have changed (at most a few times a second). */
  onChange(listener: () => void): () => void;
  /** Absent when this daemon cannot expose (no cluster write access configured). */
  exposes?: ExposeService;
}

/** Requests over the unix socket, one JSON object per line. */
export type DaemonRequest =
  | { id: number; method: "status" }
  | { id: number; method: "watchStatus" }
  | { id: number; method: "expose"; params: ExposeParams }
  | { id: number; method: "unexpose"; params: { service: string; session?: string } };

/** Responses, one JSON object per line; `watchStatus` gets one `status` message per change. */
export type DaemonResponse =
  | { id: number; ok: true; status: DaemonStatus }
  | { id: number; ok: false; error: { message: string; hint: string; code: string } }
  | ExposeMessage;

export const SOCKET_FILE = "daemon.sock";
export const LOCK_FILE = "daemon.lock";
