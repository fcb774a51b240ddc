/**
 * Test-only fault hook for the crash matrix: `LOC_TEST_KILL_AT=<point>` makes the daemon kill
 * itself with SIGKILL (no cleanup of any kind, as a power cut or OOM kill would) when it records
 * the event named by the point:
 *
 *   [before:]<event type>[:<action or step>][#<occurrence>]
 *
 * e.g. `expose.intent:scale` (the intent is stored, the call never made), `before:expose.outcome:scale`
 * (the call was made, its outcome never stored), `hosts.written`. Unset, the store is untouched.
 */
import type { EventStore } from "../store/event-store.js";
import type { NewEvent } from "../store/events.js";

export const KILL_SWITCH_ENV = "LOC_TEST_KILL_AT";

interface KillPoint {
  before: boolean;
  type: string;
  qualifier?: string;
  occurrence: number;
}

export function parseKillPoint(spec: string): KillPoint {
  const match = /^(before:)?([a-z]+\.[A-Za-z]+)(?::([A-Za-z]+))?(?:#(\d+))?$/.exec(spec);
  if (!match?.[2]) throw new Error(`${KILL_SWITCH_ENV}="${spec}" is not [before:]<type>[:<action>][#<n>]`);
  return { before: match[1] !== undefined, type: match[2], qualifier: match[3], occurrence: Number(match[4] ?? 1) };
}

function matches(point: KillPoint, event: NewEvent): boolean {
  if (event.type !== point.type) return false;
  if (point.qualifier === undefined) return true;
  const data = event.data as { action?: unknown; step?: unknown };
  return data.action === point.qualifier || data.step === point.qualifier;
}

export function withKillSwitch(store: EventStore, spec: string | undefined, kill: () => void = () => process.kill(process.pid, "SIGKILL")): EventStore {
  if (!spec) return store;
  const point = parseKillPoint(spec);
  let seen = 0;
  const hit = (events: readonly NewEvent[]) => events.some((event) => matches(point, event) && ++seen === point.occurrence);
  return {
    append(stream, events, expectedVersion) {
      const fatal = hit(events);
      if (fatal && point.before) kill();
      const result = store.append(stream, events, expectedVersion);
      if (fatal) kill();
      return result;
    },
    streamVersion: (stream) => store.streamVersion(stream),
    read: (filter) => store.read(filter),
    close: () => store.close(),
  };
}
