import { errorMessage } from "../errors.js";
import type { ExposeCluster } from "../kube/expose-cluster.js";
import { ANY_VERSION, type EventStore } from "../store/event-store.js";
import { fileHostsCleaner, inputFromStore } from "./inputs.js";
import { nothingToRecover, recover, summarizeRecovery, type RecoveryReport } from "./recover.js";

/**
 * `loc daemon` runs the same recovery as `loc recover` before it serves: sessions a previous run
 * left unfinished are undone, and a dead run's hosts block is removed. A failure is said, not fatal:
 * the daemon still starts, and `loc recover` can be run again later.
 */
export async function recoverBeforeServing(options: { store: EventStore; owner: string; cluster: ExposeCluster; clusterUrl?: string; log: (line: string) => void }): Promise<RecoveryReport | undefined> {
  const { store, log } = options;
  try {
    const input = inputFromStore(store, options.owner);
    if (nothingToRecover(input)) return undefined;
    const report = await recover(
      { ...input, staleFiles: [] },
      { cluster: () => options.cluster, clusterUrl: options.clusterUrl, hosts: fileHostsCleaner, record: (stream, event, expected = ANY_VERSION) => store.append(stream, [event], expected), dryRun: false, by: "loc daemon on start" },
    );
    for (const action of report.actions.filter((a) => a.status !== "done")) log(`loc daemon: recovery ${action.status}: ${action.detail ?? `${action.action} ${action.target}`}`);
    log(`loc daemon: recovered ${report.sessions} unfinished session(s) of an earlier run; ${summarizeRecovery(report)}`);
    return report;
  } catch (error) {
    log(`loc daemon: recovery of an earlier run failed: ${errorMessage(error)} (run loc recover to retry)`);
    return undefined;
  }
}
