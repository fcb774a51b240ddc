import type { NewEvent } from "../store/events.js";
import type { ExposeStatus, SessionOutcome } from "../expose/session.js";

/** `loc expose` as sent to the daemon: flags already checked for shape by the CLI, checked again here. */
export interface ExposeParams {
  /** `ns/svc`. */
  service: string;
  transport: string;
  /** `scale` (default) or `selector`. */
  strategy?: string;
  /** `--map LOCAL:REMOTE` texts. */
  maps: string[];
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

/** One running expose as the daemon's socket server sees it. */
export interface ExposeHandle {
  readonly id: string;
  readonly service: string;
  onEvent(listener: (event: NewEvent) => void): () => void;
  readonly done: Promise<SessionOutcome>;
  stop(reason: string): Promise<SessionOutcome>;
  status(): ExposeStatus;
}

export interface ExposeService {
  /** Checks the request and returns the session, not yet started (so the caller can listen first). Throws a LocError. */
  create(params: ExposeParams): ExposeHandle & { start(): void };
  find(service: string): ExposeHandle | undefined;
  statuses(): ExposeStatus[];
}

/** How an expose conversation ends: the session's outcome, or the command detached from an active session. */
export type ExposeEnd = SessionOutcome | { state: "detached" };

export type ExposeMessage =
  | { id: number; ok: true; session: string; event: NewEvent; time: number }
  | { id: number; ok: true; session: string; end: ExposeEnd };
