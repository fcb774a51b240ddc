// Tunnel benchmarks on the real test cluster (run: npm run bench:tunnel):
//  1. 1,000 Services from the daemon's initial list to every listener bound and one hosts write;
//  2. a 256 MB download and new-connection latency through a loc tunnel vs `kubectl port-forward`
//     to the same pod, measured in the same run. All traffic stays on loopback.
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Daemon } from "../src/daemon/daemon.js";
import { parseLoopbackRange } from "../src/daemon/ip-allocator.js";
import { HostsFileWriter } from "../src/hosts/writer.js";
import { KubeWatchPort } from "../src/kube/kube-watch-port.js";
import { MemoryEventStore } from "../src/store/memory-store.js";
import { KubePortForwardTransport } from "../src/transports/kube-port-forward.js";
import { SpdyPortForwardTransport } from "../src/transports/spdy-port-forward.js";
import type { ForwardTransport } from "../src/transports/transport.js";
import { runClusterScript } from "../test/cluster/cluster-script.js";
import {
  connect,
  createDeployment,
  createNamespace,
  createPodPortForward,
  createService,
  deleteNamespace,
  kubectlPortForward,
  startTcpServer,
  waitFor,
  waitForReadyPods,
} from "../test/cluster/helpers.js";
import { scratchDir } from "../test/helpers/temp.js";

const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);
const TRANSFER_BYTES = Number(process.env.BENCH_TRANSFER_MB ?? 256) * 1024 * 1024;
const LATENCY_SAMPLES = 50;
const step = (what: string) => console.error(`[bench] ${what}`);
const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * q))] ?? NaN;

const kubeconfig = await runClusterScript("up");
const bin = await runClusterScript("bin");
const kube = connect(kubeconfig);
const dir = scratchDir("loc-bench-");
const namespace = await createNamespace(kube, "loc-bench");
const cleanups: (() => Promise<unknown>)[] = [() => deleteNamespace(kube, namespace)];

function daemonFor(hostsFile: string, range: string, transport: ForwardTransport = new KubePortForwardTransport(kube.config)) {
  const hosts = new HostsFileWriter({ path: hostsFile });
  const daemon = new Daemon({
    watchPort: new KubeWatchPort(kube.config),
    transport,
    store: new MemoryEventStore(),
    hosts,
    hostsFile,
    scope: { namespaces: [namespace], excludeNamespaces: [], labelSelector: undefined },
    clusterDomain: "cluster.local",
    ipRange: parseLoopbackRange(range),
    version: "bench",
  });
  return { daemon, hosts };
}

