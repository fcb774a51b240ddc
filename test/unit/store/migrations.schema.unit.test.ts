import Database from "better-sqlite3";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LATEST_SCHEMA, MIGRATIONS, migrate, schemaVersion } from "../../../src/store/migrations.js";
import { SqliteEventStore } from "../../../src/store/sqlite-store.js";
import { tempDir } from "../../helpers/temp.js";

function schemaOf(db: Database.Database): unknown[] {
  return db.prepare("SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all();
}

describe("schema migrations", () => {
  it("has consecutive versions starting at 1", () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });

  it("creates the latest schema on an empty file, and reapplying changes nothing", () => {
    const path = join(tempDir(), "events.db");
    SqliteEventStore.open({ path, mode: "write" }).close();
    const db = new Database(path);
    expect(schemaVersion(db)).toBe(LATEST_SCHEMA);
    const before = schemaOf(db);
    expect(migrate(db)).toBe(LATEST_SCHEMA);
    expect(schemaOf(db)).toEqual(before);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
  });

  for (let from = 1; from < LATEST_SCHEMA; from++) {
    it(`upgrades a v${from} file with data, keeping every row`, () => {
      const path = join(tempDir(), "events.db");
      const old = new Database(path);
      migrate(old, from);
      const insert = old.prepare("INSERT INTO events (stream, version, type, data, time) VALUES (?, ?, ?, ?, ?)");
      insert.run("tunnel:shop/web", 1, "tunnel.connecting", '{"service":"shop/web","pod":"p","ip":"127.1.0.9"}', 10);
      insert.run("daemon", 1, "daemon.stopped", '{"pid":1,"reason":"x"}', 11);
      insert.run("daemon", 2, "odd.row", "not json", 12);
      old.close();

      const store = SqliteEventStore.open({ path, mode: "read" });
      expect(store.read().map((e) => [e.type, e.known])).toEqual([
        ["tunnel.connecting", true],
        ["daemon.stopped", true],
        ["odd.row", false],
      ]);
      // The v2 service column was backfilled, so the indexed filter finds old rows too.
      expect(store.read({ service: "shop/web" }).map((e) => e.seq)).toEqual([1]);
      store.close();
      const db = new Database(path);
      expect(schemaVersion(db)).toBe(LATEST_SCHEMA);
      db.close();
    });
  }

  it("uses the service index for a filtered, limited read", () => {
    const path = join(tempDir(), "events.db");
    SqliteEventStore.open({ path, mode: "write" }).close();
    const db = new Database(path);
    const plan = db
      .prepare("EXPLAIN QUERY PLAN SELECT seq FROM events WHERE service = ? ORDER BY seq DESC LIMIT 50")
      .all("a/b") as { detail: string }[];
    expect(plan.map((p) => p.detail).join(" ")).toMatch(/USING (COVERING )?INDEX events_service_seq/);
    db.close();
  });
});
