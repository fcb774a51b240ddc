// Holds an exclusive lock on a SQLite file until killed: the "database locked" case for tests.
import Database from "better-sqlite3";

const path = process.argv[2];
if (!path) throw new Error("usage: hold-lock.ts <db-path>");
const db = new Database(path);
db.pragma("locking_mode = EXCLUSIVE");
db.exec("BEGIN EXCLUSIVE");
process.stdout.write("locked\n");
setInterval(() => undefined, 1_000);
