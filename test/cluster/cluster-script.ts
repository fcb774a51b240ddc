// Runs test/cluster/cluster.sh: its progress goes to our stderr as it happens (a cold build takes
// long enough that silence would look like a hang) and its stdout, one path, is the result.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const clusterScript = fileURLToPath(new URL("./cluster.sh", import.meta.url));

export type ClusterCommand = "up" | "down" | "status" | "kubeconfig" | "bin" | "restart-apiserver";

const stderrTailLines = 30;

export function runClusterScript(command: ClusterCommand): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [clusterScript, command], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
      process.stderr.write(chunk);
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) {
        resolve(stdout.trim());
        return;
      }
      const tail = stderr.trimEnd().split("\n").slice(-stderrTailLines).join("\n");
      reject(new Error(`\`bash ${clusterScript} ${command}\` failed (${signal ?? `exit ${code}`}):\n${tail}`));
    });
  });
}
