import { createHash, randomBytes } from "node:crypto";
import { readFileSync, unlinkSync } from "node:fs";
import { link, readFile, stat, unlink, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { errorCode } from "../errors.js";

/**
 * Lock files holding their owner's pid, for loc processes that must not overlap (one daemon per
 * state dir, one writer of a hosts file at a time). Node has no flock, so every step is an atomic
 * create that at most one racing process can win, and a lock whose pid is dead is taken over.
 */

const RETRY_MS = 20;
/** A takeover guard this old was left by a process that crashed mid-takeover. */
const ABANDONED_GUARD_MS = 5_000;

/**
 * Creates `path` holding this pid, or returns false if it exists. The pid is written to a private
 * temp file and linked in, so the lock never exists half-written.
 */
export async function tryCreatePidFile(path: string, mode = 0o600): Promise<boolean> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
  await writeFile(temp, `${process.pid}\n`, { flag: "wx", mode });
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    if (errorCode(error) === "EEXIST") return false;
    throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/** The lock's content, or undefined when there is no lock. */
export async function readPidFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined;
    throw error;
  }
}

export function parsePid(content: string | undefined): number | undefined {
  const pid = Number(content?.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === "EPERM"; // exists, owned by another user (e.g. a daemon run with sudo)
  }
}

/**
 * Removes a stale lock, but only if it still holds `staleContent`. Removing by path is not
 * conditional on what the path holds, so a plain unlink could delete a lock another process just
 * created; instead, only the one process that creates the guard keyed by the stale content may
 * remove a lock with that content, and its re-read under the guard still holds when it unlinks.
 */
export async function removeStalePidFile(path: string, staleContent: string): Promise<void> {
  const key = createHash("sha256").update(staleContent).digest("hex").slice(0, 16);
  const guard = `${path}.takeover-${key}`;
  try {
    await writeFile(guard, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
  } catch (error) {
    if (errorCode(error) !== "EEXIST") throw error;
    await removeAbandonedGuard(guard);
    await sleep(RETRY_MS);
    return;
  }
  try {
    if ((await readPidFile(path)) === staleContent) await unlink(path).catch(ignoreMissing);
  } finally {
    await unlink(guard).catch(ignoreMissing);
  }
}

/** Removes the lock if it still holds this process's pid. Never throws: it runs during shutdown. */
export function releasePidFile(path: string): void {
  try {
    if (parsePid(readFileSync(path, "utf8")) === process.pid) unlinkSync(path);
  } catch {
    // Already gone or unreadable: the next owner treats a leftover as stale.
  }
}

async function removeAbandonedGuard(guard: string): Promise<void> {
  const info = await stat(guard).catch(() => undefined);
  if (info && Date.now() - info.mtimeMs > ABANDONED_GUARD_MS) await unlink(guard).catch(ignoreMissing);
}

export function ignoreMissing(error: unknown): void {
  if (errorCode(error) !== "ENOENT") throw error;
}
