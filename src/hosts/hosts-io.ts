import * as fsp from "node:fs/promises";
import { constants } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { errorCode, errorMessage, LocError } from "../errors.js";
import { parseHostsFile, renderHostsFile } from "./block.js";
import type { HostEntry } from "./host-entry.js";
import { type LockOptions, withFileLock } from "./lock.js";

/** The file operations used on the hosts file and its directory; tests inject failures here. */
export type HostsFs = Pick<typeof fsp, "access" | "open" | "readFile" | "realpath" | "rename" | "stat" | "unlink">;

export type WriteOutcome = "unchanged" | "atomic" | "in-place";

// latin1 maps every byte to one char and back, so bytes that aren't UTF-8 survive untouched.
const ENCODING = "latin1";
const NOT_PERMITTED = new Set(["EACCES", "EPERM", "EROFS"]);
const NO_TEMP_FILE = new Set([...NOT_PERMITTED, "ENOENT", "ENOTDIR", "EINVAL"]);
// rename(2) over a bind-mounted file (containers' /etc/hosts) or across mounts fails with these.
const RENAME_IMPOSSIBLE = new Set(["EBUSY", "EXDEV", "EPERM", "EACCES"]);
const NOT_WRITABLE_HINT = "run loc daemon with sudo, or pass --hosts-file PATH";

/**
 * Fails fast, changing nothing, when loc could not write `path`. access(W_OK) rather than opening
 * for writing: it has no side effects (no inotify close-write) and honours read-only mounts and
 * immutable files even for root.
 */
export async function checkWritable(path: string, fs: HostsFs = fsp): Promise<void> {
  try {
    const target = await fs.realpath(path);
    if (!(await fs.stat(target)).isFile()) throw Object.assign(new Error("not a file"), { code: "EISDIR" });
    await fs.access(target, constants.R_OK | constants.W_OK);
  } catch (error) {
    throw asLocError(error, path);
  }
}

/**
 * Proves at start-up that loc can write `path` by writing it: the same bytes back, forced, atomically
 * and under loc's lock. It keeps whatever block is there: a second daemon refused later (another
 * one runs) must not wipe the running one's names; a stale block goes with the daemon's first write.
 * access(W_OK) cannot prove it: root passes access() on files no one can write (/proc, read-only
 * bind mounts).
 */
export async function proveWritable(path: string, fs: HostsFs = fsp): Promise<void> {
  await writeHostsEntries(path, undefined, { fs, force: true });
}

/**
 * Puts `entries` into loc's block of the hosts file (none removes it). Under loc's lock it re-reads the
 * file, so edits other programs made since the last write are kept, and writes nothing when the text
 * would not change.
 */
export async function writeHostsEntries(
  path: string,
  /** The block's new entries; undefined keeps the file's text as it is. */
  entries: readonly HostEntry[] | undefined,
  options: { fs?: HostsFs; lock?: LockOptions; force?: boolean } = {},
): Promise<WriteOutcome> {
  const fs = options.fs ?? fsp;
  try {
    // Resolve symlinks: renaming over a link would replace it with a plain file.
    const target = await fs.realpath(path);
    return await withFileLock(
      target,
      async () => {
        const original = await fs.readFile(target, ENCODING);
        const next = entries === undefined ? original : renderHostsFile(parseHostsFile(original), entries);
        if (next === original && !options.force) return "unchanged";
        return replaceFile(target, Buffer.from(next, ENCODING), fs);
      },
      options.lock,
    );
  } catch (error) {
    throw asLocError(error, path);
  }
}

/**
 * Atomic replace: temp file in the same directory, fsync, original mode (and owner when root), rename,
 * fsync the directory. When the directory or the rename refuses (bind-mounted /etc/hosts), rewrites
 * the file in place instead.
 */
async function replaceFile(target: string, content: Buffer, fs: HostsFs): Promise<WriteOutcome> {
  const original = await fs.stat(target);
  const temp = join(dirname(target), `.${basename(target)}.loc-${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
  let handle: fsp.FileHandle;
  try {
    handle = await fs.open(temp, "wx", 0o600);
  } catch (error) {
    // No temp file beside it (read-only or special directory, e.g. /proc): the in-place write
    // below either works or fails with the errno that matters for the file itself. A full disk is
    // not such a case: writing in place then could leave a half-written file.
    if (!NO_TEMP_FILE.has(errorCode(error))) throw error;
    await writeInPlace(target, content, fs);
    return "in-place";
  }
  try {
    try {
      await handle.writeFile(content);
      if (process.getuid?.() === 0) await handle.chown(original.uid, original.gid);
      await handle.chmod(original.mode & 0o7777);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, target);
  } catch (error) {
    await fs.unlink(temp).catch(() => undefined);
    if (!RENAME_IMPOSSIBLE.has(errorCode(error))) throw error;
    await writeInPlace(target, content, fs);
    return "in-place";
  }
  await syncDirectory(dirname(target), fs);
  return "atomic";
}

/**
 * Same inode, so bind mounts keep seeing it. Writes before truncating: a reader racing us may see a
 * stale tail for an instant, but never an empty file without `localhost`.
 */
async function writeInPlace(target: string, content: Buffer, fs: HostsFs): Promise<void> {
  const handle = await fs.open(target, "r+");
  try {
    await handle.writeFile(content);
    await handle.truncate(content.length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDirectory(dir: string, fs: HostsFs): Promise<void> {
  try {
    const handle = await fs.open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some platforms and filesystems cannot fsync a directory; the rename itself is still atomic.
  }
}

/** Permission problems become a one-line LocError with a hint; anything else stays a bug. */
export function asLocError(error: unknown, path: string): unknown {
  if (error instanceof LocError) return error;
  const code = errorCode(error);
  if (NOT_PERMITTED.has(code)) {
    return new LocError(`cannot write the hosts file ${path} (${code})`, NOT_WRITABLE_HINT, "HOSTS_FILE_NOT_WRITABLE");
  }
  if (code === "ENOENT") {
    return new LocError(`the hosts file ${path} does not exist`, "create it, or pass --hosts-file PATH", "HOSTS_FILE_MISSING");
  }
  if (code === "EISDIR") {
    return new LocError(`the hosts file ${path} is not a regular file`, "pass --hosts-file PATH naming a file", "HOSTS_FILE_NOT_A_FILE");
  }
  // Any other errno (EIO, EINVAL, ENOSPC…): said with its code, never mislabelled as missing.
  if (code !== "") return new LocError(`cannot write the hosts file ${path}: ${errorMessage(error)}`, "check the file and its filesystem, or pass --hosts-file PATH", "HOSTS_FILE_WRITE_FAILED");
  return error;
}
