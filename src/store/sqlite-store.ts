import Database from "better-sqlite3";
import { closeSync, existsSync, openSync } from "node:fs";
import { LocError } from "../errors.js";
import { decodeRow, serviceOf, type EventRow, type NewEvent, type StoredEvent } from "./events.js";
import {
  ANY_VERSION,
  ConcurrencyError,
  validateForAppend,
  type AppendResult,
  type EventFilter,
  type EventStore,
} from "./event-store.js";
import { LATEST_SCHEMA, migrate, schemaVersion } from "./migrations.js";
import { translateSqliteError } from "./sqlite-errors.js";
import { headerSchemaVersion, schemaTooNew } from "./sqlite-header.js";

export interface SqliteStoreOptions {
  path: string;
  /** `read` never creates the file and only writes when the schema needs migrating. */
  mode: "read" | "write";
  /** How long to wait for another process's lock before failing with a clear error. */
  busyTimeoutMs?: number;
  now?: () => number;
}

export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/** `$LOC_DB_BUSY_TIMEOUT_MS` overrides the default wait for another process's lock. */
export function busyTimeoutFrom(env: NodeJS.ProcessEnv): number {
  const value = Number(env.LOC_DB_BUSY_TIMEOUT_MS);
  return Number.isInteger(value) && value >= 0 && env.LOC_DB_BUSY_TIMEOUT_MS !== "" ? value : DEFAULT_BUSY_TIMEOUT_MS;
}

/** The event store on a real SQLite file (WAL, so readers never block the daemon's appends). */
export class SqliteEventStore implements EventStore {
  private readonly versionOf: Database.Statement<[string], number>;
  private readonly insert: Database.Statement<[string, number, string, string, number, string | null]>;

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
    private readonly busyTimeoutMs: number,
    private readonly now: () => number,
  ) {
    this.versionOf = db.prepare<[string], number>("SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?").pluck();
    this.insert = db.prepare(
      "INSERT INTO events (stream, version, type, data, time, service) VALUES (?, ?, ?, ?, ?, ?)",
    );
  }

  static open(options: SqliteStoreOptions): SqliteEventStore {
    const busy = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    const { path } = options;
    if (!existsSync(path)) {
      if (options.mode === "read") {
        throw new LocError(`no history yet at ${path}`, "run `loc daemon` or `loc expose` first; they record events there", "NO_HISTORY");
      }
      closeSync(openSync(path, "a", 0o600));
    }
    try {
      return SqliteEventStore.openExisting(path, options.mode, busy, options.now ?? Date.now);
    } catch (error) {
      throw translateSqliteError(error, path, busy);
    }
  }

  private static openExisting(path: string, mode: "read" | "write", busy: number, now: () => number): SqliteEventStore {
    const headerVersion = headerSchemaVersion(path);
    if (headerVersion > LATEST_SCHEMA) throw schemaTooNew(path, headerVersion, LATEST_SCHEMA);
    // Inspect read-only first, so a locked or too-new file is refused without a single write.
    const probe = new Database(path, { readonly: true, fileMustExist: true, timeout: busy });
    let version: number;
    try {
      version = schemaVersion(probe);
      probe.prepare("SELECT count(*) FROM sqlite_schema").get();
    } catch (error) {
      probe.close();
      throw error;
    }
    if (version > LATEST_SCHEMA) {
      probe.close();
      throw schemaTooNew(path, version, LATEST_SCHEMA);
    }
    if (mode === "read" && version === LATEST_SCHEMA) return new SqliteEventStore(probe, path, busy, now);
    probe.close();
    const db = new Database(path, { fileMustExist: true, timeout: busy });
    try {
      db.pragma("journal_mode = WAL");
      // NORMAL in WAL mode: a power cut may lose the last commits, never corrupt the file.
      db.pragma("synchronous = NORMAL");
      migrate(db);
    } catch (error) {
      db.close();
      throw error;
    }
    return new SqliteEventStore(db, path, busy, now);
  }

  append(stream: string, events: readonly NewEvent[], expectedVersion: number): AppendResult {
    validateForAppend(stream, events);
    const time = this.now();
    const write = this.db.transaction(() => {
      const current = this.versionOf.get(stream) ?? 0;
      if (expectedVersion !== ANY_VERSION && expectedVersion !== current) {
        throw new ConcurrencyError(stream, expectedVersion, current);
      }
      const rows: EventRow[] = [];
      let version = current;
      for (const event of events) {
        version += 1;
        const data = JSON.stringify(event.data);
        const info = this.insert.run(stream, version, event.type, data, time, serviceOf(event) ?? null);
        rows.push({ seq: Number(info.lastInsertRowid), stream, version, type: event.type, data, time });
      }
      return rows;
    });
    let rows: EventRow[];
    try {
      rows = write.immediate();
    } catch (error) {
      throw translateSqliteError(error, this.path, this.busyTimeoutMs);
    }
    const last = rows.at(-1);
    return { version: last?.version ?? this.streamVersion(stream), lastSeq: last?.seq ?? 0 };
  }

  streamVersion(stream: string): number {
    return this.versionOf.get(stream) ?? 0;
  }

  read(filter: EventFilter = {}): StoredEvent[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (clause: string, ...values: (string | number)[]) => {
      where.push(clause);
      params.push(...values);
    };
    if (filter.stream !== undefined) add("stream = ?", filter.stream);
    if (filter.service !== undefined) add("service = ?", filter.service);
    if (filter.types?.length) add(`type IN (${filter.types.map(() => "?").join(", ")})`, ...filter.types);
    if (filter.since !== undefined) add("time >= ?", filter.since);
    if (filter.until !== undefined) add("time < ?", filter.until);
    if (filter.afterSeq !== undefined) add("seq > ?", filter.afterSeq);
    const columns = "seq, stream, version, type, data, time";
    const whereSql = where.length ? `WHERE ${where.join(" AND ")}` : "";
    // The newest N are found walking the index backwards, then put back in log order.
    const sql =
      filter.limit === undefined
        ? `SELECT ${columns} FROM events ${whereSql} ORDER BY seq`
        : `SELECT * FROM (SELECT ${columns} FROM events ${whereSql} ORDER BY seq DESC LIMIT ?) ORDER BY seq`;
    if (filter.limit !== undefined) params.push(filter.limit);
    try {
      return this.db.prepare<unknown[], EventRow>(sql).all(...params).map(decodeRow);
    } catch (error) {
      throw translateSqliteError(error, this.path, this.busyTimeoutMs);
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
