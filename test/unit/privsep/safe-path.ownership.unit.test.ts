import { chmodSync, chownSync, mkdirSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { assertOnlyRootCanReplace } from "../../../src/privsep/safe-path.js";
import { tempDir } from "../../helpers/temp.js";

const isRoot = process.getuid?.() === 0;

function hostsIn(dirMode: number): { dir: string; file: string } {
  const dir = join(realpathSync(tempDir("loc-safe-")), "etc");
  mkdirSync(dir);
  chmodSync(dir, dirMode);
  const file = join(dir, "hosts");
  writeFileSync(file, "127.0.0.1 localhost\n", { mode: 0o644 });
  return { dir, file };
}

describe("the root helper writes only a hosts file no one else can replace", () => {
  it.runIf(isRoot)("accepts a root-owned file in root-owned directories (a sticky /tmp on the way is fine)", async () => {
    await expect(assertOnlyRootCanReplace(hostsIn(0o755).file)).resolves.toBeUndefined();
    await expect(assertOnlyRootCanReplace("/etc/hosts")).resolves.toBeUndefined();
  });

  it.runIf(isRoot)("refuses a directory others may write, a file others may write, and one a user owns", async () => {
    const open = hostsIn(0o777);
    await expect(assertOnlyRootCanReplace(open.file)).rejects.toMatchObject({ code: "HOSTS_FILE_UNSAFE", message: expect.stringContaining(`its directory ${open.dir} is owned by uid 0 with mode 0777`) });
    const writable = hostsIn(0o755);
    chmodSync(writable.file, 0o666);
    await expect(assertOnlyRootCanReplace(writable.file)).rejects.toMatchObject({ message: expect.stringContaining("the file is owned by uid 0 with mode 0666") });
    const owned = hostsIn(0o755);
    chownSync(owned.dir, 65534, 65534);
    await expect(assertOnlyRootCanReplace(owned.file)).rejects.toMatchObject({ message: expect.stringContaining(`its directory ${owned.dir} is owned by uid 65534`) });
  });

  it("refuses a file a normal user owns (as any user)", async () => {
    const { file } = hostsIn(0o755);
    if (isRoot) chownSync(file, 65534, 65534);
    await expect(assertOnlyRootCanReplace(file)).rejects.toMatchObject({ code: "HOSTS_FILE_UNSAFE" });
  });
});
