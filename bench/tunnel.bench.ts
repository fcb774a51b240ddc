// Tunnel benchmarks on the real test cluster (run: npm run bench:tunnel; results in docs/benchmarks.md):
//  1. BENCH_SERVICES (1,000) Services from the daemon's initial list to every listener bound and one
//     hosts write (bench/tunnel/startup.ts);
//  2. loc (spdy), loc (websocket) and `kubectl port-forward` to the same pod, in the same run, at each
//     API-server distance of BENCH_RTT_MS ("0,20": loopback, and a 20 ms round trip through
//     bench/delay-proxy.ts): new connection + first byte p50/p95 over BENCH_LATENCY_SAMPLES (1,000)
//     sequential connections, BENCH_CONCURRENT (100) concurrent connections' total time, a
//     BENCH_TRANSFER_MB (256) MB download, best of BENCH_TRANSFER_ROUNDS (3) (bench/tunnel/compare.ts);
//  3. daemon RSS: empty, with BENCH_IDLE_SERVICES (1,000) idle tunnels over BENCH_IDLE_PODS (1,000)
//     pods, during and after BENCH_RSS_CONNECTIONS (10,000) connections, then after
//     BENCH_RSS_IDLE_WAIT_S (65) s idle, per transport in BENCH_RSS_TRANSPORTS (spdy,websocket)
//     (bench/tunnel/rss.ts). An empty list (BENCH_RTT_MS=, BENCH_RSS_TRANSPORTS=) skips a part.
// BENCH_BEFORE_MAIN=<another build's dist/cli/main.js> adds its spdy daemon to part 2 as
// "loc (spdy, before)", measured in the same rounds (before/after of a change in one run).
// BENCH_KEEP_DIR=1 keeps the temp dir with the daemons' logs; BENCH_DAEMON_NODE_ARGS (e.g.
// --trace-gc) goes to the daemon processes' node.
// Daemons are real `loc daemon` processes (built dist/; `--transport`) when the build has that flag,
// else in process; BENCH_DAEMON=process|in-process forces one. All traffic stays on 127.0.0.0/8.
// The cluster is LOC_CLUSTER_NAME's (default loc-e2e).
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { runClusterScript } from "../test/cluster/cluster-script.js";
import { connect, createDeployment, createNamespace, createPodPortForward, createService, deleteNamespace, startTcpServer, waitForReadyPods } from "../test/cluster/helpers.js";
import { compareAt, compareTable, type CompareConfig } from "./tunnel/compare.js";
import { builtDaemonHasTransportFlag, type DaemonMode, type TransportName } from "./tunnel/daemons.js";
import { step } from "./tunnel/measure.js";
import { measureRss, rssFixture, rssTable, type RssConfig, type RssResult } from "./tunnel/rss.js";
import { startupBench } from "./tunnel/startup.js";

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const list = (name: string, fallback: string) => (process.env[name] ?? fallback).split(",").map((s) => s.trim()).filter(Boolean);
const SERVICES = env("BENCH_SERVICES", 1000);
const RTTS = list("BENCH_RTT_MS", "0,20").map(Number);
const RSS_TRANSPORTS = list("BENCH_RSS_TRANSPORTS", "spdy,websocket") as TransportName[];
const forced = process.env.BENCH_DAEMON as DaemonMode | undefined;
const daemonMode: DaemonMode = forced ?? (builtDaemonHasTransportFlag() ? "process" : "in-process");
const load = () => loadavg().map((v) => v.toFixed(2)).join(" ");

const kubeconfig = await runClusterScript("up");
const bin = await runClusterScript("bin");
const kube = connect(kubeconfig);
const dir = mkdtempSync(join(tmpdir(), "loc-bench-tunnel-"));
const namespace = await createNamespace(kube, "loc-bench");
let failed = true;
// Kept when the run fails or BENCH_KEEP_DIR is set: the daemons' logs are in it.
const removeDir = async () => (failed || process.env.BENCH_KEEP_DIR ? console.error(`[bench] kept ${dir} (daemon logs)`) : rmSync(dir, { recursive: true, force: true }));
const cleanups: (() => Promise<unknown>)[] = [removeDir, () => deleteNamespace(kube, namespace)];
const report: string[] = [`daemons: ${daemonMode === "process" ? "loc daemon processes (dist/)" : "in process (Daemon class)"}; load average at start ${load()}`];
const print = (text: string) => (console.log(text), report.push(text));

