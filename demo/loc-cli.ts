// The real `loc` CLI as processes, the way a user runs it: the entry point package.json's `bin.loc`
// names (read at run time, so a change of build output is followed), built first when missing or
// older than the sources.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { MissingPrerequisite } from "./prerequisites.js";
import { say } from "./transcript.js";

export const repoRoot = fileURLToPath(new URL("..", import.meta.url));

export function locEntryPoint(): string {
  const manifest = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { bin?: { loc?: string } | string };
  const bin = typeof manifest.bin === "string" ? manifest.bin : manifest.bin?.loc;
  if (!bin) throw new Error("package.json has no bin.loc");
  return path.join(repoRoot, bin);
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

/** Runs `npm run build` when the CLI is missing or a source file is newer than it. */
export async function ensureBuilt(): Promise<void> {
  const entry = locEntryPoint();
  if (existsSync(entry) && statSync(entry).mtimeMs >= newestMtime(path.join(repoRoot, "src"))) return;
  say(existsSync(entry) ? "the sources changed since the last build: npm run build" : "building loc first: npm run build");
  const result = await runProcess("npm", ["run", "build", "--silent"], {});
  if (result.code !== 0) {
    throw new MissingPrerequisite(`npm run build failed: ${result.output.trim().split("\n").slice(-3).join(" / ")}`, "run `npm ci`, then `npm run build` to see the errors");
  }
}

export interface Finished {
  code: number | null;
  /** stdout and stderr interleaved as they arrived, as a terminal would show them. */
  output: string;
  stdout: string;
}

export function runProcess(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => ((output += chunk), (stdout += chunk)));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output, stdout }));
  });
}

/** One `loc` command against the demo's state dir. */
export function loc(args: string[], stateDir: string): Promise<Finished> {
  return runProcess(process.execPath, [locEntryPoint(), ...args], { LOC_STATE_DIR: stateDir });
}
