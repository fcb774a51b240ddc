import { errorCode, LocError } from "../errors.js";

/** Turns better-sqlite3's errors into one-line messages with a hint; other errors pass through. */
export function translateSqliteError(error: unknown, path: string, busyTimeoutMs: number): unknown {
  const code = errorCode(error);
  switch (code) {
    case "SQLITE_NOTADB":
      return new LocError(
        `${path} is not a loc database (not an SQLite file)`,
        "move the file aside; loc creates a fresh database on its next write",
        "NOT_A_DATABASE",
      );
    case "SQLITE_CORRUPT":
      return new LocError(
        `${path} is corrupt`,
        `check it with: sqlite3 ${path} 'PRAGMA integrity_check'; or move it aside`,
        "CORRUPT_DATABASE",
      );
    case "SQLITE_BUSY":
    case "SQLITE_BUSY_SNAPSHOT":
    case "SQLITE_LOCKED":
      return new LocError(
        `${path} is locked by another process (waited ${busyTimeoutMs} ms)`,
        `retry in a moment; see who holds it with: fuser ${path}`,
        "DATABASE_LOCKED",
      );
    case "SQLITE_CANTOPEN":
    case "SQLITE_READONLY":
    case "SQLITE_PERM":
      return new LocError(
        `cannot open ${path} for ${code === "SQLITE_CANTOPEN" ? "reading" : "writing"}`,
        "check the permissions of the state dir (it should be owned by you, mode 0700)",
        "DATABASE_UNAVAILABLE",
      );
    default:
      return error;
  }
}
