// `loc daemon` without root: a state dir and a hosts file of its own under the demo's temp dir, and
// an address range of its own, so it never meets /etc/hosts or a real daemon's 127.1.0.0/16.
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { NotYet, waitFor } from "../test/cluster/helpers.js";
import { loc, locEntryPoint, repoRoot } from "./loc-cli.js";
import { onTeardown } from "./teardown.js";

export interface DemoDaemon {
  stateDir: string;
  hostsFile: string;
  logFile: string;
  pid: number;
  /** The displayed command line (without the `loc`). */
  args: string[];
  log(): string;
}

export async function startDemoDaemon(tempDir: string, kubeconfig: string, ipRange: string, namespace: string): Promise<DemoDaemon> {
  const stateDir = path.join(tempDir, "state");
  const hostsFile = path.join(tempDir, "hosts");
  const logFile = path.join(tempDir, "daemon.log");
  writeFileSync(hostsFile, "# The loc demo's hosts file: it stands in for /etc/hosts, which the demo leaves alone.\n127.0.0.1\tlocalhost\n");
  const args = ["daemon", "-n", namespace, "--kubeconfig", kubeconfig, "--hosts-file", hostsFile, "--ip-range", ipRange];
  const logFd = openSync(logFile, "a");
  // Its own process group: Ctrl-C reaches the demo alone, which stops the daemon in order and says so.
  const child = spawn(process.execPath, [locEntryPoint(), ...args], {
    cwd: repoRoot,
    env: { ...process.env, LOC_STATE_DIR: stateDir },
    stdio: ["ignore", logFd, logFd],
    detached: true,
  });
  closeSync(logFd);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : null))));
  const pid = child.pid ?? 0;
  const log = () => readFileSync(logFile, "utf8");
  onTeardown(`loc daemon (pid ${pid})`, async ({ failed }) => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const code = await exited;
    const stopped = `stopped loc daemon (pid ${pid}, exit ${code}): it removed its block from ${hostsFile}`;
    // The temp dir and its log go next: a failed run shows what the daemon said first.
    return failed ? `${stopped}; its log (last ${LOG_TAIL_LINES} lines):\n${tail(log(), LOG_TAIL_LINES)}` : stopped;
  });
  await waitFor(
    "loc daemon to answer on its socket",
    async () => {
      if (child.exitCode !== null) throw new Error(`loc daemon exited with ${child.exitCode}:\n${log()}`);
      const listed = await loc(["list", "--json"], stateDir);
      if (listed.code !== 0) throw new NotYet(listed.output.trim());
      // The socket answers a moment before the daemon says it is ready; show the log once it has.
      if (!/^loc daemon: ready/m.test(log())) throw new NotYet("not ready yet");
      return true;
    },
    { timeoutMs: 30_000, intervalMs: 300 },
  );
  return { stateDir, hostsFile, logFile, pid, args, log };
}

const LOG_TAIL_LINES = 30;

function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).map((line) => `      ${line}`).join("\n");
}

interface TunnelRow {
  key: string;
  state: string;
}

/** Waits until the daemon has a tunnel for each of `keys` (ns/name) and every tunnel forwards. */
export async function waitForTunnels(stateDir: string, keys: string[]): Promise<void> {
  await waitFor(
    `tunnels forwarding: ${keys.join(", ")}`,
    async () => {
      const listed = await loc(["list", "--json"], stateDir);
      const tunnels = (JSON.parse(listed.stdout) as { tunnels: TunnelRow[] }).tunnels;
      const missing = keys.filter((key) => !tunnels.some((t) => t.key === key));
      const waiting = [...missing, ...tunnels.filter((t) => t.state !== "forwarding").map((t) => t.key)];
      if (waiting.length > 0) throw new NotYet(`not forwarding yet: ${waiting.join(", ")}`);
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}
