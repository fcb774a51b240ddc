import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { chmodSync } from "node:fs";
import { isBuiltin } from "node:module";
import { join } from "node:path";
import { buildSync } from "esbuild";
import { tempDir } from "./temp.js";

/** The unprivileged user tests run permission checks as when they run as root: nobody. */
export const NOBODY = { uid: 65534, gid: 65534 };

/**
 * Bundles a TypeScript test script and everything it imports into one .mjs in a fresh 0755 temp dir,
 * so another user can run it wherever the checkout lives: a clone in a 0700 dir (mktemp -d, /root)
 * is not traversable by that user, so neither the script nor tsx in node_modules would be found.
 * `imports` lists what the bundle still imports at run time (Node's builtins only, or it throws).
 */
export function bundleOutsideCheckout(script: string): { dir: string; file: string; imports: string[] } {
  const dir = tempDir("loc-as-other-user-");
  chmodSync(dir, 0o755);
  const file = join(dir, "script.mjs");
  const result = buildSync({
    entryPoints: [script],
    outfile: file,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    metafile: true,
    logLevel: "silent",
  });
  const imports = Object.values(result.metafile.outputs).flatMap((output) => output.imports.map((i) => i.path));
  const foreign = imports.filter((path) => !isBuiltin(path));
  if (foreign.length > 0) throw new Error(`the bundle of ${script} still imports ${foreign.join(", ")}`);
  chmodSync(file, 0o644);
  return { dir, file, imports };
}

/**
 * Runs a TypeScript test script as nobody when we are root (root ignores permission bits, which is
 * what these tests check), else as ourselves. Nothing the child needs lives in the checkout.
 * Call it inside a test: the bundle is removed when the test finishes.
 */
export function runAsNobody(script: string, args: string[]): SpawnSyncReturns<string> {
  const { dir, file } = bundleOutsideCheckout(script);
  const asNobody = process.getuid?.() === 0 ? NOBODY : {};
  return spawnSync(process.execPath, [file, ...args], { cwd: dir, encoding: "utf8", ...asNobody });
}
