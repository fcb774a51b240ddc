// loc (spdy), loc (websocket) and `kubectl port-forward` to the same pod, in the same run, each at a
// given distance from the API server: 0 = straight to it on loopback, otherwise through a delay
// proxy process (bench/delay-proxy.ts) that holds every chunk rttMs/2 in each direction.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import { performance } from "node:perf_hooks";
import { KubeConfig } from "@kubernetes/client-node";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { kubectlPortForward } from "../../test/cluster/helpers.js";
import { startDaemon, waitForwarding, type BenchDaemon, type DaemonMode, type TransportName } from "./daemons.js";
import { concurrent, download, firstByte, fmt, quantile, median, rotate, step, type Endpoint } from "./measure.js";

export interface CompareConfig {
  kubectl: string;
  /** The cluster's own kubeconfig (server on 127.0.0.1). */
  kubeconfig: string;
  namespace: string;
  pod: string;
  /** Pod ports: one streams `transferBytes` to each connection, one echoes. */
  blastPort: number;
  echoPort: number;
  daemonMode: DaemonMode;
  dir: string;
  latencySamples: number;
  latencyRound: number;
  concurrentConnections: number;
  concurrentRounds: number;
  transferBytes: number;
  transferRounds: number;
  /** Another build's dist/cli/main.js: its spdy daemon joins the run as "loc (spdy, before)". */
  beforeMain?: string;
}

export interface CompareResult {
  /** GET /version on a kept-alive connection through whatever is in front of the API server, median ms. */
  apiRttMs: number;
  clients: ClientResult[];
}

export interface ClientResult {
  name: string;
  p50: number;
  p95: number;
  concurrentMs: number;
  mbps: number;
}

interface Client {
  name: string;
  blast: Endpoint;
  echo: Endpoint;
}

const proxyScript = fileURLToPath(new URL("../delay-proxy.ts", import.meta.url));

/** A copy of the kubeconfig whose server is a delay proxy in front of the real one (none for 0 ms). */
async function atDistance(kubeconfig: string, rttMs: number, dir: string): Promise<{ kubeconfig: string; close(): Promise<void> }> {
  if (rttMs === 0) return { kubeconfig, close: () => Promise.resolve() };
  const text = readFileSync(kubeconfig, "utf8");
  const server = /server: https:\/\/(127\.0\.0\.1):(\d+)/.exec(text);
  if (!server) throw new Error(`no https://127.0.0.1:<port> server in ${kubeconfig}`);
  const child = spawn(process.execPath, ["--import", "tsx", proxyScript, `${server[1]}:${server[2]}`, String(rttMs / 2)], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      const match = /listening (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`delay proxy exited with ${code}: ${out}`)));
  });
  // The API server's certificate has 127.0.0.1 as an IP SAN, so only the port changes.
  const copy = join(dir, `kubeconfig-${rttMs}ms.yaml`);
  writeFileSync(copy, text.replace(server[0], `server: https://127.0.0.1:${port}`));
  step(`delay proxy (pid ${child.pid}) on 127.0.0.1:${port}: ${rttMs / 2} ms each way in front of ${server[1]}:${server[2]}`);
  return {
    kubeconfig: copy,
    close: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** The API server's round trip as clients see it: GET /version on one kept-alive TLS connection, median of 20. */
async function apiRoundTrip(kubeconfig: string): Promise<number> {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfig);
  const server = new URL(config.getCurrentCluster()?.server ?? "");
  const options: https.RequestOptions = { host: server.hostname, port: server.port, path: "/version" };
  await config.applyToHTTPSOptions(options);
  // After: applyToHTTPSOptions puts in an agent of its own, which does not keep connections alive.
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: options.ca, cert: options.cert, key: options.key });
  options.agent = agent;
  const get = () =>
    new Promise<void>((resolve, reject) => {
      https.get(options, (response) => response.resume().on("end", resolve)).on("error", reject);
    });
  const samples: number[] = [];
  await get();
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    await get();
    samples.push(performance.now() - started);
  }
  agent.destroy();
  return median(samples);
}

async function tunnelIp(daemon: BenchDaemon, key: string): Promise<string> {
  const tunnels = await waitForwarding(daemon, 1);
  const ip = tunnels.find((t) => t.key === key)?.ip;
  if (!ip) throw new Error(`no tunnel ${key}: ${JSON.stringify(tunnels)}`);
  return ip;
}

