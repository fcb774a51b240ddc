/**
 * `loc recover` (and the daemon's start): read → plan → apply. The plan comes from the event log
 * (or the cluster's labels) plus reads of the cluster; applying it uses the same conditional undo
 * steps as a stopped session, recording an intent before every change. A session whose actions all
 * succeeded gets its terminal `expose.stopped`, so a second run finds nothing to do.
 */
import { errorMessage } from "../errors.js";
import type { MutationScope } from "../expose/mutation.js";
import { applyUndo, describeUndo, undoTarget, type UndoAction } from "../expose/undo.js";
import { planStep, stepTarget, undoSteps } from "../expose/undo-steps.js";
import type { ExposeCluster } from "../kube/expose-cluster.js";
import { ConcurrencyError } from "../store/event-store.js";
import type { NewEvent } from "../store/events.js";
import { DAEMON_STREAM, exposeStream, RECOVERY_STREAM } from "../store/streams.js";
import type { RecoverableSession } from "./sessions.js";

export type ActionStatus = "planned" | "done" | "left" | "failed";

/** One line of the report; also what `--json` prints. */
export interface RecoveryAction {
  session?: string;
  service?: string;
  action: string;
  target: string;
  status: ActionStatus;
  detail?: string;
}

export interface HostsCleaner {
  /** Whether the file holds any loc block (false when the file is missing). */
  hasBlock(path: string): Promise<boolean>;
  /** Removes loc's block (everything else stays byte for byte); whether there was one. */
  removeBlock(path: string): Promise<boolean>;
}

export interface RecoveryInput {
  source: "store" | "cluster";
  owner: string;
  sessions: RecoverableSession[];
  /** Hosts files of daemon runs that died with their block written. */
  hostsFiles: string[];
  /** Pids of daemon runs that never recorded their stop; recorded as stopped once their hosts block is gone. */
  deadDaemons: number[];
  /** Stale daemon files (lock, socket) found and removed before recovery took the lock. */
  staleFiles: string[];
}

export interface RecoveryDeps {
  /** Only asked for when there is a session to recover, so a plain hosts cleanup needs no cluster. */
  cluster: () => ExposeCluster;
  /** The API server the current context points at. */
  clusterUrl?: string;
  hosts: HostsCleaner;
  /**
   * Appends one event; throws when it cannot (then the change it announces is not made), e.g. a
   * ConcurrencyError when `expectedVersion` is given and the stream has moved past it.
   */
  record: (stream: string, event: NewEvent, expectedVersion?: number) => void;
  dryRun: boolean;
  /** Who recovers, for the sessions' terminal events (default "loc recover"). */
  by?: string;
  /** Sessions recovered at once (each one's own steps stay in order). */
  concurrency?: number;
  now?: () => number;
}

export interface RecoveryReport {
  source: "store" | "cluster";
  owner: string;
  dryRun: boolean;
  sessions: number;
  actions: RecoveryAction[];
  done: number;
  left: number;
  failed: number;
  durationMs: number;
}

/** Nothing unfinished, no dead daemon's files: callers skip the lock and the log entirely. */
export function nothingToRecover(input: Omit<RecoveryInput, "staleFiles"> & { staleFiles?: string[] }): boolean {
  return input.sessions.length === 0 && input.hostsFiles.length === 0 && input.deadDaemons.length === 0 && (input.staleFiles ?? []).length === 0;
}

export async function recover(input: RecoveryInput, deps: RecoveryDeps): Promise<RecoveryReport> {
  const now = deps.now ?? Date.now;
  const startedAt = now();
  const actions: RecoveryAction[] = [];
  // Recorded only once there is something to recover: a run that finds nothing leaves the log as it was.
  let started = false;
  const start = () => {
    if (started || deps.dryRun) return;
    started = true;
    deps.record(RECOVERY_STREAM, { type: "recovery.started", data: { source: input.source, owner: input.owner, sessions: input.sessions.length } });
  };
  const report = (action: RecoveryAction) => {
    actions.push(action);
    if (deps.dryRun) return;
    start();
    deps.record(RECOVERY_STREAM, { type: "recovery.action", data: action });
  };
  if (input.sessions.length > 0 || input.deadDaemons.length > 0) start();

  for (const file of input.staleFiles) report({ action: "removeStale", target: file, status: deps.dryRun ? "planned" : "done" });
  const recovering = new Set(input.sessions.map((session) => session.id));
  await inPool(input.sessions, deps.concurrency ?? 8, (session) => recoverSession(session, deps, report, recovering));
  const hostsOk = await cleanHosts(input.hostsFiles, deps, report);
  if (hostsOk && !deps.dryRun) {
    for (const pid of input.deadDaemons) deps.record(DAEMON_STREAM, { type: "daemon.stopped", data: { pid, reason: "recovered: the daemon died without stopping" } });
  }

  const count = (status: ActionStatus) => actions.filter((a) => a.status === status).length;
  const result: RecoveryReport = {
    source: input.source,
    owner: input.owner,
    dryRun: deps.dryRun,
    sessions: input.sessions.length,
    actions,
    done: count("done"),
    left: count("left"),
    failed: count("failed"),
    durationMs: Math.round(now() - startedAt),
  };
  if (started) {
    const { sessions, done, left, failed, durationMs } = result;
    deps.record(RECOVERY_STREAM, { type: "recovery.completed", data: { sessions, done, left, failed, durationMs } });
  }
  return result;
}

