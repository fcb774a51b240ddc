import * as fsp from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, onTestFinished } from "vitest";
import { LocError } from "../../../src/errors.js";
import { BLOCK_START } from "../../../src/hosts/block.js";
import { checkWritable, type HostsFs, writeHostsEntries } from "../../../src/hosts/hosts-io.js";
import { lockPathsFor } from "../../../src/hosts/lock.js";
import { runAsNobody } from "../../helpers/as-other-user.js";
import { scratchDir } from "../../helpers/temp.js";

const USER = "127.0.0.1 localhost\n# keep me\n";
const entries = [{ ip: "127.1.0.2", names: ["web", "web.shop"] }];

function hostsFile(content = USER, mode = 0o644): string {
  // tempDir's afterEach, registered from inside a running test, never fires; clean up per test instead.
  const dir = scratchDir("loc-hosts-");
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "hosts");
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

function failing(code: string): () => Promise<never> {
  return async () => {
    throw Object.assign(new Error(`simulated ${code}`), { code });
  };
}

async function locError(promise: Promise<unknown>): Promise<LocError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LocError);
  return error as LocError;
}

describe("writing the hosts file", () => {
  it("replaces the file atomically (new inode), keeping its mode, and leaves no temp or lock file", async () => {
    const path = hostsFile(USER, 0o640);
    const before = statSync(path);
    expect(await writeHostsEntries(path, entries)).toBe("atomic");
    const after = statSync(path);
    expect(after.ino).not.toBe(before.ino);
    expect(after.mode & 0o7777).toBe(0o640);
    expect(readFileSync(path, "utf8")).toContain("127.1.0.2 web web.shop # loc");
    expect(readdirSync(join(path, ".."))).toEqual(["hosts"]);
  });

  it.runIf(process.getuid?.() === 0)("keeps the owner when running as root", async () => {
    const path = hostsFile();
    chownSync(path, 1234, 4321);
    await writeHostsEntries(path, entries);
    expect(statSync(path)).toMatchObject({ uid: 1234, gid: 4321 });
  });

  it("writes the file a symlink points to, keeping the link", async () => {
    const path = hostsFile();
    const link = join(path, "..", "link");
    symlinkSync(path, link);
    await writeHostsEntries(link, entries);
    expect(statSync(link, { throwIfNoEntry: true }).isFile()).toBe(true);
    expect((await fsp.lstat(link)).isSymbolicLink()).toBe(true);
    expect(readFileSync(path, "utf8")).toContain(BLOCK_START);
  });

  it("does not touch the file when the content would not change", async () => {
    const path = hostsFile();
    expect(await writeHostsEntries(path, [])).toBe("unchanged");
    await writeHostsEntries(path, entries);
    const ino = statSync(path).ino;
    expect(await writeHostsEntries(path, entries)).toBe("unchanged");
    expect(statSync(path).ino).toBe(ino);
  });

  it("keeps bytes that are not UTF-8", async () => {
    const path = hostsFile();
    const latin1 = Buffer.from([0x23, 0x20, 0xe9, 0xff, 0x0a]); // "# é" in latin1, then 0xff
    writeFileSync(path, latin1);
    await writeHostsEntries(path, entries);
    await writeHostsEntries(path, []);
    expect(readFileSync(path).equals(latin1)).toBe(true);
  });

  it.each(["EBUSY", "EXDEV", "EPERM"])("falls back to writing in place when rename fails with %s", async (code) => {
    const path = hostsFile(USER + "x".repeat(500) + "\n");
    const ino = statSync(path).ino;
    const fs: HostsFs = { ...fsp, rename: failing(code) };
    expect(await writeHostsEntries(path, entries, { fs })).toBe("in-place");
    expect(statSync(path).ino).toBe(ino);
    expect(readFileSync(path, "utf8")).toContain("127.1.0.2 web web.shop # loc");
    expect(readdirSync(join(path, ".."))).toEqual(["hosts"]);
    // Shrinking in place truncates: nothing of the longer old content is left behind.
    writeFileSync(path, USER + "x".repeat(500) + "\n");
    await writeHostsEntries(path, entries, { fs });
    await writeHostsEntries(path, [], { fs });
    expect(readFileSync(path, "utf8")).toBe(USER + "x".repeat(500) + "\n");
  });

  it("falls back to writing in place when the directory refuses a temp file", async () => {
    const path = hostsFile();
    const ino = statSync(path).ino;
    const fs: HostsFs = {
      ...fsp,
      open: ((file: string, flags: string, mode?: number) =>
        flags === "wx" ? failing("EROFS")() : fsp.open(file, flags, mode)) as HostsFs["open"],
    };
    expect(await writeHostsEntries(path, entries, { fs })).toBe("in-place");
    expect(statSync(path).ino).toBe(ino);
  });

  // Tests run as root, and root ignores permission bits, so EACCES is simulated by injecting file
  // operations that fail the way they do for a normal user on /etc/hosts.
  it("turns EACCES into a LocError with a hint and leaves the file untouched", async () => {
    const path = hostsFile();
    const fs: HostsFs = { ...fsp, open: failing("EACCES") as HostsFs["open"], access: failing("EACCES") };
    const error = await locError(writeHostsEntries(path, entries, { fs }));
    expect(error.toLine()).toMatch(/cannot write the hosts file .* \(hint: run loc daemon with sudo, or pass --hosts-file PATH\)/);
    expect(error.toLine()).not.toContain("\n");
    expect(readFileSync(path, "utf8")).toBe(USER);
    expect((await locError(checkWritable(path, fs))).code).toBe("HOSTS_FILE_NOT_WRITABLE");
  });

  it("refuses a read-only file for real, checked as an unprivileged user", () => {
    const path = hostsFile(USER, 0o444);
    chmodSync(dirname(path), 0o755);
    // Root ignores permission bits, so as root the check runs in a child as nobody (uid 65534).
    const child = runAsNobody(fileURLToPath(new URL("../../scripts/check-writable.ts", import.meta.url)), [path]);
    expect(child.stdout.trim(), child.stderr).toBe("HOSTS_FILE_NOT_WRITABLE");
    expect(readFileSync(path, "utf8")).toBe(USER);
  });

  it("checkWritable accepts a writable file and refuses a directory or a missing file", async () => {
    const path = hostsFile();
    await expect(checkWritable(path)).resolves.toBeUndefined();
    const dir = join(path, "..", "dir");
    mkdirSync(dir);
    expect((await locError(checkWritable(dir))).code).toBe("HOSTS_FILE_NOT_A_FILE");
    expect((await locError(writeHostsEntries(dir, entries))).code).toBe("HOSTS_FILE_NOT_A_FILE");
    expect((await locError(checkWritable(join(dir, "missing")))).code).toBe("HOSTS_FILE_MISSING");
  });
});

