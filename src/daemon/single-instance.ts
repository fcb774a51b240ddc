import { createHash, randomBytes } from "node:crypto";
import { readFileSync, unlinkSync } from "node:fs";
import { link, lstat, readFile, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LocError } from "../errors.js";
import { errorCode } from "../hosts/lock.js";
import { ensureStateDir } from "../store/state-dir.js";
import { LOCK_FILE, SOCKET_FILE } from "./api.js";

export interface DaemonLock {
  readonly path: string;
  /** Removes the lock if it still holds this process's pid. Never throws: it runs during shutdown. */
  release(): void;
}

const RETRY_MS = 20;
/** Taking over a stale lock takes milliseconds; contention past this means something is wrong. */
const TAKEOVER_TIMEOUT_MS = 5_000;
/** A takeover guard this old was left by a process that crashed mid-takeover. */
const ABANDONED_GUARD_MS = 5_000;

/**
 * One daemon per state dir. `daemon.lock` holds the owner's pid; a lock whose pid is dead is stale
 * and taken over. Node has no flock, so every step is an atomic create (link/O_EXCL) that at most
 * one racing starter can win.
 */
export async function acquireDaemonLock(stateDir: string): Promise<DaemonLock> {
  const lockPath = join(stateDir, LOCK_FILE);
  try {
    ensureStateDir(stateDir);
    const deadline = Date.now() + TAKEOVER_TIMEOUT_MS;
    while (!(await tryCreateLock(lockPath))) {
      const content = await readLock(lockPath);
      if (content === undefined) continue; // released meanwhile: race for it again
      const pid = parsePid(content);
      if (pid !== undefined && isAlive(pid)) {
        throw new LocError(`a loc daemon is already running (pid ${pid})`, `stop it with kill ${pid}, or use it: loc list`, "DAEMON_RUNNING");
      }
      if (Date.now() > deadline) {
        throw new LocError(`could not take over the stale lock ${lockPath}`, "another loc daemon is starting; try again, or delete the file if none is", "DAEMON_LOCK_STUCK");
      }
      await removeStaleLock(lockPath, content);
    }
    // We hold the lock, so a socket still there belongs to a dead daemon.
    await removeStaleSocket(join(stateDir, SOCKET_FILE));
  } catch (error) {
    if (error instanceof LocError || !["EACCES", "EPERM"].includes(errorCode(error))) throw error;
    throw new LocError(`no permission to create the daemon lock in ${stateDir}`, "run as the user who owns the state dir, or pass --state-dir", "STATE_DIR_PERMISSION");
  }
  return { path: lockPath, release: () => releaseLock(lockPath) };
}

/** Writes the pid to a private temp file and links it in, so the lock never exists half-written. */
async function tryCreateLock(lockPath: string): Promise<boolean> {
  const temp = `${lockPath}.${process.pid}.${randomBytes(4).toString("hex")}`;
  await writeFile(temp, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
  try {
    await link(temp, lockPath);
    return true;
  } catch (error) {
    if (errorCode(error) === "EEXIST") return false;
    throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/**
 * Removing by path is not conditional on what the path holds, so a plain unlink could delete a
 * lock another starter just created. Instead, only the one process that creates the guard keyed
 * by the stale content may remove a lock with that content; the re-read under the guard is then
 * still true when the unlink runs.
 */
async function removeStaleLock(lockPath: string, staleContent: string): Promise<void> {
  const key = createHash("sha256").update(staleContent).digest("hex").slice(0, 16);
  const guard = `${lockPath}.takeover-${key}`;
  try {
    await writeFile(guard, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
  } catch (error) {
    if (errorCode(error) !== "EEXIST") throw error;
    await removeAbandonedGuard(guard);
    await sleep(RETRY_MS);
    return;
  }
  try {
    if ((await readLock(lockPath)) === staleContent) await unlink(lockPath).catch(ignoreMissing);
  } finally {
    await unlink(guard).catch(ignoreMissing);
  }
}

async function removeAbandonedGuard(guard: string): Promise<void> {
  const info = await stat(guard).catch(() => undefined);
  if (info && Date.now() - info.mtimeMs > ABANDONED_GUARD_MS) await unlink(guard).catch(ignoreMissing);
}

async function removeStaleSocket(socketPath: string): Promise<void> {
  const info = await lstat(socketPath).catch(() => undefined);
  if (info?.isSocket()) await unlink(socketPath).catch(ignoreMissing);
}

function releaseLock(lockPath: string): void {
  try {
    if (parsePid(readFileSync(lockPath, "utf8")) === process.pid) unlinkSync(lockPath);
  } catch {
    // Already gone or unreadable: the next start treats a leftover as stale.
  }
}

async function readLock(lockPath: string): Promise<string | undefined> {
  try {
    return await readFile(lockPath, "utf8");
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined;
    throw error;
  }
}

function parsePid(content: string): number | undefined {
  const pid = Number(content.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === "EPERM"; // exists, owned by another user (a daemon run with sudo)
  }
}

function ignoreMissing(error: unknown): void {
  if (errorCode(error) !== "ENOENT") throw error;
}
