import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onTestFinished } from "vitest";

/** A fresh temp dir, removed when the current test finishes. Call it inside a test. */
export function tempDir(prefix = "loc-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A temp dir for use inside fast-check runs, where per-test cleanup is too late; remove it yourself. */
export function scratchDir(prefix = "loc-prop-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
