import { mkdirSync, chmodSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const DATABASE_FILE = "events.db";

/** `--state-dir`, else `$LOC_STATE_DIR`, else `$XDG_STATE_HOME/loc`, else `~/.local/state/loc`. */
export function resolveStateDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return flag;
  if (env.LOC_STATE_DIR) return env.LOC_STATE_DIR;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, "loc");
  return join(env.HOME ?? homedir(), ".local", "state", "loc");
}

export function databasePath(stateDir: string): string {
  return join(stateDir, DATABASE_FILE);
}

/** Creates the state dir owner-only (0700); tightens it if it already existed looser. */
export function ensureStateDir(stateDir: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  chmodSync(stateDir, 0o700);
}
