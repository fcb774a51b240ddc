// What the root helper demands of the hosts file before it writes it, as sshd's StrictModes does: no
// one but root may replace the file or any directory on its path. Otherwise a user could swap in a
// symlink between the helper's check and its write, and root would write loc's block elsewhere.
import { lstat } from "node:fs/promises";
import { dirname } from "node:path";
import { LocError } from "../errors.js";
import { asLocError } from "../hosts/hosts-io.js";

const GROUP_OR_OTHER_WRITE = 0o022;
const STICKY = 0o1000;

/**
 * `path` must be a real path (no links). The file: owned by root, writable by root alone. Each
 * directory above it: owned by root, and writable by root alone or sticky (like /tmp: others cannot
 * rename or remove what root owns there).
 */
export async function assertOnlyRootCanReplace(path: string): Promise<void> {
  const file = await lstat(path).catch((error: unknown) => Promise.reject(asLocError(error, path)));
  if (file.uid !== 0 || (file.mode & GROUP_OR_OTHER_WRITE) !== 0) unsafe(path, `the file is ${describe(file)}`);
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const info = await lstat(dir);
    const writableByOthers = (info.mode & GROUP_OR_OTHER_WRITE) !== 0 && (info.mode & STICKY) === 0;
    if (info.uid !== 0 || writableByOthers) unsafe(path, `its directory ${dir} is ${describe(info)}`);
    if (dir === dirname(dir)) return;
  }
}

function describe(info: { uid: number; mode: number }): string {
  return `owned by uid ${info.uid} with mode ${(info.mode & 0o7777).toString(8).padStart(4, "0")}`;
}

function unsafe(path: string, why: string): never {
  throw new LocError(
    `the hosts file ${path} is not safe for a root helper to write: ${why}`,
    "keep it where only root can replace it (e.g. /etc/hosts), or run loc daemon without sudo with a hosts file you own",
    "HOSTS_FILE_UNSAFE",
  );
}
