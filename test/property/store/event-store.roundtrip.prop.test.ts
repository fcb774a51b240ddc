import fc from "fast-check";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { EventFilter, EventStore } from "../../../src/store/event-store.js";
import { MemoryEventStore } from "../../support/memory-store.js";
import { SqliteEventStore } from "../../../src/store/sqlite-store.js";
import { appendsArb, serviceArb, streamArb } from "../../helpers/arbitraries.js";
import { scratchDir } from "../../helpers/temp.js";

const adapters: [string, (now: () => number) => { store: EventStore; dispose(): void }][] = [
  ["in-memory", (now) => ({ store: new MemoryEventStore(now), dispose: () => undefined })],
  [
    "SQLite",
    (now) => {
      const dir = scratchDir();
      const store = SqliteEventStore.open({ path: join(dir, "events.db"), mode: "write", now });
      return { store, dispose: () => (store.close(), rmSync(dir, { recursive: true, force: true })) };
    },
  ],
];

const filterArb: fc.Arbitrary<EventFilter> = fc.record(
  {
    stream: streamArb,
    service: serviceArb,
    types: fc.subarray(["tunnel.connecting", "tunnel.forwarding", "expose.intent", "daemon.started"], { minLength: 1 }),
    since: fc.nat(40),
    until: fc.nat(40),
    afterSeq: fc.nat(60),
    limit: fc.integer({ min: 1, max: 20 }),
  },
  { requiredKeys: [] },
);

describe.each(adapters)("event store properties: %s", (_name, make) => {
  it("reads back exactly what was appended, in order, with per-stream versions 1..n", () => {
    fc.assert(
      fc.property(appendsArb, (appends) => {
        let clock = 0;
        const { store, dispose } = make(() => clock++);
        try {
          const expected: { stream: string; version: number; type: string; data: unknown }[] = [];
          const versions = new Map<string, number>();
          for (const { stream, events } of appends) {
            const current = versions.get(stream) ?? 0;
            store.append(stream, events, current);
            events.forEach((e, i) => expected.push({ stream, version: current + i + 1, type: e.type, data: e.data }));
            versions.set(stream, current + events.length);
          }
          const read = store.read();
          expect(read.map((e) => ({ stream: e.stream, version: e.version, type: e.type, data: e.known ? e.data : null }))).toEqual(expected);
          expect(read.map((e) => e.seq)).toEqual(expected.map((_, i) => i + 1));
          for (const [stream, version] of versions) expect(store.streamVersion(stream)).toBe(version);
        } finally {
          dispose();
        }
      }),
      { numRuns: 60 },
    );
  });

  it("filters exactly like a plain scan of the log", () => {
    fc.assert(
      fc.property(appendsArb, filterArb, (appends, filter) => {
        let clock = 0;
        const { store, dispose } = make(() => clock++);
        try {
          for (const { stream, events } of appends) store.append(stream, events, -1);
          const all = store.read();
          const matching = all.filter(
            (e) =>
              (filter.stream === undefined || e.stream === filter.stream) &&
              (filter.service === undefined || (e.known && (e.data as { service?: string }).service === filter.service)) &&
              (filter.types === undefined || filter.types.includes(e.type)) &&
              (filter.since === undefined || e.time >= filter.since) &&
              (filter.until === undefined || e.time < filter.until) &&
              (filter.afterSeq === undefined || e.seq > filter.afterSeq),
          );
          const expected = filter.limit === undefined ? matching : matching.slice(-filter.limit);
          expect(store.read(filter).map((e) => e.seq)).toEqual(expected.map((e) => e.seq));
        } finally {
          dispose();
        }
      }),
      { numRuns: 80 },
    );
  });
});
