import { createHash } from "node:crypto";
import { open, readFile, stat, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LocError } from "../errors.js";

export interface LockOptions {
  /** How long to wait for another loc process's lock before giving up. */
  timeoutMs?: number;
  retryMs?: number;
  /** A lock file without a readable pid older than this was left by a crash mid-create. */
  unreadableStaleMs?: number;
  isAlive?: (pid: number) => boolean;
}

/**
 * Node has no flock, so loc processes serialize their read-modify-write of a hosts file with a
 * `<file>.loc.lock` created with O_EXCL and holding the owner's pid. A lock whose pid is dead is
 * stale and taken over. Only loc honours it: other programs' edits are caught by re-reading instead.
 * If the hosts file's directory is read-only (a bind-mounted /etc/hosts), the lock lives in the temp
 * dir under a name derived from the path, which every loc process derives the same way.
 */
export async function withFileLock<T>(target: string, action: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const lockPath = await acquire(target, options);
  try {
    return await action();
  } finally {
    await release(lockPath);
  }
}

export function lockPathsFor(target: string): [string, string] {
  const digest = createHash("sha256").update(target).digest("hex").slice(0, 16);
  return [`${target}.loc.lock`, join(tmpdir(), `loc-hosts-${digest}.lock`)];
}

const DIR_NOT_WRITABLE = new Set(["EACCES", "EPERM", "EROFS"]);

async function acquire(target: string, options: LockOptions): Promise<string> {
  const { timeoutMs = 5000, retryMs = 20, unreadableStaleMs = 10_000, isAlive = processIsAlive } = options;
  const [besideTarget, inTmp] = lockPathsFor(target);
  let lockPath = besideTarget;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(lockPath, "wx", 0o644);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return lockPath;
    } catch (error) {
      const code = errorCode(error);
      if (DIR_NOT_WRITABLE.has(code) && lockPath === besideTarget) {
        lockPath = inTmp;
        continue;
      }
      if (code !== "EEXIST") throw error;
    }
    const holder = await readHolder(lockPath);
    if (await isStale(lockPath, holder, unreadableStaleMs, isAlive)) {
      // Re-read just before removing so a lock another process took over meanwhile survives.
      if ((await readHolder(lockPath)) === holder) await unlink(lockPath).catch(ignoreMissing);
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

async function release(lockPath: string): Promise<void> {
  if ((await readHolder(lockPath)) === process.pid) await unlink(lockPath).catch(ignoreMissing);
}

async function readHolder(lockPath: string): Promise<number | undefined> {
  const text = await readFile(lockPath, "utf8").catch(() => "");
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function isStale(
  lockPath: string,
  holder: number | undefined,
  unreadableStaleMs: number,
  isAlive: (pid: number) => boolean,
): Promise<boolean> {
  if (holder !== undefined) return !isAlive(holder);
  const info = await stat(lockPath).catch(() => undefined);
  return info === undefined || Date.now() - info.mtimeMs > unreadableStaleMs;
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === "EPERM"; // exists, owned by someone else
  }
}

export function errorCode(error: unknown): string {
  return typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
}

function ignoreMissing(error: unknown): void {
  if (errorCode(error) !== "ENOENT") throw error;
}
