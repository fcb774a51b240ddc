import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";

/** A fresh temp dir per call, removed after the current test. */
export function tempDir(prefix = "loc-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A temp dir for use inside fast-check runs, where afterEach is too late; remove it yourself. */
export function scratchDir(prefix = "loc-prop-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
