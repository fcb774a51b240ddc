/**
 * What the event log says a crashed session may have left in the cluster. A pure fold over the
 * `expose:<id>` streams: every intent counts, whether or not its outcome was recorded (a crash
 * between the call and its outcome is exactly the case recovery exists for).
 */
import { isSelector, serviceTarget, type RecordedService } from "../expose/selector.js";
import type { RecordedWorkload } from "../expose/undo.js";
import type { WorkloadKind } from "../kube/expose-cluster.js";
import { serviceOf, type StoredEvent } from "../store/events.js";

export interface RecoverableSession {
  id: string;
  /** `ns/svc`. */
  service: string;
  namespace: string;
  owner: string;
  /** The API server the session ran against, when recorded. */
  cluster?: string;
  workloads: RecordedWorkload[];
  /** Services the selector strategy may have retargeted, with their selector before. */
  services: RecordedService[];
  /** Names of proxy pods and their Secrets (one name each) the session may have created. */
  proxies: string[];
}

interface Fold {
  session: RecoverableSession;
  /** Ended cleanly: stopped, or failed with nothing left behind. */
  settled: boolean;
}

export const EXPOSE_STREAM_PREFIX = "expose:";

/** Sessions of `owner` that did not end cleanly, in the order they started; plus how many of other owners were skipped. */
export function unfinishedSessions(events: readonly StoredEvent[], owner: string): { sessions: RecoverableSession[]; otherOwners: number } {
  const folds = new Map<string, Fold>();
  for (const event of events) {
    if (!event.known || !event.stream.startsWith(EXPOSE_STREAM_PREFIX)) continue;
    const id = event.stream.slice(EXPOSE_STREAM_PREFIX.length);
    const fold = folds.get(id) ?? newFold(id, serviceOf(event) ?? "");
    folds.set(id, fold);
    evolve(fold, event);
  }
  const all = [...folds.values()].filter((fold) => !fold.settled).map((fold) => fold.session);
  const sessions = all.filter((session) => session.owner === owner);
  return { sessions, otherOwners: all.length - sessions.length };
}

function newFold(id: string, service: string): Fold {
  return { session: { id, service, namespace: service.split("/")[0] ?? "", owner: "", workloads: [], services: [], proxies: [] }, settled: false };
}

function evolve(fold: Fold, event: StoredEvent & { known: true }): void {
  const { session } = fold;
  switch (event.type) {
    case "expose.requested":
      session.owner = event.data.owner;
      if (event.data.cluster) session.cluster = event.data.cluster;
      return;
    case "expose.intent": {
      const { action, target, original } = event.data;
      if (action === "annotate" || action === "scale") {
        const ref = workloadRef(target, session.namespace);
        const uid = typeof original?.uid === "string" ? original.uid : undefined;
        if (!ref || !uid) return;
        const workload = session.workloads.find((w) => w.ref.kind === ref.kind && w.ref.name === ref.name && w.uid === uid) ?? addWorkload(session, { ref, uid });
        if (action === "scale" && typeof original?.replicas === "number") workload.scaledFrom ??= original.replicas;
      } else if (action === "retarget") {
        addService(session, target, original);
      } else if (action === "createConfig" || action === "createPod") {
        const name = target.slice(target.indexOf("/") + 1);
        if (!session.proxies.includes(name)) session.proxies.push(name);
      }
      return;
    }
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

function addWorkload(session: RecoverableSession, workload: RecordedWorkload): RecordedWorkload {
  session.workloads.push(workload);
  return workload;
}

function addService(session: RecoverableSession, target: string, original: Record<string, unknown> | undefined): void {
  const prefix = serviceTarget("");
  const name = target.startsWith(prefix) ? target.slice(prefix.length) : "";
  const uid = typeof original?.uid === "string" ? original.uid : "";
  const selector = original?.selector;
  if (!name || !uid || session.services.some((s) => s.name === name && s.uid === uid)) return;
  session.services.push({ name, uid, ...(isSelector(selector) ? { selector: { ...selector } } : {}) });
}

function workloadRef(target: string, namespace: string): RecordedWorkload["ref"] | undefined {
  const [kind, name] = target.split("/");
  if ((kind !== "Deployment" && kind !== "StatefulSet") || !name) return undefined;
  return { kind: kind satisfies WorkloadKind, namespace, name };
}

/** Hosts files of daemon runs that never recorded a stop (the process died with its block written). */
export function unfinishedDaemonRuns(events: readonly StoredEvent[]): { pid: number; hostsFiles: string[] }[] {
  const runs: { pid: number; hostsFiles: Set<string>; stopped: boolean }[] = [];
  for (const event of events) {
    if (!event.known || event.stream !== "daemon") continue;
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
