// loc daemons for bench:tunnel, on either forward transport: a real `loc daemon` process (built
// dist/, its own state dir, hosts file and address range) when this build has `--transport`, else
// the Daemon class in this process with the real watch and port-forward adapters.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { requestStatus } from "../../src/daemon/client.js";
import { Daemon } from "../../src/daemon/daemon.js";
import { parseLoopbackRange } from "../../src/daemon/ip-allocator.js";
import type { TunnelStatus } from "../../src/daemon/tunnel-unit.js";
import { HostsFileWriter } from "../../src/hosts/writer.js";
import { KubeWatchPort } from "../../src/kube/kube-watch-port.js";
import { MemoryEventStore } from "../../src/store/memory-store.js";
import { KubePortForwardTransport } from "../../src/transports/kube-port-forward.js";
import { SpdyPortForwardTransport } from "../../src/transports/spdy-port-forward.js";
import { NotYet, waitFor } from "../../test/cluster/helpers.js";

export type TransportName = "spdy" | "websocket";
export type DaemonMode = "process" | "in-process";

const locMain = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

/** Whether the built CLI takes `loc daemon --transport` (npm run build first). */
export function builtDaemonHasTransportFlag(): boolean {
  const help = spawnSync(process.execPath, [locMain, "daemon", "--help"], { encoding: "utf8" });
  return help.status === 0 && /--transport\b/.test(help.stdout);
}

export interface BenchDaemon {
  mode: DaemonMode;
  transport: TransportName;
  /** The daemon's process (this one when in process). */
  pid: number;
  tunnels(): Promise<TunnelStatus[]>;
  stop(): Promise<void>;
}

export interface DaemonSpec {
  mode: DaemonMode;
  transport: TransportName;
  kubeconfig: string;
  namespace: string;
  ipRange: string;
  /** A fresh directory of its own (state, hosts file, log). */
  dir: string;
}

export async function startDaemon(spec: DaemonSpec): Promise<BenchDaemon> {
  const hostsFile = join(spec.dir, "hosts");
  writeFileSync(hostsFile, "127.0.0.1 localhost\n");
  return spec.mode === "process" ? startProcess(spec, hostsFile) : startInProcess(spec, hostsFile);
}

async function startInProcess(spec: DaemonSpec, hostsFile: string): Promise<BenchDaemon> {
  const config = new KubeConfig();
  config.loadFromFile(spec.kubeconfig);
  const spdy = spec.transport === "spdy" ? new SpdyPortForwardTransport(config) : undefined;
  const daemon = new Daemon({
    watchPort: new KubeWatchPort(config),
    transport: spdy ?? new KubePortForwardTransport(config),
    store: new MemoryEventStore(),
    hosts: new HostsFileWriter({ path: hostsFile }),
    hostsFile,
    scope: { namespaces: [spec.namespace], excludeNamespaces: [], labelSelector: undefined },
    clusterDomain: "cluster.local",
    ipRange: parseLoopbackRange(spec.ipRange),
    version: "bench",
  });
  daemon.start();
  await daemon.ready;
  return {
    mode: "in-process",
    transport: spec.transport,
    pid: process.pid,
    tunnels: () => Promise.resolve(daemon.status().tunnels),
    stop: async () => {
      await daemon.stop("bench");
      spdy?.close();
    },
  };
}

async function startProcess(spec: DaemonSpec, hostsFile: string): Promise<BenchDaemon> {
  const stateDir = join(spec.dir, "state");
  const logFile = join(spec.dir, "daemon.log");
  const args = ["daemon", "-n", spec.namespace, "--kubeconfig", spec.kubeconfig, "--hosts-file", hostsFile, "--ip-range", spec.ipRange, "--transport", spec.transport];
  const logFd = openSync(logFile, "a");
  const child = spawn(process.execPath, [locMain, ...args], { env: { ...process.env, LOC_STATE_DIR: stateDir }, stdio: ["ignore", logFd, logFd] });
  closeSync(logFd);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  try {
    await waitFor(
      `loc daemon --transport ${spec.transport} to be ready`,
      async () => {
        if (child.exitCode !== null) throw new Error(`loc daemon exited with ${child.exitCode}:\n${readFileSync(logFile, "utf8")}`);
        if (!/^loc daemon: ready/m.test(readFileSync(logFile, "utf8"))) throw new NotYet("not ready yet");
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    mode: "process",
    transport: spec.transport,
    pid: child.pid ?? 0,
    tunnels: async () => (await requestStatus(stateDir, undefined, { answerTimeoutMs: 30_000 })).tunnels,
    stop,
  };
}

/** Waits until the daemon has `count` tunnels and all forward; returns them. */
export async function waitForwarding(daemon: BenchDaemon, count: number, timeoutMs = 120_000): Promise<TunnelStatus[]> {
  return waitFor(
    `${count} tunnels forwarding (${daemon.transport})`,
    async () => {
      const tunnels = await daemon.tunnels();
      const forwarding = tunnels.filter((t) => t.state === "forwarding").length;
      if (tunnels.length < count || forwarding < tunnels.length) throw new NotYet(`${forwarding} of ${tunnels.length}/${count} forwarding`);
      return tunnels;
    },
    { timeoutMs, intervalMs: 500 },
  );
}

/** Resident set size of a process, kB (VmRSS). */
export function rssKb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}
