// Polling with a deadline. Controllers converge asynchronously, so tests wait for a state instead
// of sleeping; on timeout the error says what was awaited and what was last seen.
import { setTimeout as sleep } from "node:timers/promises";

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/** Thrown by a probe to say "not yet" along with what it saw, for the timeout message. */
export class NotYet extends Error {}

/** Thrown by a probe when waiting longer cannot help (the process awaited has exited): rethrown at once. */
export class StopWaiting extends Error {}

/**
 * Calls `probe` until it returns something other than undefined and returns that. A probe that
 * throws counts as "not yet" (the API may be briefly unavailable); the last error is reported.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs = 60_000, intervalMs = 200 }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = "nothing yet";
  for (;;) {
    try {
      const result = await probe();
      if (result !== undefined) return result;
      last = "condition not met";
    } catch (error) {
      if (error instanceof StopWaiting) throw error;
      last = error;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : String(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
    }
    await sleep(intervalMs);
  }
}
