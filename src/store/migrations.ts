import type Database from "better-sqlite3";

/**
 * Schema migrations, applied in order on open. `PRAGMA user_version` holds the number of the last
 * one applied. Never edit a shipped migration: add the next one.
 */
export const MIGRATIONS: readonly { version: number; description: string; sql: string }[] = [
  {
    version: 1,
    description: "append-only events with a per-stream version",
    sql: `
      CREATE TABLE events (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        stream  TEXT    NOT NULL,
        version INTEGER NOT NULL,
        type    TEXT    NOT NULL,
        data    TEXT    NOT NULL,
        time    INTEGER NOT NULL,
        UNIQUE (stream, version)
      );
      CREATE INDEX events_type_seq ON events (type, seq);
      CREATE INDEX events_time ON events (time);
    `,
  },
  {
    version: 2,
    description: "service column so `--service ns/svc` is an index lookup, backfilled from data",
    sql: `
      ALTER TABLE events ADD COLUMN service TEXT;
      UPDATE events SET service = json_extract(data, '$.service')
        WHERE json_valid(data) AND json_type(data, '$.service') = 'text';
      CREATE INDEX events_service_seq ON events (service, seq) WHERE service IS NOT NULL;
    `,
  },
];

export const LATEST_SCHEMA = MIGRATIONS.length;

export function schemaVersion(db: Database.Database): number {
  return db.pragma("user_version", { simple: true }) as number;
}

/** Applies every migration above the file's version, each in its own transaction. Idempotent. */
export function migrate(db: Database.Database, upTo: number = LATEST_SCHEMA): number {
  for (const migration of MIGRATIONS) {
    if (migration.version > upTo) break;
    db.transaction(() => {
      // Re-read inside the write lock: another process may have migrated while we waited.
      if (schemaVersion(db) >= migration.version) return;
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
  return schemaVersion(db);
}
