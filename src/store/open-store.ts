import { busyTimeoutFrom, SqliteEventStore } from "./sqlite-store.js";
import { databasePath, ensureStateDir, resolveStateDir } from "./state-dir.js";

/**
 * Opens the event store of a state dir the way every command does. `write` creates the dir (0700)
 * and database (0600); `read` never creates anything.
 */
export function openStateStore(stateDirFlag: string | undefined, mode: "read" | "write", env: NodeJS.ProcessEnv): SqliteEventStore {
  const stateDir = resolveStateDir(stateDirFlag, env);
  if (mode === "write") ensureStateDir(stateDir);
  return SqliteEventStore.open({ path: databasePath(stateDir), mode, busyTimeoutMs: busyTimeoutFrom(env) });
}
