/**
 * What the event log says a crashed session may have left in the cluster: the `expose:<id>`
 * streams folded by the one undo model (undo-steps.ts), plus whether each session ended cleanly.
 */
import { foldIntent, NO_CHANGES, type SessionChanges } from "../expose/undo-steps.js";
import { serviceOf, type StoredEvent } from "../store/events.js";
import { DAEMON_STREAM, sessionIdOf } from "../store/streams.js";

export interface RecoverableSession extends SessionChanges {
  id: string;
  /** `ns/svc`. */
  service: string;
  namespace: string;
  owner: string;
  /** The API server the session ran against, when recorded. */
  cluster?: string;
  /**
   * The `expose:<id>` stream's version when the log was read (absent for a session found in the
   * cluster): recovery appends expecting it, so a process that wrote to the stream since then (a
   * daemon stopping the session as `loc recover` read the log) makes recovery stop, not redo.
   */
  version?: number;
}

interface Fold {
  session: RecoverableSession;
  /** Ended cleanly: stopped, or failed with nothing left behind. */
  settled: boolean;
}

/** Sessions of `owner` that did not end cleanly, in the order they started; plus how many of other owners were skipped. */
export function unfinishedSessions(events: readonly StoredEvent[], owner: string): { sessions: RecoverableSession[]; otherOwners: number } {
  const folds = new Map<string, Fold>();
  for (const event of events) {
    const id = sessionIdOf(event.stream);
    if (!event.known || id === undefined) continue;
    const fold = folds.get(id) ?? newFold(id, serviceOf(event) ?? "");
    folds.set(id, fold);
    evolve(fold, event);
  }
  const all = [...folds.values()].filter((fold) => !fold.settled).map((fold) => fold.session);
  const sessions = all.filter((session) => session.owner === owner);
  return { sessions, otherOwners: all.length - sessions.length };
}

function newFold(id: string, service: string): Fold {
  return { session: { id, service, namespace: service.split("/")[0] ?? "", owner: "", ...NO_CHANGES }, settled: false };
}

function evolve(fold: Fold, event: StoredEvent & { known: true }): void {
  const { session } = fold;
  switch (event.type) {
    case "expose.requested":
      session.owner = event.data.owner;
      if (event.data.cluster) session.cluster = event.data.cluster;
      return;
    case "expose.intent":
      Object.assign(session, foldIntent(session, event.data, session.namespace));
      return;
    case "expose.stopped":
      fold.settled = true;
      return;
    case "expose.failed":
      fold.settled = (event.data.leftovers ?? []).length === 0;
      return;
    default:
      return;
  }
}

/** Hosts files of daemon runs that never recorded a stop (the process died with its block written). */
export function unfinishedDaemonRuns(events: readonly StoredEvent[]): { pid: number; hostsFiles: string[] }[] {
  const runs: { pid: number; hostsFiles: Set<string>; stopped: boolean }[] = [];
  for (const event of events) {
    if (!event.known || event.stream !== DAEMON_STREAM) continue;
    const current = runs[runs.length - 1];
    if (event.type === "daemon.started") runs.push({ pid: event.data.pid, hostsFiles: new Set(event.data.hostsFile ? [event.data.hostsFile] : []), stopped: false });
    else if (event.type === "hosts.written" && current) current.hostsFiles.add(event.data.path);
    else if (event.type === "daemon.stopped") {
      // The latest run of that pid: recovery records the stop of a dead run after later runs began.
      const run = [...runs].reverse().find((r) => r.pid === event.data.pid && !r.stopped);
      if (run) run.stopped = true;
    }
  }
  return runs.filter((run) => !run.stopped).map((run) => ({ pid: run.pid, hostsFiles: [...run.hostsFiles] }));
}
