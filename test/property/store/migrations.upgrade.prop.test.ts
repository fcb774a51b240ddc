import Database from "better-sqlite3";
import fc from "fast-check";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LATEST_SCHEMA, migrate, schemaVersion } from "../../../src/store/migrations.js";
import { SqliteEventStore } from "../../../src/store/sqlite-store.js";
import { scratchDir } from "../../helpers/temp.js";

function dump(db: Database.Database): unknown {
  return {
    schema: db.prepare("SELECT name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all(),
    rows: db.prepare("SELECT * FROM events ORDER BY seq").all(),
    version: schemaVersion(db),
  };
}

/** The service a row is about, as migration 2 backfills it: `$.service` when it is a string. */
function serviceIn(data: string): string | null {
  try {
    const service = (JSON.parse(data) as { service?: unknown } | null)?.service;
    return typeof service === "string" ? service : null;
  } catch {
    return null;
  }
}

describe("migrations", () => {
  it("from any earlier version, with any rows, reach the same schema and keep every row; re-running is a no-op", () => {
    const rowArb = fc.record({
      stream: fc.string({ minLength: 1, maxLength: 10 }),
      type: fc.constantFrom("tunnel.stopped", "mystery.type"),
      data: fc.oneof(
        fc.record({ service: fc.constantFrom("a/b", "c/d"), reason: fc.string() }).map((d) => JSON.stringify(d)),
        fc.string(),
      ),
    });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: LATEST_SCHEMA }), fc.array(rowArb, { maxLength: 15 }), fc.integer({ min: 1, max: 3 }), (from, rows, reruns) => {
        const dir = scratchDir();
        try {
          const path = join(dir, "events.db");
          const db = new Database(path);
          migrate(db, from);
          if (from === 1) {
            const insert = db.prepare("INSERT INTO events (stream, version, type, data, time) VALUES (?, ?, ?, ?, 0)");
            rows.forEach((row, i) => insert.run(row.stream, i + 1, row.type, row.data));
          }
          if (from >= 2) {
            // From v2 on, writers fill the service column themselves, as the store does.
            const insert = db.prepare("INSERT INTO events (stream, version, type, data, time, service) VALUES (?, ?, ?, ?, 0, ?)");
            rows.forEach((row, i) => insert.run(row.stream, i + 1, row.type, row.data, serviceIn(row.data)));
          }
          db.close();

          for (let i = 0; i < reruns; i++) SqliteEventStore.open({ path, mode: "write" }).close();
          const after = new Database(path);
          const state = dump(after) as { rows: { data: string; service: string | null }[]; version: number };
          expect(state.version).toBe(LATEST_SCHEMA);
          expect(state.rows.map((r) => r.data)).toEqual(from >= 1 ? rows.map((r) => r.data) : []);
          for (const row of state.rows) expect(row.service).toBe(serviceIn(row.data));
          expect(migrate(after)).toBe(LATEST_SCHEMA);
          expect(dump(after)).toEqual(state);
          after.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 60 },
    );
  });
});
