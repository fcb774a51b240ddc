// Daemon memory: RSS with no Services, with `services` idle forwarding tunnels (spread over `pods`
// pods), and while and after `connections` connections go through those tunnels. A daemon process
// is sampled from /proc/<pid>/status as it is; in process, the bench's own RSS after a full GC minus
// its RSS before the daemon started.
import { setTimeout as sleep } from "node:timers/promises";
import v8 from "node:v8";
import vm from "node:vm";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { createClusterPortForward, createNamespace, createService, deleteClusterPortForward, kwokPlacement, neverPulledImage, waitFor, waitForReadyPods, type Kube, type TcpServerHandle } from "../../test/cluster/helpers.js";
import { rssKb, startDaemon, waitForwarding, type BenchDaemon, type DaemonMode, type TransportName } from "./daemons.js";
import { exchange, fmt, median, step, withConcurrency } from "./measure.js";

export interface RssConfig {
  kube: Kube;
  kubeconfig: string;
  daemonMode: DaemonMode;
  dir: string;
  /** The pods' every port answers here (an echo server). */
  echo: TcpServerHandle;
  services: number;
  pods: number;
  connections: number;
  connectionConcurrency: number;
  /** Seconds to wait after the connections for sessions to close idle (spdy: 60 s); 0 skips it. */
  idleWaitS: number;
}

export interface RssResult {
  transport: TransportName;
  mode: DaemonMode;
  emptyMb: number;
  idleMb: number;
  /** After each fifth of the connections. */
  duringMb: number[];
  afterMb: number;
  afterIdleCloseMb: number | undefined;
}

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

export interface RssFixture {
  empty: string;
  populated: string;
  cleanup(): Promise<void>;
}

/** An empty namespace, and one with `services` Services over a StatefulSet of `pods` pods. */
export async function rssFixture(config: RssConfig): Promise<RssFixture> {
  const { kube } = config;
  const empty = await createNamespace(kube, "loc-bench-empty");
  const populated = await createNamespace(kube, "loc-bench-idle");
  const forward = `${populated}-echo`;
  await createClusterPortForward(kube, forward, { matchNamespaces: [populated] }, [{ ports: [], target: { address: "127.0.0.1", port: config.echo.port } }]);
  const labels = { app: "idle" };
  await kube.apps.createNamespacedStatefulSet({
    namespace: populated,
    body: {
      metadata: { name: "idle" },
      spec: {
        replicas: config.pods,
        serviceName: "idle",
        podManagementPolicy: "Parallel",
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: { containers: [{ name: "app", image: neverPulledImage, ports: [{ containerPort: 80 }] }], ...kwokPlacement, tolerations: [...kwokPlacement.tolerations], terminationGracePeriodSeconds: 0 },
        },
      },
    },
  });
  step(`rss: waiting for ${config.pods} pods`);
  await waitForReadyPods(kube, populated, labels, config.pods, { timeoutMs: 600_000, intervalMs: 2_000 });
  for (let i = 0; i < config.services; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, config.services - i) }, (_, j) =>
        createService(kube, populated, `idle${i + j}`, { "statefulset.kubernetes.io/pod-name": `idle-${(i + j) % config.pods}` }, [{ port: 80 }]),
      ),
    );
  }
  step(`rss: waiting for ${config.services} EndpointSlices with an endpoint`);
  await waitFor(
    "EndpointSlices",
    async () => {
      const slices = await kube.discovery.listNamespacedEndpointSlice({ namespace: populated });
      return slices.items.filter((s) => (s.endpoints ?? []).length > 0).length >= config.services ? true : undefined;
    },
    { timeoutMs: 300_000, intervalMs: 1_000 },
  );
  return {
    empty,
    populated,
    cleanup: async () => {
      await deleteClusterPortForward(kube, forward);
      await Promise.all([empty, populated].map((name) => kube.core.deleteNamespace({ name })));
    },
  };
}

