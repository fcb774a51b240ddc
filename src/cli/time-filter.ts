import { LocError } from "../errors.js";

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;
// An ISO 8601 date, optionally with a time and zone: what Date.parse reads reliably everywhere.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * Reads `--since` / `--until`: a duration ago (`90s`, `2h`, `1.5d`, combinable as `1h30m`) or an
 * ISO time. Returns milliseconds since the epoch.
 */
export function parseTimeBound(text: string, flag: string, now: number): number {
  const trimmed = text.trim();
  const compound = trimmed.match(/\d+(?:\.\d+)?(?:ms|s|m|h|d|w)/g);
  if (compound && compound.join("") === trimmed) {
    let total = 0;
    for (const part of compound) {
      const [, amount, unit] = DURATION.exec(part) ?? [];
      total += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
    }
    return now - total;
  }
  if (ISO_TIME.test(trimmed)) {
    const time = Date.parse(trimmed);
    if (!Number.isNaN(time)) return time;
  }
  throw new LocError(
    `${flag} "${text}" is neither a duration nor an ISO time`,
    `use a duration like 30m, 2h or 1h30m, or a time like 2026-11-21T09:00:00Z`,
    "BAD_FILTER",
  );
}