/** Every measurement for every client at one distance; rounds rotate the clients' order. */
export async function compareAt(config: CompareConfig, rttMs: number, index: number): Promise<CompareResult> {
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const distance = await atDistance(config.kubeconfig, rttMs, config.dir);
    cleanups.push(() => distance.close());
    const apiRttMs = await apiRoundTrip(distance.kubeconfig);
    const clients: Client[] = [];
    const daemons: [string, TransportName, string, string | undefined][] = [
      ["loc (spdy)", "spdy", `127.62.${index}.0/24`, undefined],
      ["loc (websocket)", "websocket", `127.61.${index}.0/24`, undefined],
    ];
    if (config.beforeMain) daemons.push(["loc (spdy, before)", "spdy", `127.60.${index}.0/24`, config.beforeMain]);
    for (const [name, transport, range, main] of daemons) {
      step(`${rttMs} ms: starting ${name} daemon (${config.daemonMode})`);
      const mode = main ? "process" : config.daemonMode;
      const daemon = await startDaemon({ mode, transport, kubeconfig: distance.kubeconfig, namespace: config.namespace, ipRange: range, dir: mkdtempSync(join(config.dir, `${transport}-`)), main });
      cleanups.push(() => daemon.stop());
      const host = await tunnelIp(daemon, `${config.namespace}/bulk`);
      clients.push({ name, blast: { host, port: config.blastPort }, echo: { host, port: config.echoPort } });
    }
    step(`${rttMs} ms: starting kubectl port-forward`);
    const kubectlBlast = await kubectlPortForward(config.kubectl, distance.kubeconfig, config.namespace, config.pod, config.blastPort);
    cleanups.push(() => kubectlBlast.stop());
    const kubectlEcho = await kubectlPortForward(config.kubectl, distance.kubeconfig, config.namespace, config.pod, config.echoPort);
    cleanups.push(() => kubectlEcho.stop());
    const local = (port: number) => ({ host: "127.0.0.1", port });
    clients.push({ name: "kubectl port-forward", blast: local(kubectlBlast.localPort), echo: local(kubectlEcho.localPort) });

    // Warm up: sessions dialled, kubectl's connection up, code paths compiled.
    for (const client of clients) for (let i = 0; i < 5; i++) await firstByte(client.echo);

    const latencies = new Map<string, number[]>(clients.map((c) => [c.name, []]));
    const rounds = Math.ceil(config.latencySamples / config.latencyRound);
    step(`${rttMs} ms: ${config.latencySamples} sequential new connections per client, ${rounds} rotating rounds`);
    for (let round = 0; round < rounds; round++) {
      const n = Math.min(config.latencyRound, config.latencySamples - round * config.latencyRound);
      for (const client of rotate(clients, round)) for (let i = 0; i < n; i++) latencies.get(client.name)?.push(await firstByte(client.echo));
    }
    const totals = new Map<string, number[]>(clients.map((c) => [c.name, []]));
    const request = Buffer.alloc(1024, 1);
    step(`${rttMs} ms: ${config.concurrentConnections} concurrent connections, ${config.concurrentRounds} rounds`);
    for (let round = 0; round < config.concurrentRounds; round++) {
      for (const client of rotate(clients, round)) totals.get(client.name)?.push(await concurrent(client.echo, config.concurrentConnections, request));
    }
    const speeds = new Map<string, number[]>(clients.map((c) => [c.name, []]));
    step(`${rttMs} ms: ${config.transferBytes / 1024 / 1024} MB download, best of ${config.transferRounds}`);
    for (let round = 0; round < config.transferRounds; round++) {
      const line: string[] = [];
      for (const client of rotate(clients, round)) {
        const speed = await download(client.blast, config.transferBytes);
        speeds.get(client.name)?.push(speed);
        line.push(`${client.name} ${fmt(speed, 0)}`);
      }
      step(`${rttMs} ms: download round ${round + 1}: ${line.join(", ")} MB/s`);
    }
    return {
      apiRttMs,
      clients: clients.map(({ name }) => {
        const samples = latencies.get(name) ?? [];
        return { name, p50: quantile(samples, 0.5), p95: quantile(samples, 0.95), concurrentMs: median(totals.get(name) ?? []), mbps: Math.max(...(speeds.get(name) ?? [])) };
      }),
    };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error(`cleanup: ${String(error)}`));
  }
}

/** A markdown table, ratios against kubectl measured in the same run. */
export function compareTable({ apiRttMs, clients: results }: CompareResult, config: CompareConfig, rttMs: number): string {
  const kubectl = results.find((r) => r.name.startsWith("kubectl"));
  const ratio = (value: number, base: number | undefined) => (base === undefined ? "—" : fmt(value / base, 2));
  const mb = config.transferBytes / 1024 / 1024;
  const lines = [
    `RTT to the API server: ${rttMs === 0 ? "0 ms (loopback, no proxy)" : `${rttMs} ms (delay proxy, ${rttMs / 2} ms each way)`}; GET /version on a kept-alive connection: ${fmt(apiRttMs)} ms (median of 20)`,
    "",
    `| client | new conn + first byte p50 (${config.latencySamples} seq.) | p95 | p50 / kubectl | ${config.concurrentConnections} concurrent, total (median of ${config.concurrentRounds}) | / kubectl | ${mb} MB download (best of ${config.transferRounds}) | / kubectl |`,
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...results.map(
      (r) =>
        `| ${r.name} | ${fmt(r.p50)} ms | ${fmt(r.p95)} ms | ${ratio(r.p50, kubectl?.p50)} | ${fmt(r.concurrentMs, 0)} ms | ${ratio(r.concurrentMs, kubectl?.concurrentMs)} | ${fmt(r.mbps, 0)} MB/s | ${ratio(r.mbps, kubectl?.mbps)} |`,
    ),
  ];
  return lines.join("\n");
}
