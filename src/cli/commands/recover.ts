import { existsSync } from "node:fs";
import { inspectDaemonFiles, acquireDaemonLock } from "../../daemon/single-instance.js";
import { LocError } from "../../errors.js";
import { ownerId } from "../../expose/identity.js";
import { KubeExposeCluster } from "../../kube/kube-expose-cluster.js";
import { loadKubeConfig } from "../../kube/kubeconfig.js";
import { requestTimeoutMs } from "../../kube/request-timeout.js";
import { checkNamespaceName } from "../../kube/service-ref.js";
import { fileHostsCleaner, inputFromCluster, inputFromStore } from "../../recover/inputs.js";
import { nothingToRecover, recover, type RecoveryReport } from "../../recover/recover.js";
import { ANY_VERSION } from "../../store/event-store.js";
import { openStateStore } from "../../store/open-store.js";
import { databasePath, resolveStateDir } from "../../store/state-dir.js";
import { formatRecoveryReport } from "../format-recover.js";
import type { CliIO } from "../io.js";

export interface RecoverFlags {
  stateDir?: string;
  fromCluster?: boolean;
  namespace?: string;
  hostsFile?: string;
  dryRun?: boolean;
  json?: boolean;
  kubeconfig?: string;
  context?: string;
  requestTimeout?: string | number;
}

/**
 * `loc recover`: undo what unfinished sessions of this owner left (read the log or the cluster →
 * plan with reads → apply under the daemon lock). Exit 1 when any action failed.
 */
export async function recoverCommand(flags: RecoverFlags, io: CliIO): Promise<number> {
  const stateDir = resolveStateDir(flags.stateDir, io.env);
  const owner = ownerId(io.env);
  const dryRun = Boolean(flags.dryRun);
  const namespace = flags.namespace === undefined ? undefined : String(flags.namespace);
  if (namespace !== undefined && !flags.fromCluster) throw new LocError("--namespace only narrows --from-cluster", "the event log knows each session's namespace: drop --namespace", "USAGE");
  if (namespace !== undefined) checkNamespaceName(namespace);
  const timeoutMs = requestTimeoutMs(flags.requestTimeout, io.env);

  const print = (report: RecoveryReport) => io.stdout(flags.json ? `${JSON.stringify(report)}\n` : `${formatRecoveryReport(report).join("\n")}\n`);
  const daemon = await inspectDaemonFiles(stateDir);
  if (daemon.running !== undefined) {
    throw new LocError(
      `a loc daemon is running (pid ${daemon.running}) and its sessions are live`,
      "stop them with loc expose --stop, or stop the daemon (it undoes them); loc daemon also recovers when it starts",
      "DAEMON_RUNNING",
    );
  }
  // Read: the log (read-only, so a corrupt or locked database is refused before anything changes).
  const hasLog = existsSync(databasePath(stateDir));
  const reader = hasLog ? openStateStore(flags.stateDir, "read", io.env) : undefined;
  let fromStore;
  try {
    fromStore = inputFromStore(reader, owner, flags.hostsFile === undefined ? [] : [String(flags.hostsFile)]);
  } finally {
    reader?.close();
  }
  const needsCluster = Boolean(flags.fromCluster) || fromStore.sessions.length > 0;
  const kubeConfig = needsCluster ? loadKubeConfig(flags.kubeconfig, flags.context, io.env) : undefined;
  const cluster = kubeConfig && new KubeExposeCluster(kubeConfig, { timeoutMs });
  const input = flags.fromCluster && cluster ? await inputFromCluster(cluster, owner, namespace, fromStore) : fromStore;
  if (!hasLog && !flags.fromCluster && !flags.json) {
    io.stderr(`loc recover: no event log at ${databasePath(stateDir)}; if it was deleted, loc recover --from-cluster finds this owner's leftovers by their labels\n`);
  }

  if (nothingToRecover({ ...input, staleFiles: daemon.stale })) {
    // Nothing to do: no lock taken, no log created or appended to.
    print({ source: input.source, owner, dryRun, sessions: 0, actions: [], done: 0, left: 0, failed: 0, durationMs: 0 });
    return 0;
  }

  // Apply: under the daemon lock, so no daemon starts meanwhile (taking it removes a dead one's files).
  const lock = dryRun ? undefined : await acquireDaemonLock(stateDir);
  try {
    const store = dryRun ? undefined : openStateStore(flags.stateDir, "write", io.env);
    try {
      const report = await recover(
        { ...input, staleFiles: daemon.stale },
        {
          cluster: () => {
            if (!cluster) throw new Error("no cluster configured");
            return cluster;
          },
          clusterUrl: kubeConfig?.getCurrentCluster()?.server,
          hosts: fileHostsCleaner,
          record: (stream, event, expected = ANY_VERSION) => store?.append(stream, [event], expected),
          dryRun,
        },
      );
      print(report);
      if (report.failed > 0) {
        io.stderr(`loc: recovery incomplete: ${report.failed} action${report.failed === 1 ? "" : "s"} failed (hint: fix the cause above and run loc recover again; the steps are in loc history --stream recovery)\n`);
        return 1;
      }
      return 0;
    } finally {
      store?.close();
    }
  } finally {
    lock?.release();
  }
}
