import type { ExposeStatus, SessionOutcome } from "../expose/session.js";
import type { ExposeSpec } from "../ipc/expose-params.js";
import type { DaemonStatus } from "../ipc/protocol.js";
import type { NewEvent } from "../store/events.js";

/** What the daemon offers to its socket server (src/ipc/server.ts). */
export interface DaemonCore {
  status(): DaemonStatus;
  /** Emits whenever the status may have changed (at most a few times a second). */
  onChange(listener: () => void): () => void;
  /** Absent when this daemon cannot expose (no cluster write access configured). */
  exposes?: ExposeService;
}

/** One running expose as the socket server sees it. */
export interface ExposeHandle {
  readonly id: string;
  readonly service: string;
  onEvent(listener: (event: NewEvent) => void): () => void;
  readonly done: Promise<SessionOutcome>;
  stop(reason: string): Promise<SessionOutcome>;
  status(): ExposeStatus;
}

export interface ExposeService {
  /** Returns the session, not yet started (so the caller can listen first). Throws a LocError. */
  create(spec: ExposeSpec): ExposeHandle & { start(): void };
  find(service: string): ExposeHandle | undefined;
  statuses(): ExposeStatus[];
}