try {
  // 1. Startup with many Services (no endpoints needed: every Service still gets its listeners).
  for (let i = 0; i < SERVICES; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, SERVICES - i) }, (_, j) => createService(kube, namespace, `s${i + j}`, { app: `none-${i + j}` }, [{ port: 80 }])),
    );
  }
  // Let the EndpointSlice controller finish its slices first, so we time loc, not the controller.
  step("waiting for the EndpointSlice controller");
  await waitFor(`${SERVICES} EndpointSlices`, async () => {
    const slices = await kube.discovery.listNamespacedEndpointSlice({ namespace });
    return slices.items.length >= SERVICES ? true : undefined;
  }, { timeoutMs: 120_000, intervalMs: 500 });
  const hostsFile = join(dir, "hosts");
  writeFileSync(hostsFile, "127.0.0.1 localhost\n");
  const { daemon, hosts } = daemonFor(hostsFile, "127.60.0.0/16");
  const t0 = performance.now();
  daemon.start();
  await daemon.ready;
  const listening = performance.now() - t0;
  await hosts.flush();
  const withHosts = performance.now() - t0;
  const tunnels = daemon.status().tunnels.length;
  const writes = hosts.writes;
  step("stopping the startup daemon");
  await daemon.stop("bench");
  step("deleting the services");
  console.log(`startup: ${tunnels} services listening in ${listening.toFixed(0)} ms, hosts written in ${withHosts.toFixed(0)} ms with ${writes} write(s) (target < 3000 ms, 1 write)`);
  await Promise.all(Array.from({ length: SERVICES }, (_, i) => kube.core.deleteNamespacedService({ namespace, name: `s${i}` })));

  // 2. One pod whose port 9000 streams TRANSFER_BYTES and port 9001 echoes.
  const chunk = Buffer.alloc(1024 * 1024, 7);
  const blaster = await startTcpServer((socket) => {
    let sent = 0;
    const pump = () => {
      while (sent < TRANSFER_BYTES) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once("drain", pump);
      }
      socket.end();
    };
    pump();
  });
  const echo = await startTcpServer((socket) => socket.pipe(socket));
  cleanups.push(() => blaster.close(), () => echo.close());
  await createDeployment(kube, namespace, "bulk", 1, { labels: { app: "bulk" }, ports: [{ containerPort: 9000 }, { containerPort: 9001 }] });
  await createService(kube, namespace, "bulk", { app: "bulk" }, [
    { name: "blast", port: 9000 },
    { name: "echo", port: 9001 },
  ]);
  step("waiting for the bulk pod");
  const [pod] = await waitForReadyPods(kube, namespace, { app: "bulk" }, 1);
  const podName = pod?.metadata?.name ?? "";
  await createPodPortForward(kube, namespace, podName, [
    { ports: [9000], target: { address: "127.0.0.1", port: blaster.port } },
    { ports: [9001], target: { address: "127.0.0.1", port: echo.port } },
  ]);
  step("starting the bulk daemon");
  const bulk = daemonFor(join(dir, "hosts"), "127.61.0.0/24");
  bulk.daemon.start();
  await bulk.daemon.ready;
  // The same Service through a second daemon on the spdy transport (one multiplexed session per pod).
  const spdyTransport = new SpdyPortForwardTransport(kube.config);
  const spdyBulk = daemonFor(join(dir, "hosts-spdy"), "127.62.0.0/24", spdyTransport);
  spdyBulk.daemon.start();
  await spdyBulk.daemon.ready;
  cleanups.push(async () => (await spdyBulk.daemon.stop("bench"), spdyTransport.close()));
  const forwardingIp = async (daemon: Daemon) => {
    const tunnel = () => daemon.status().tunnels.find((t) => t.key === `${namespace}/bulk`);
    for (let i = 0; i < 100 && tunnel()?.state !== "forwarding"; i++) await new Promise((r) => setTimeout(r, 100));
    if (tunnel()?.state !== "forwarding") throw new Error(`the bulk tunnel is not forwarding: ${JSON.stringify(daemon.status().tunnels)}`);
    return tunnel()?.ip ?? "";
  };
  const tunnelIp = await forwardingIp(bulk.daemon);
  const spdyIp = await forwardingIp(spdyBulk.daemon);
  step("starting kubectl port-forward");
  const kubectlBlast = await kubectlPortForward(join(bin, "kubectl"), kubeconfig, namespace, podName, 9000);
  const kubectlEcho = await kubectlPortForward(join(bin, "kubectl"), kubeconfig, namespace, podName, 9001);
  cleanups.push(() => bulk.daemon.stop("bench"), () => kubectlBlast.stop(), () => kubectlEcho.stop());

  // Done when every byte arrived: kwok's port-forward keeps the stream open after the pod side
  // ends (it waits for both directions), so "closed" is not a usable end signal here.
  const download = async (host: string, port: number) => {
    const started = performance.now();
    const socket = net.connect({ host, port });
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      socket.on("data", (data: Buffer) => {
        received += data.length;
        if (received >= TRANSFER_BYTES) resolve();
      });
      socket.on("close", () => reject(new Error(`received ${received} of ${TRANSFER_BYTES} bytes from ${host}:${port}`)));
    });
    const seconds = (performance.now() - started) / 1000;
    socket.destroy();
    return TRANSFER_BYTES / 1024 / 1024 / seconds;
  };
  const latency = async (host: string, port: number) => {
    const samples: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const started = performance.now();
      const socket = net.connect({ host, port }, () => socket.write("x"));
      await once(socket, "data");
      samples.push(performance.now() - started);
      socket.destroy();
    }
    return { p50: quantile(samples, 0.5), p95: quantile(samples, 0.95) };
  };
  step("measuring");
  // Alternate to spread any drift of the machine over both.
  const locMbps = [await download(tunnelIp, 9000)];
  const spdyMbps = [await download(spdyIp, 9000)];
  const kubectlMbps = [await download("127.0.0.1", kubectlBlast.localPort)];
  locMbps.push(await download(tunnelIp, 9000));
  spdyMbps.push(await download(spdyIp, 9000));
  kubectlMbps.push(await download("127.0.0.1", kubectlBlast.localPort));
  const loc = Math.max(...locMbps);
  const spdy = Math.max(...spdyMbps);
  const kubectl = Math.max(...kubectlMbps);
  const locLatency = await latency(tunnelIp, 9001);
  const spdyLatency = await latency(spdyIp, 9001);
  const kubectlLatency = await latency("127.0.0.1", kubectlEcho.localPort);
  const mb = TRANSFER_BYTES / 1024 / 1024;
  console.log(`${mb} MB download: loc ${loc.toFixed(0)} MB/s, kubectl port-forward ${kubectl.toFixed(0)} MB/s, ratio loc/kubectl ${(loc / kubectl).toFixed(2)} (best of 2 each)`);
  console.log(
    `new connection + first byte (${LATENCY_SAMPLES} sequential): loc p50 ${locLatency.p50.toFixed(1)} ms p95 ${locLatency.p95.toFixed(1)} ms, ` +
      `kubectl p50 ${kubectlLatency.p50.toFixed(1)} ms p95 ${kubectlLatency.p95.toFixed(1)} ms, p50 ratio loc/kubectl ${(locLatency.p50 / kubectlLatency.p50).toFixed(2)}`,
  );
  console.log(
    `spdy transport: ${mb} MB download ${spdy.toFixed(0)} MB/s (ratio spdy/kubectl ${(spdy / kubectl).toFixed(2)}); new connection + first byte ` +
      `p50 ${spdyLatency.p50.toFixed(1)} ms p95 ${spdyLatency.p95.toFixed(1)} ms, p50 ratio spdy/kubectl ${(spdyLatency.p50 / kubectlLatency.p50).toFixed(2)}`,
  );
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error(`cleanup: ${String(error)}`));
}
process.exit(0);
