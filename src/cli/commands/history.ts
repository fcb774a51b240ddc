import { setTimeout as sleep } from "node:timers/promises";
import { LocError } from "../../errors.js";
import { formatServiceRef, parseServiceRef } from "../../kube/service-ref.js";
import type { EventFilter } from "../../store/event-store.js";
import { EVENT_TYPES } from "../../store/events.js";
import { openStateStore } from "../../store/open-store.js";
import { formatTable, toJsonLine } from "../format-event.js";
import type { CliIO } from "../io.js";
import { parseTimeBound } from "../time-filter.js";

export interface HistoryFlags {
  stateDir?: string;
  stream?: string;
  service?: string;
  type?: string[];
  since?: string;
  until?: string;
  limit?: string | number;
  follow?: boolean;
  json?: boolean;
}

const FOLLOW_POLL_MS = 200;

/** `--type` accepts exact types and `prefix.*`; anything else is a typo worth reporting. */
function expandTypes(patterns: readonly string[]): string[] {
  return patterns.flatMap((pattern) => {
    const matched = pattern.endsWith(".*")
      ? EVENT_TYPES.filter((type) => type.startsWith(pattern.slice(0, -1)))
      : EVENT_TYPES.filter((type) => type === pattern);
    if (matched.length === 0) {
      const families = [...new Set(EVENT_TYPES.map((type) => `${type.split(".")[0]}.*`))].join(", ");
      throw new LocError(`unknown event type "${pattern}"`, `use a type like tunnel.forwarding or a family: ${families}`, "BAD_FILTER");
    }
    return matched;
  });
}

function parseLimit(value: string | number): number {
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1) {
    throw new LocError(`--limit "${value}" is not a positive whole number`, "use e.g. --limit 50", "BAD_FILTER");
  }
  return limit;
}

/** Turns the flags into a store filter, failing on bad syntax before the database is touched. */
export function parseHistoryFlags(flags: HistoryFlags, now: number): EventFilter {
  const filter: EventFilter = {};
  if (flags.stream !== undefined) filter.stream = String(flags.stream);
  if (flags.service !== undefined) filter.service = formatServiceRef(parseServiceRef(String(flags.service)));
  if (flags.type?.length) filter.types = expandTypes(flags.type.map(String));
  if (flags.since !== undefined) filter.since = parseTimeBound(String(flags.since), "--since", now);
  if (flags.until !== undefined) filter.until = parseTimeBound(String(flags.until), "--until", now);
  if (filter.since !== undefined && filter.until !== undefined && filter.since >= filter.until) {
    throw new LocError("--since is not before --until", "swap them, or widen the window", "BAD_FILTER");
  }
  if (flags.limit !== undefined) filter.limit = parseLimit(flags.limit);
  return filter;
}

export async function historyCommand(flags: HistoryFlags, io: CliIO): Promise<number> {
  const filter = parseHistoryFlags(flags, Date.now());
  const store = openStateStore(flags.stateDir, "read", io.env);
  try {
    let headerShown = false;
    const print = (events: ReturnType<typeof store.read>) => {
      if (events.length === 0) return;
      const lines = flags.json ? events.map(toJsonLine) : formatTable(events, !headerShown);
      headerShown = true;
      io.stdout(lines.join("\n") + "\n");
    };
    const initial = store.read(filter);
    print(initial);
    if (!flags.json && initial.length === 0 && !flags.follow) io.stderr("no events match\n");
    if (!flags.follow) return 0;

    // Follow: poll for rows past the last one seen; another process appends, so no in-process signal exists.
    let lastSeq = initial.at(-1)?.seq ?? store.read({ limit: 1 }).at(-1)?.seq ?? 0;
    const { limit: _limit, ...followFilter } = filter;
    while (!io.signal.aborted) {
      const fresh = store.read({ ...followFilter, afterSeq: lastSeq });
      print(fresh);
      lastSeq = fresh.at(-1)?.seq ?? lastSeq;
      await sleep(FOLLOW_POLL_MS, undefined, { signal: io.signal }).catch(() => undefined);
    }
    return 0;
  } finally {
    store.close();
  }
}
