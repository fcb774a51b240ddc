import { stat } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { LocError } from "../errors.js";
import { parsePid, processIsAlive, readPidFile, removeStalePidFile, tryCreatePidFile } from "./pid-file.js";

export interface PidLockPolicy {
  /** Gives up after this long: the holder never let go, or taking over a stale lock kept losing races. */
  timeoutMs: number;
  /** The error past the deadline; `holder` is the pid in the lock, if it could be read. */
  timedOut(holder: number | undefined): LocError;
  /** A live holder: throw to refuse at once (one daemon per state dir); return to wait for it. */
  onLiveHolder?(holder: number | undefined): void;
  /** A lock without a readable pid (not written by this loc) is stale once this old; default at once. */
  unreadableStaleMs?: number;
  retryMs?: number;
  mode?: number;
}

const RETRY_MS = 20;

/**
 * Takes the pid-file lock at `path` (src/locks/pid-file.ts): creates it if nobody holds it, takes
 * over one whose holder is dead, and waits for or refuses a live holder as `policy` says.
 */
export async function acquirePidLock(path: string, policy: PidLockPolicy): Promise<void> {
  const deadline = Date.now() + policy.timeoutMs;
  for (;;) {
    if (await tryCreatePidFile(path, policy.mode)) return;
    const content = await readPidFile(path);
    if (content === undefined) continue; // released meanwhile: race for it again
    const holder = parsePid(content);
    const stale = await isStale(path, holder, policy.unreadableStaleMs ?? 0);
    if (!stale) policy.onLiveHolder?.(holder);
    if (Date.now() >= deadline) throw policy.timedOut(holder);
    if (stale) await removeStalePidFile(path, content);
    else await sleep(policy.retryMs ?? RETRY_MS);
  }
}

async function isStale(path: string, holder: number | undefined, unreadableStaleMs: number): Promise<boolean> {
  if (holder !== undefined) return !processIsAlive(holder);
  if (unreadableStaleMs <= 0) return true;
  const info = await stat(path).catch(() => undefined);
  return info === undefined || Date.now() - info.mtimeMs > unreadableStaleMs;
}
