// Runs test/cluster/cluster.sh: its progress goes to our stderr as it happens (a cold build takes
// long enough that silence would look like a hang) and its stdout, one path, is the result.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const clusterScript = fileURLToPath(new URL("./cluster.sh", import.meta.url));

export type ClusterCommand = "up" | "down" | "status" | "kubeconfig" | "bin" | "restart-apiserver";

export interface ScriptResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const stderrTailLines = 30;

/** `bash cluster.sh ARGS...`, its stderr passed on as it comes; resolves with how it ended, whatever that was. */
export function runClusterScriptArgs(args: readonly string[]): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [clusterScript, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
      process.stderr.write(chunk);
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The last `lines` lines of what a failed run said. */
export function stderrTail(result: ScriptResult, lines = stderrTailLines): string {
  return result.stderr.trimEnd().split("\n").slice(-lines).join("\n");
}

export async function runClusterScript(command: ClusterCommand): Promise<string> {
  const result = await runClusterScriptArgs([command]);
  if (result.code === 0) return result.stdout.trim();
  throw new Error(`\`bash ${clusterScript} ${command}\` failed (${result.signal ?? `exit ${result.code}`}):\n${stderrTail(result)}`);
}