/** Median of 5 samples a second apart, MB. */
async function sample(daemon: BenchDaemon, baselineKb: number): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < 5; i++) {
    await sleep(1_000);
    if (daemon.mode === "in-process") gc();
    values.push((rssKb(daemon.pid) - baselineKb) / 1024);
  }
  return median(values);
}

export async function measureRss(config: RssConfig, fixture: RssFixture, transport: TransportName, index: number): Promise<RssResult> {
  const start = async (namespace: string, range: string) => {
    if (config.daemonMode === "in-process") gc();
    const baselineKb = config.daemonMode === "in-process" ? rssKb(process.pid) : 0;
    const daemon = await startDaemon({ mode: config.daemonMode, transport, kubeconfig: config.kubeconfig, namespace, ipRange: range, dir: mkdtempSync(join(config.dir, `rss-${transport}-`)) });
    return { daemon, baselineKb };
  };
  step(`rss (${transport}): empty daemon`);
  const empty = await start(fixture.empty, `127.7${index}.0.0/16`);
  const emptyMb = await sample(empty.daemon, empty.baselineKb);
  await empty.daemon.stop();

  step(`rss (${transport}): ${config.services} tunnels`);
  const { daemon, baselineKb } = await start(fixture.populated, `127.8${index}.0.0/16`);
  try {
    const tunnels = await waitForwarding(daemon, config.services, 600_000);
    await sleep(2_000);
    const idleMb = await sample(daemon, baselineKb);
    step(`rss (${transport}): ${config.connections} connections, ${config.connectionConcurrency} at a time`);
    const request = Buffer.alloc(64, 2);
    const duringMb: number[] = [];
    const batch = Math.ceil(config.connections / 5);
    for (let done = 0; done < config.connections; done += batch) {
      await withConcurrency(Math.min(batch, config.connections - done), config.connectionConcurrency, async (i) => {
        const tunnel = tunnels[(done + i) % tunnels.length];
        await exchange({ host: tunnel?.ip ?? "", port: 80 }, request);
      });
      if (daemon.mode === "in-process") gc();
      duringMb.push((rssKb(daemon.pid) - baselineKb) / 1024);
    }
    const afterMb = await sample(daemon, baselineKb);
    let afterIdleCloseMb: number | undefined;
    if (config.idleWaitS > 0) {
      step(`rss (${transport}): waiting ${config.idleWaitS} s for idle sessions to close`);
      await sleep(config.idleWaitS * 1000);
      afterIdleCloseMb = await sample(daemon, baselineKb);
    }
    return { transport, mode: config.daemonMode, emptyMb, idleMb, duringMb, afterMb, afterIdleCloseMb };
  } finally {
    await daemon.stop();
  }
}

export function rssTable(results: RssResult[], config: RssConfig): string {
  const per100 = (r: RssResult) => ((r.idleMb - r.emptyMb) / config.services) * 100;
  return [
    `Daemon RSS (${results[0]?.mode === "process" ? "loc daemon process, VmRSS" : "in process: bench RSS after GC minus before the daemon"}; medians of 5 samples 1 s apart). ${config.services} Services over ${config.pods} pods; ${config.connections} connections (${config.connectionConcurrency} at a time, 64 B echoed, round-robin over the tunnels).`,
    "",
    `| transport | empty daemon | ${config.services} idle tunnels | per 100 tunnels above empty | after each fifth of ${config.connections} connections | after (settled) | after idle close (${config.idleWaitS} s) |`,
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...results.map(
      (r) =>
        `| ${r.transport} | ${fmt(r.emptyMb)} MB | ${fmt(r.idleMb)} MB | ${fmt(per100(r), 2)} MB | ${r.duringMb.map((v) => fmt(v, 0)).join(" / ")} MB | ${fmt(r.afterMb)} MB | ${r.afterIdleCloseMb === undefined ? "—" : `${fmt(r.afterIdleCloseMb)} MB`} |`,
    ),
  ].join("\n");
}
