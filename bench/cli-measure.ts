// One process run measured as the user sees it: wall time from spawn to exit, and peak RSS from GNU
// time (%M, the child's ru_maxrss), the same way for loc, node and kubectl.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

export interface Run {
  ms: number;
  peakMb: number;
}

const GNU_TIME = "/usr/bin/time";

export function requireGnuTime(): void {
  if (!existsSync(GNU_TIME)) throw new Error(`${GNU_TIME} is missing: apt-get install -y time (GNU time reports peak RSS)`);
}

/** Runs argv once; throws with its stderr if it fails, so a broken command never counts as fast. */
export async function measure(argv: readonly string[], env: NodeJS.ProcessEnv, timeFile: string): Promise<Run> {
  const started = performance.now();
  const child = spawn(GNU_TIME, ["-f", "%M", "-o", timeFile, ...argv], { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${stderr.trim()}`);
  const kb = Number(readFileSync(timeFile, "utf8").trim().split("\n").at(-1));
  return { ms, peakMb: kb / 1024 };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}
