import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errorCode, LocError } from "../errors.js";
import { acquirePidLock } from "../locks/acquire.js";
import { releasePidFile } from "../locks/pid-file.js";

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
  const policy = (lockPath: string) => ({
    timeoutMs,
    retryMs,
    mode: 0o644,
    unreadableStaleMs: UNREADABLE_STALE_MS,
    timedOut: (holder: number | undefined) =>
      new LocError(
        `the hosts file ${target} is locked by loc process ${holder ?? "(unknown)"}`,
        `wait for it to finish, or delete ${lockPath} if no loc process is running`,
        "HOSTS_FILE_LOCKED",
      ),
  });
  try {
    await acquirePidLock(besideTarget, policy(besideTarget));
    return besideTarget;
  } catch (error) {
    if (!DIR_NOT_WRITABLE.has(errorCode(error))) throw error;
  }
  await acquirePidLock(inTmp, policy(inTmp));
  return inTmp;
}