/** `3 done, 0 left as they are, 0 failed (120 ms)`, or the dry run's count. */
export function summarizeRecovery(report: RecoveryReport): string {
  if (report.dryRun) return `${report.actions.length} planned, nothing changed (dry run)`;
  return `${report.done} done, ${report.left} left as they are, ${report.failed} failed (${report.durationMs} ms)`;
}

async function recoverSession(session: RecoverableSession, deps: RecoveryDeps, report: (action: RecoveryAction) => void, recovering: ReadonlySet<string>): Promise<void> {
  const about = { session: session.id, service: session.service };
  if (session.cluster && deps.clusterUrl && session.cluster !== deps.clusterUrl) {
    report({ ...about, action: "recover", target: `session ${session.id}`, status: "failed", detail: `it ran on ${session.cluster}, the current context is ${deps.clusterUrl}: rerun with --context or --kubeconfig for that cluster` });
    return;
  }
  // Appends expect the version the log was read at: another writer since then ends this session's recovery.
  let version = session.version;
  const scope: MutationScope = {
    cluster: deps.cluster(),
    sessionId: session.id,
    owner: session.owner,
    namespace: session.namespace,
    service: session.service,
    record: (event) => {
      deps.record(exposeStream(session.id), event, version);
      if (version !== undefined) version += 1;
    },
  };
  let failed = false;
  for (const step of undoSteps(session)) {
    const target = stepTarget(step);
    let planned: UndoAction[];
    try {
      planned = await planStep(scope, step);
    } catch (error) {
      failed = true;
      report({ ...about, action: "read", target, status: "failed", detail: errorMessage(error) });
      continue;
    }
    // A later session of this owner claimed the workload after this one let go (its release was
    // done, only its record was lost): that session restores it in this same run, nothing is left.
    for (const action of planned.filter((a) => !(a.kind === "leave" && a.claimedBy !== undefined && recovering.has(a.claimedBy)))) {
      const line = { ...about, action: action.kind, target: undoTarget(action), detail: describeUndo(action) };
      if (deps.dryRun) {
        report({ ...line, status: "planned" });
        continue;
      }
      try {
        await applyUndo(scope, action);
        report({ ...line, status: action.kind === "leave" ? "left" : "done" });
      } catch (error) {
        failed = true;
        report({ ...line, status: "failed", detail: `${line.detail}: ${errorMessage(error)}` });
        // Someone else writes this session's log: its later steps are theirs, not this run's.
        if (error instanceof ConcurrencyError) return;
      }
    }
  }
  if (failed || deps.dryRun) return;
  try {
    scope.record({ type: "expose.stopped", data: { service: session.service, reason: `recovered by ${deps.by ?? "loc recover"}` } });
  } catch (error) {
    report({ ...about, action: "record", target: `session ${session.id}`, status: "failed", detail: errorMessage(error) });
  }
}

async function cleanHosts(paths: readonly string[], deps: RecoveryDeps, report: (action: RecoveryAction) => void): Promise<boolean> {
  let ok = true;
  for (const path of new Set(paths)) {
    try {
      // Applying reads the file once, under the hosts lock; only a dry run looks without writing.
      const found = deps.dryRun ? await deps.hosts.hasBlock(path) : await deps.hosts.removeBlock(path);
      if (!found) continue;
      report({ action: "cleanHosts", target: path, status: deps.dryRun ? "planned" : "done", detail: `remove loc's block from ${path}` });
    } catch (error) {
      ok = false;
      report({ action: "cleanHosts", target: path, status: "failed", detail: errorMessage(error) });
    }
  }
  return ok;
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function inPool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
