// The demo's cluster is the e2e test cluster (test/cluster/cluster.sh, ADR 0002): a real control
// plane built once from Go modules into a cache, with kwok in place of kubelets. The demo reuses a
// running one and leaves it running; one it started, it stops.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { clusterScript, type ClusterCommand } from "../test/cluster/cluster-script.js";
import { onTeardown } from "./teardown.js";
import { say } from "./transcript.js";

export function clusterCacheDir(): string {
  const cacheHome = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache");
  return process.env.LOC_CLUSTER_CACHE ?? path.join(cacheHome, "loc-test-cluster");
}

/** True when every component's build finished (build.sh writes a .complete marker per build). */
export function clusterIsBuilt(): boolean {
  const versions = readFileSync(path.join(path.dirname(clusterScript), "versions.env"), "utf8");
  const version = (key: string) => new RegExp(`^${key}=(\\S+)`, "m").exec(versions)?.[1] ?? "?";
  const parts = [`k8s-${version("K8S_VERSION")}`, `etcd-${version("ETCD_VERSION")}`, `kwok-${version("KWOK_VERSION")}`];
  return parts.every((part) => existsSync(path.join(clusterCacheDir(), part, ".complete")));
}

export interface Cluster {
  kubeconfig: string;
  /** The cached binaries: kubectl among them. */
  bin: string;
}

/** Brings the cluster up (building it the first time) and registers its teardown if the demo started it. */
export async function bringUpCluster(): Promise<Cluster> {
  const built = clusterIsBuilt();
  const wasRunning = built && (await runScript("status", { quiet: true }).then(() => true, () => false));
  if (wasRunning) {
    say("the local test cluster is already running: using it (and leaving it running)");
  } else if (built) {
    say(`starting the local test cluster from its cache (${clusterCacheDir()}; about 5 s)`);
  } else {
    say(
      "building the local test cluster from Go modules: first run only, about 7 minutes on 2 cores " +
        `(etcd, kwok, then Kubernetes; cached in ${clusterCacheDir()})`,
    );
  }
  const kubeconfig = await runScript("up", { heartbeat: !built });
  const bin = await runScript("bin", { quiet: true });
  // Registered first, so it is said last.
  onTeardown("the test cluster", async () => {
    if (wasRunning) return "left the local test cluster running: it was running before the demo (stop it: npm run cluster:down)";
    await runScript("down", { quiet: true });
    return "stopped the local test cluster (the demo started it)";
  });
  return { kubeconfig, bin };
}

/** Runs cluster.sh; its progress lines are shown indented, its stdout (one path) is the result. */
function runScript(command: ClusterCommand, { quiet = false, heartbeat = false } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [clusterScript, command], { stdio: ["ignore", "pipe", "pipe"] });
    const started = Date.now();
    // A cold build prints little for minutes; say it is still going so it never looks hung.
    const timer = heartbeat
      ? setInterval(() => say(`  still building (${Math.round((Date.now() - started) / 60_000)} min so far)`), 60_000)
      : undefined;
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
      if (!quiet) process.stdout.write(chunk.replace(/^(?=.)/gm, "   "));
    });
    child.on("error", reject);
    child.on("close", (code) => {
      clearInterval(timer);
      if (code === 0) resolve(stdout.trim());
      else reject(new Error(`cluster.sh ${command} failed (exit ${code}): ${stderr.trim().split("\n").slice(-5).join(" / ")}`));
    });
  });
}
