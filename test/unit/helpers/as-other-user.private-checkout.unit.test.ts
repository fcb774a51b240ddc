// A clone in a private dir (mktemp -d and /root are 0700) cannot be traversed by other users, yet
// the permission tests run scripts as nobody. They must pass wherever a user clones the project.
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { bundleOutsideCheckout, NOBODY, runAsNobody } from "../../helpers/as-other-user.js";
import { ROOT } from "../../helpers/loc-process.js";
import { tempDir } from "../../helpers/temp.js";

const isRoot = process.getuid?.() === 0;

/**
 * The part of a checkout the scripts need, inside a 0700 dir as a clone under `mktemp -d` would be.
 * Copied, not linked: the kernel resolves a symlinked cwd to its target, which nobody may read.
 */
function privateCheckout(): string {
  const dir = tempDir("loc-private-");
  expect(statSync(dir).mode & 0o777).toBe(0o700);
  const checkout = join(dir, "loc");
  for (const part of ["package.json", "src", "test/scripts"]) cpSync(join(ROOT, part), join(checkout, part), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(checkout, "node_modules"));
  return checkout;
}

/** A file in a dir anyone may enter, which no unprivileged user may write. */
function readOnlyFile(): string {
  const dir = tempDir();
  chmodSync(dir, 0o755);
  const path = join(dir, "hosts");
  writeFileSync(path, "127.0.0.1 localhost\n");
  chmodSync(path, 0o444);
  return path;
}

describe("scripts run as another user from a checkout in a private dir", () => {
  // The control: proves privateCheckout() really hides the checkout from nobody. Only root can
  // switch to nobody; as anyone else the scripts run as the user who owns the checkout anyway.
  it.runIf(isRoot)("fail the old way, through tsx from the checkout: nobody cannot find it", () => {
    const checkout = privateCheckout();
    const child = spawnSync(process.execPath, ["--import", "tsx", "test/scripts/check-writable.ts", readOnlyFile()], { cwd: checkout, encoding: "utf8", ...NOBODY });
    expect(child.status).not.toBe(0);
    expect(child.stderr).toContain("Cannot find package 'tsx'");
  });

  it("run as a bundle outside the checkout that imports only Node's builtins", () => {
    const checkout = privateCheckout();
    const script = join(checkout, "test/scripts/check-writable.ts");
    const { dir, file, imports } = bundleOutsideCheckout(script);
    for (const path of [dir, file]) expect(relative(ROOT, path)).toMatch(/^\.\.\//);
    expect(statSync(dir).mode & 0o777).toBe(0o755);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter((path) => !isBuiltin(path))).toEqual([]);
    // Read the text too, not only esbuild's account of it: every module it loads is a builtin.
    const loaded = [...readFileSync(file, "utf8").matchAll(/(?:\bfrom|\bimport\(?|\brequire\()\s*["']([^"']+)["']/g)].map((m) => m[1] ?? "");
    expect(loaded).toEqual(imports);

    const child = runAsNobody(script, [readOnlyFile()]);
    expect(child.stdout.trim(), child.stderr).toBe("HOSTS_FILE_NOT_WRITABLE");
  });
});
