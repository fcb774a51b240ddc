import { closeSync, openSync, readSync } from "node:fs";
import { LocError } from "../errors.js";

const MAGIC = "SQLite format 3\0";
const HEADER_BYTES = 100;
const USER_VERSION_OFFSET = 60;

/**
 * Reads the schema version straight from the file header, before SQLite opens the file: opening a
 * WAL database creates -wal/-shm files, and a foreign or too-new file must be refused untouched.
 * Returns 0 for an empty file. The header can lag behind an uncheckpointed WAL, so callers still
 * check the version SQLite reports.
 */
export function headerSchemaVersion(path: string): number {
  const fd = openSync(path, "r");
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    const read = readSync(fd, header, 0, HEADER_BYTES, 0);
    if (read === 0) return 0;
    if (read < HEADER_BYTES || header.toString("latin1", 0, MAGIC.length) !== MAGIC) {
      throw Object.assign(new Error("file is not a database"), { code: "SQLITE_NOTADB" });
    }
    return header.readUInt32BE(USER_VERSION_OFFSET);
  } finally {
    closeSync(fd);
  }
}

export function schemaTooNew(path: string, version: number, latest: number): LocError {
  return new LocError(
    `${path} has schema v${version}, newer than this loc understands (v${latest})`,
    "upgrade loc (npm install -g loc), or point --state-dir elsewhere",
    "SCHEMA_TOO_NEW",
  );
}
