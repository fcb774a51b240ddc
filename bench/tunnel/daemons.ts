// loc daemons for bench:tunnel, on either forward transport: a real `loc daemon` process (built
// dist/, its own state dir, hosts file and address range) when this build has `--transport`, else
// the Daemon class in this process with the real watch and port-forward adapters.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import { KubeConfig } from "@kubernetes/client-node";
import WebSocket from "ws";
import { requestStatus } from "../../src/ipc/client.js";
import { Daemon } from "../../src/daemon/daemon.js";
import { parseLoopbackRange } from "../../src/daemon/ip-allocator.js";
import type { TunnelStatus } from "../../src/daemon/service-tunnel.js";
import { HostsFileWriter } from "../../src/hosts/writer.js";
import { KubeWatchPort } from "../../src/kube/kube-watch-port.js";
import { MemoryEventStore } from "../../test/support/memory-store.js";
import { KubePortForwardTransport } from "../../src/transports/kube-port-forward.js";
import { SpdyPortForwardTransport } from "../../src/transports/spdy-port-forward.js";
import { NotYet, waitFor } from "../../test/cluster/helpers.js";

export type TransportName = "spdy" | "websocket";
export type DaemonMode = "process" | "in-process";

const locMain = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

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
  /** A full garbage collection in the daemon, then its V8 heap in use, MB: through its inspector (DaemonSpec.inspect), or gc() in process. */
  collectGarbage(): Promise<number>;
  /** The last lines the daemon logged (a process's stderr; nothing in process). */
  logTail(lines?: number): string;
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
  /** A daemon process listens for the inspector on 127.0.0.1, for collectGarbage. */
  inspect?: boolean;
  /** Another build's dist/cli/main.js (a daemon process of an earlier version, for before/after). */
  main?: string;
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
    logTail: () => "",
    collectGarbage: () => (gc(), Promise.resolve(process.memoryUsage().heapUsed / 1024 / 1024)),
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
  // BENCH_DAEMON_NODE_ARGS, e.g. --trace-gc, go to the daemons' node only (their log is in spec.dir).
  const nodeArgs = (process.env.BENCH_DAEMON_NODE_ARGS ?? "").split(" ").filter(Boolean).concat(spec.inspect ? ["--inspect=127.0.0.1:0"] : []);
  const child = spawn(process.execPath, [...nodeArgs, spec.main ?? locMain, ...args], { env: { ...process.env, LOC_STATE_DIR: stateDir }, stdio: ["ignore", logFd, logFd] });
  closeSync(logFd);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  try {
    const outcome = await waitFor(
      `loc daemon --transport ${spec.transport} to be ready`,
      async () => {
        if (child.exitCode !== null) return "exited";
        if (!/^loc daemon: ready/m.test(readFileSync(logFile, "utf8"))) throw new NotYet("not ready yet");
        return "ready";
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    if (outcome === "exited") throw new Error(`loc daemon exited with ${child.exitCode}:\n${readFileSync(logFile, "utf8")}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    mode: "process",
    transport: spec.transport,
    pid: child.pid ?? 0,
    tunnels: async () => (await requestStatus(stateDir, undefined, { answerTimeoutMs: 30_000 })).tunnels,
    logTail: (lines = 20) => readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n"),
    collectGarbage: async () => {
      const url = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/\S+)/.exec(readFileSync(logFile, "utf8"))?.[1];
      if (!url) throw new Error("the daemon was not started with its inspector (DaemonSpec.inspect)");
      await inspectorCall(url, "HeapProfiler.collectGarbage");
      const usage = (await inspectorCall(url, "Runtime.getHeapUsage")) as { usedSize: number };
      return usage.usedSize / 1024 / 1024;
    },
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

/** One Chrome DevTools Protocol call on a fresh inspector connection; resolves with its result. */
async function inspectorCall(url: string, method: string): Promise<unknown> {
  const ws = new WebSocket(url);
  try {
    return await new Promise<unknown>((resolve, reject) => {
      ws.once("open", () => ws.send(JSON.stringify({ id: 1, method })));
      ws.on("message", (data: Buffer) => {
        const answer = JSON.parse(data.toString("utf8")) as { id?: number; result?: unknown; error?: { message: string } };
        if (answer.id !== 1) return;
        if (answer.error) reject(new Error(`${method}: ${answer.error.message}`));
        else resolve(answer.result);
      });
      ws.once("error", reject);
    });
  } finally {
    ws.close();
  }
}

/** Resident set size of a process, kB (VmRSS). */
export function rssKb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}
