import { LocError } from "../errors.js";
import { describeAccess, networkReason, type ApiProblem } from "../kube/api-errors.js";

/** Which cluster the daemon talks to, as the user would name it. */
export interface ClusterIdentity {
  server: string;
  context?: string;
  user?: string;
}

/** The API connection as `loc list` shows it. */
export type ClusterStatus =
  | { state: "connecting"; server: string; since: number }
  | { state: "reachable"; server: string; since: number }
  | { state: "failing"; server: string; since: number; problem: ApiProblem; message: string; resource: string; nextRetryAt: number };

export interface WatchFailure {
  resource: string;
  /** The collection path, e.g. `/api/v1/services`, for permission hints. */
  path: string;
  message: string;
  retryInMs: number;
  problem: ApiProblem;
  labelSelector?: string;
}

/** No answer at all this long after start-up is said, even while the first request still hangs. */
export const SILENCE_WARNING_MS = 5_000;

/**
 * The daemon's view of its API server: said out loud once per change (never once per retry),
 * and before the daemon has ever served, the failures retrying cannot fix are fatal.
 */
export class ClusterHealth {
  private current: ClusterStatus;
  /** Set once the daemon's first full pass ran (every collection listed): from then on nothing is fatal. */
  private served = false;

  constructor(
    private readonly cluster: ClusterIdentity,
    private readonly log: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.current = { state: "connecting", server: cluster.server, since: now() };
  }

  status(): ClusterStatus {
    return this.current;
  }

  /** Start-up is slow to answer: one line, so a hung connection never looks like a healthy daemon. */
  silent(): void {
    if (this.current.state !== "connecting") return;
    this.log(`loc daemon: no answer from ${this.cluster.server} after ${SILENCE_WARNING_MS / 1000} s; still trying — tunnels will appear once it answers`);
  }

  /** A watch failed: returns the error that must end the daemon, if this one is fatal at start-up. */
  failed(failure: WatchFailure): LocError | undefined {
    if (!this.served) {
      const fatal = this.fatalAtStart(failure);
      if (fatal) return fatal;
    }
    const previous = this.current;
    const sameTrouble = previous.state === "failing" && previous.problem === failure.problem;
    this.current = {
      state: "failing",
      server: this.cluster.server,
      since: sameTrouble ? previous.since : this.now(),
      problem: failure.problem,
      message: failure.message,
      resource: failure.resource,
      nextRetryAt: this.now() + failure.retryInMs,
    };
    if (!sameTrouble) this.log(`loc daemon: ${this.describe(failure)}`);
    return undefined;
  }

  /** The first full pass is done: later 401/403/400 are said and retried, never fatal. */
  serving(): void {
    this.served = true;
  }

  /** Every collection with a problem listed again: the cluster answers. */
  synced(): void {
    const wasFailing = this.current.state === "failing";
    if (this.current.state === "reachable") return;
    this.current = { state: "reachable", server: this.cluster.server, since: this.now() };
    if (wasFailing) this.log(`loc daemon: ${this.cluster.server} answers again; tunnels are being restored`);
  }

  private describe(failure: WatchFailure): string {
    const retry = `retrying with backoff (next in ${formatSeconds(failure.retryInMs)}, at most every 30 s)`;
    switch (failure.problem) {
      case "unreachable":
        return `cannot reach ${this.cluster.server}: ${networkReason(failure.message)}; ${retry} — tunnels will appear once it answers`;
      case "credentials":
        return `cannot get credentials for ${this.who()}: ${failure.message || "the credential plugin failed"}; ${retry} — log in again (e.g. refresh your cloud login) and loc picks it up`;
      case "unauthorized":
        return `${this.cluster.server} refused the credentials of ${this.who()} (HTTP 401); ${retry} — log in again and loc picks it up`;
      case "forbidden":
        return `${this.who()} may ${this.served ? "no longer " : "not "}watch ${failure.resource}: ${failure.message}; ${retry} — check: ${describeAccess(failure.path).canI}`;
      default:
        return `watch of ${failure.resource} failing: ${failure.message}; ${retry}`;
    }
  }

  private fatalAtStart(failure: WatchFailure): LocError | undefined {
    const access = describeAccess(failure.path);
    switch (failure.problem) {
      case "invalid":
        return new LocError(
          `${this.cluster.server} refused to list ${failure.resource}: ${failure.message}`,
          failure.labelSelector === undefined ? "this loc may not support this API server version" : `check -l/--selector "${failure.labelSelector}"`,
          "API_BAD_REQUEST",
        );
      case "unauthorized":
        return new LocError(`${this.cluster.server} refused the credentials of ${this.who()} (HTTP 401)`, `log in again, then check: kubectl${this.contextFlag()} get services`, "API_UNAUTHORIZED");
      case "forbidden":
        return new LocError(
          `${this.who()} may not list and watch ${access.resource} ${access.namespace ? `in ${access.namespace}` : "in all namespaces"} (HTTP 403)`,
          `check: ${access.canI}${access.namespace ? "" : "; or watch only namespaces you may read with -n NS"}`,
          "API_FORBIDDEN",
        );
      default:
        return undefined;
    }
  }

  private who(): string {
    const { user, context } = this.cluster;
    return [user ? `user "${user}"` : "this kubeconfig's user", context ? `(context "${context}")` : ""].filter(Boolean).join(" ");
  }

  private contextFlag(): string {
    return this.cluster.context ? ` --context ${this.cluster.context}` : "";
  }
}

function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
