import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { errorCode, LocError } from "../errors.js";
import { parsePid, processIsAlive, readPidFile, releasePidFile, removeStalePidFile, tryCreatePidFile } from "../locks/pid-file.js";

export interface LockOptions {
  /** How long to wait for another loc process's lock before giving up. */
  timeoutMs?: number;
  retryMs?: number;
}

/** A lock file without a readable pid (not written by this loc) older than this is abandoned. */
const UNREADABLE_STALE_MS = 10_000;

/**
 * loc processes serialize their read-modify-write of a hosts file with a `<file>.loc.lock` pid file
 * (src/locks/pid-file.ts): a lock whose pid is dead is stale and taken over. Only loc honours it:
 * other programs' edits are caught by re-reading instead. If the hosts file's directory is read-only (a bind-mounted /etc/hosts), the lock lives in the temp
 * dir under a name derived from the path, which every loc process derives the same way.
 */
export async function withFileLock<T>(target: string, action: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const lockPath = await acquire(target, options);
  try {
    return await action();
  } finally {
    releasePidFile(lockPath);
  }
}

export function lockPathsFor(target: string): [string, string] {
  const digest = createHash("sha256").update(target).digest("hex").slice(0, 16);
  return [`${target}.loc.lock`, join(tmpdir(), `loc-hosts-${digest}.lock`)];
}

// ENOENT/ENOTDIR: a directory where files cannot be created at all (e.g. /proc).
const DIR_NOT_WRITABLE = new Set(["EACCES", "EPERM", "EROFS", "ENOENT", "ENOTDIR"]);

async function acquire(target: string, options: LockOptions): Promise<string> {
  const { timeoutMs = 5000, retryMs = 20 } = options;
  const [besideTarget, inTmp] = lockPathsFor(target);
  let lockPath = besideTarget;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await tryCreatePidFile(lockPath, 0o644)) return lockPath;
    } catch (error) {
      if (DIR_NOT_WRITABLE.has(errorCode(error)) && lockPath === besideTarget) {
        lockPath = inTmp;
        continue;
      }
      throw error;
    }
    const content = await readPidFile(lockPath);
    if (content === undefined) continue; // released meanwhile: race for it again
    const holder = parsePid(content);
    if (await isStale(lockPath, holder)) {
      await removeStalePidFile(lockPath, content);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new LocError(
        `the hosts file ${target} is locked by loc process ${holder ?? "(unknown)"}`,
        `wait for it to finish, or delete ${lockPath} if no loc process is running`,
        "HOSTS_FILE_LOCKED",
      );
    }
    await sleep(retryMs);
  }
}

async function isStale(lockPath: string, holder: number | undefined): Promise<boolean> {
  if (holder !== undefined) return !processIsAlive(holder);
  const info = await stat(lockPath).catch(() => undefined);
  return info === undefined || Date.now() - info.mtimeMs > UNREADABLE_STALE_MS;
}
