/** Exponential backoff with full jitter (AWS architecture blog): spreads reconnect storms. */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
  /** After running this long without failing, the next failure starts from `baseMs` again. */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 30_000, resetAfterMs: 60_000 };

/** Delay before retry number `attempt` (0-based): uniform in [0, min(cap, base·2^attempt)]. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}
