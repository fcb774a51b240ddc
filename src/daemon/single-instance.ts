import { lstat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { errorCode, LocError } from "../errors.js";
import { acquirePidLock } from "../locks/acquire.js";
import { ignoreMissing, parsePid, processIsAlive, readPidFile, releasePidFile } from "../locks/pid-file.js";
import { ensureStateDir } from "../store/state-dir.js";
import { SOCKET_FILE } from "../ipc/socket-path.js";

export const LOCK_FILE = "daemon.lock";

export interface DaemonLock {
  readonly path: string;
  /** Removes the lock if it still holds this process's pid. Never throws: it runs during shutdown. */
  release(): void;
}

/** Taking over a stale lock takes milliseconds; contention past this means something is wrong. */
const TAKEOVER_TIMEOUT_MS = 5_000;

/**
 * One daemon per state dir: `daemon.lock` is a pid file (src/locks/pid-file.ts); a lock whose pid is
 * dead is stale and taken over, and at most one racing starter wins.
 */
export async function acquireDaemonLock(stateDir: string): Promise<DaemonLock> {
  const lockPath = join(stateDir, LOCK_FILE);
  try {
    ensureStateDir(stateDir);
    await acquirePidLock(lockPath, {
      timeoutMs: TAKEOVER_TIMEOUT_MS,
      onLiveHolder: (pid) => {
        throw new LocError(`a loc daemon is already running (pid ${pid})`, `stop it with kill ${pid}, or use it: loc list`, "DAEMON_RUNNING");
      },
      timedOut: () => new LocError(`could not take over the stale lock ${lockPath}`, "another loc daemon is starting; try again, or delete the file if none is", "DAEMON_LOCK_STUCK"),
    });
    // We hold the lock, so a socket still there belongs to a dead daemon.
    await removeStaleSocket(join(stateDir, SOCKET_FILE));
  } catch (error) {
    if (error instanceof LocError || !["EACCES", "EPERM"].includes(errorCode(error))) throw error;
    throw new LocError(`no permission to create the daemon lock in ${stateDir}`, "run as the user who owns the state dir, or pass --state-dir", "STATE_DIR_PERMISSION");
  }
  return { path: lockPath, release: () => releasePidFile(lockPath) };
}

async function removeStaleSocket(socketPath: string): Promise<void> {
  const info = await lstat(socketPath).catch(() => undefined);
  if (info?.isSocket()) await unlink(socketPath).catch(ignoreMissing);
}

/** Who holds the daemon lock, without taking it: a live daemon's pid, or the files a dead one left. */
export async function inspectDaemonFiles(stateDir: string): Promise<{ running?: number; stale: string[] }> {
  const lockPath = join(stateDir, LOCK_FILE);
  const socketPath = join(stateDir, SOCKET_FILE);
  const content = await readPidFile(lockPath);
  const pid = parsePid(content);
  if (pid !== undefined && processIsAlive(pid)) return { running: pid, stale: [] };
  const stale = content === undefined ? [] : [lockPath];
  if ((await lstat(socketPath).catch(() => undefined))?.isSocket()) stale.push(socketPath);
  return { stale };
}
