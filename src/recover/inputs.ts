import { readFile } from "node:fs/promises";
import { errorCode } from "../errors.js";
import { parseHostsFile } from "../hosts/block.js";
import { writeHostsEntries } from "../hosts/hosts-io.js";
import type { ExposeCluster } from "../kube/expose-cluster.js";
import type { EventStore } from "../store/event-store.js";
import { DAEMON_STREAM, exposeStream } from "../store/streams.js";
import { sessionsFromCluster } from "./from-cluster.js";
import type { HostsCleaner, RecoveryInput } from "./recover.js";
import { unfinishedDaemonRuns, unfinishedSessions } from "./sessions.js";

const SESSION_EVENTS = ["expose.requested", "expose.intent", "expose.stopped", "expose.failed"];
const DAEMON_EVENTS = ["daemon.started", "daemon.stopped", "hosts.written"];

/** What the event log says is unfinished: sessions of `owner`, and daemon runs that died with a hosts block. */
export function inputFromStore(store: EventStore | undefined, owner: string, extraHostsFiles: readonly string[] = []): Omit<RecoveryInput, "staleFiles"> {
  // Each stream's version is taken right after the read: the guard covers the time recovery spends
  // in the cluster, which is where a stopping daemon's appends would land.
  const sessions = store ? unfinishedSessions(store.read({ types: SESSION_EVENTS }), owner).sessions.map((s) => ({ ...s, version: store.streamVersion(exposeStream(s.id)) })) : [];
  const runs = store ? unfinishedDaemonRuns(store.read({ stream: DAEMON_STREAM, types: DAEMON_EVENTS })) : [];
  return {
    source: "store",
    owner,
    sessions,
    hostsFiles: [...new Set([...runs.flatMap((run) => run.hostsFiles), ...extraHostsFiles])],
    deadDaemons: runs.map((run) => run.pid),
  };
}

/** The cluster's own record of `owner`'s sessions (labels and annotations), for a lost event log. */
export async function inputFromCluster(cluster: ExposeCluster, owner: string, namespace: string | undefined, fromStore: Omit<RecoveryInput, "staleFiles">): Promise<Omit<RecoveryInput, "staleFiles">> {
  return { ...fromStore, source: "cluster", sessions: await sessionsFromCluster(cluster, owner, namespace) };
}

// latin1, as the hosts writer reads it: every byte survives.
export const fileHostsCleaner: HostsCleaner = {
  async hasBlock(path) {
    try {
      return parseHostsFile(await readFile(path, "latin1")).hadBlock;
    } catch (error) {
      if (errorCode(error) === "ENOENT") return false;
      throw error;
    }
  },
  async removeBlock(path) {
    try {
      return (await writeHostsEntries(path, [])) !== "unchanged";
    } catch (error) {
      // A hosts file that is gone has no block to remove (the writer reports it as HOSTS_FILE_MISSING).
      if (errorCode(error) === "HOSTS_FILE_MISSING") return false;
      throw error;
    }
  },
};