describe("the hosts lock file", () => {
  it("takes over a lock left by a dead process", async () => {
    const path = hostsFile();
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    writeFileSync(lockPathsFor(path)[0], `${dead}\n`);
    expect(await writeHostsEntries(path, entries)).toBe("atomic");
    expect(existsSync(lockPathsFor(path)[0])).toBe(false);
  });

  it("waits for a live holder, then fails with a LocError naming it", async () => {
    const path = hostsFile();
    writeFileSync(lockPathsFor(path)[0], `${process.ppid}\n`);
    const error = await locError(writeHostsEntries(path, entries, { lock: { timeoutMs: 60 } }));
    expect(error.code).toBe("HOSTS_FILE_LOCKED");
    expect(error.message).toContain(String(process.ppid));
    expect(readFileSync(path, "utf8")).toBe(USER);
  });

  it("holds the lock from reading the file to replacing it, and concurrent writers leave one block", async () => {
    const path = hostsFile();
    const lockSeen: boolean[] = [];
    const fs: HostsFs = {
      ...fsp,
      readFile: ((...args: Parameters<typeof fsp.readFile>) => {
        lockSeen.push(existsSync(lockPathsFor(path)[0]));
        return fsp.readFile(...args);
      }) as HostsFs["readFile"],
    };
    const a = { ip: "127.1.0.3", names: ["a"] };
    await Promise.all([writeHostsEntries(path, [a], { fs }), writeHostsEntries(path, entries, { fs })]);
    expect(lockSeen).toEqual([true, true]);
    expect(readFileSync(path, "utf8").split(BLOCK_START)).toHaveLength(2);
  });
});