try {
  if (SERVICES > 0) print(await startupBench(kube, namespace, SERVICES, dir));

  // One pod whose port 9000 streams the transfer size to every connection and port 9001 echoes.
  const transferBytes = env("BENCH_TRANSFER_MB", 256) * 1024 * 1024;
  const chunk = Buffer.alloc(1024 * 1024, 7);
  const blaster = await startTcpServer((socket) => {
    let sent = 0;
    const pump = () => {
      while (sent < transferBytes) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once("drain", pump);
      }
      socket.end();
    };
    pump();
  });
  // kwok keeps its connection to the pod side open after the client's stream is gone, until the pod
  // side closes: an echo that never hung up left one open connection in kwok per client connection,
  // and at kwok's 20,000 open files every new connection failed (seen: 19,785 established). Closing
  // after 5 s of silence bounds that; every measured exchange is over long before.
  const echo = await startTcpServer((socket) => {
    socket.setTimeout(5_000, () => socket.destroy());
    socket.pipe(socket);
  });
  cleanups.push(() => blaster.close(), () => echo.close());
  await createDeployment(kube, namespace, "bulk", 1, { labels: { app: "bulk" }, ports: [{ containerPort: 9000 }, { containerPort: 9001 }] });
  await createService(kube, namespace, "bulk", { app: "bulk" }, [
    { name: "blast", port: 9000 },
    { name: "echo", port: 9001 },
  ]);
  step("waiting for the bulk pod");
  const [pod] = await waitForReadyPods(kube, namespace, { app: "bulk" }, 1, { timeoutMs: 300_000 });
  const podName = pod?.metadata?.name ?? "";
  await createPodPortForward(kube, namespace, podName, [
    { ports: [9000], target: { address: "127.0.0.1", port: blaster.port } },
    { ports: [9001], target: { address: "127.0.0.1", port: echo.port } },
  ]);

  const compare: CompareConfig = {
    kubectl: join(bin, "kubectl"),
    kubeconfig,
    namespace,
    pod: podName,
    blastPort: 9000,
    echoPort: 9001,
    daemonMode,
    dir,
    latencySamples: env("BENCH_LATENCY_SAMPLES", 1000),
    latencyRound: env("BENCH_LATENCY_ROUND", 50),
    concurrentConnections: env("BENCH_CONCURRENT", 100),
    concurrentRounds: env("BENCH_CONCURRENT_ROUNDS", 5),
    transferBytes,
    transferRounds: env("BENCH_TRANSFER_ROUNDS", 3),
    beforeMain: process.env.BENCH_BEFORE_MAIN,
  };
  for (const [index, rtt] of RTTS.entries()) {
    const results = await compareAt(compare, rtt, index);
    print(`\n${compareTable(results, compare, rtt)}\n(load average after: ${load()})`);
  }

  if (RSS_TRANSPORTS.length > 0) {
    const rss: RssConfig = {
      kube,
      kubeconfig,
      daemonMode,
      dir,
      echo,
      services: env("BENCH_IDLE_SERVICES", 1000),
      pods: env("BENCH_IDLE_PODS", 1000),
      connections: env("BENCH_RSS_CONNECTIONS", 10_000),
      connectionConcurrency: env("BENCH_RSS_CONCURRENCY", 10),
      idleWaitS: env("BENCH_RSS_IDLE_WAIT_S", 65),
    };
    const fixture = await rssFixture(rss);
    cleanups.push(() => fixture.cleanup());
    const results: RssResult[] = [];
    for (const [index, transport] of RSS_TRANSPORTS.entries()) {
      results.push(await measureRss(rss, fixture, transport, index));
      // Each transport's row as soon as it is known: the whole part takes many minutes.
      step(`rss so far:\n${rssTable(results, rss)}`);
    }
    print(`\n${rssTable(results, rss)}\n(load average after: ${load()})`);
  }
  console.error(`\n[bench] summary\n${report.join("\n")}`);
  failed = false;
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error(`cleanup: ${String(error)}`));
}
process.exit(0);
