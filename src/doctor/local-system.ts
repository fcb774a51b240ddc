import { constants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import { requestStatus } from "../ipc/client.js";
import type { DaemonStatus } from "../ipc/protocol.js";

/** The parts of this machine the local checks look at; tests pass their own. */
export interface LocalSystem {
  /** This process's uid (its effective one). */
  uid: number;
  /** Resolves when this process may write `path`; rejects with the fs error (ENOENT, EACCES, EROFS). */
  canWrite(path: string): Promise<void>;
  /** Owner and permission bits; rejects with the fs error. */
  stat(path: string): Promise<{ uid: number; mode: number }>;
  /** A uid's login name, or `uid N` when /etc/passwd does not know it. */
  userName(uid: number): Promise<string>;
  daemonStatus(stateDir: string): Promise<DaemonStatus>;
}

export const nodeSystem: LocalSystem = {
  uid: process.geteuid?.() ?? 0,
  canWrite: (path) => access(path, constants.W_OK),
  stat: async (path) => {
    const info = await stat(path);
    return { uid: info.uid, mode: info.mode & 0o7777 };
  },
  userName: async (uid) => userNameFrom(await readFile("/etc/passwd", "utf8").catch(() => ""), uid),
  daemonStatus: (stateDir) => requestStatus(stateDir, undefined, { answerTimeoutMs: 3_000 }),
};

/** Looks `uid` up in passwd(5) text: `name:x:uid:gid:...`. */
export function userNameFrom(passwd: string, uid: number): string {
  for (const line of passwd.split("\n")) {
    const [name, , id] = line.split(":");
    if (name && id === String(uid)) return name;
  }
  return `uid ${uid}`;
}
