// Daemon memory: RSS with no Services, with `services` idle forwarding tunnels (spread over `pods`
// pods), and while and after `connections` connections go through those tunnels. A daemon process
// is sampled from /proc/<pid>/status (VmRSS) as it is, then again after a full GC forced through its
// inspector (127.0.0.1): as-is RSS holds garbage V8 has not collected yet, after-GC shows what is
// retained. In process: the bench's own RSS minus its RSS before the daemon started.
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
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

/** RSS in MB as it is, and after a full GC. */
export interface RssPoint {
  asIs: number;
  gc: number;
  /** V8 heap in use after that GC. */
  heap: number;
}

export interface RssResult {
  transport: TransportName;
  mode: DaemonMode;
  empty: RssPoint;
  idle: RssPoint;
  /** From starting the daemon to every tunnel forwarding (each probed its pod). */
  forwardingMs: number;
  /** After each fifth of the connections. */
  during: RssPoint[];
  after: RssPoint;
  afterIdleClose: RssPoint | undefined;
  /** Connections that did not get their echo back, and the first few reasons. */
  failed: number;
  failures: string[];
}

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

/** Median of `count` samples a second apart as it is, then the same after a full GC; MB. */
async function sample(daemon: BenchDaemon, baselineKb: number, count = 3): Promise<RssPoint> {
  const series = async () => {
    const values: number[] = [];
    for (let i = 0; i < count; i++) {
      await sleep(1_000);
      values.push((rssKb(daemon.pid) - baselineKb) / 1024);
    }
    return median(values);
  };
  const asIs = await series();
  const heap = await daemon.collectGarbage();
  return { asIs, gc: await series(), heap };
}

export async function measureRss(config: RssConfig, fixture: RssFixture, transport: TransportName, index: number): Promise<RssResult> {
  const start = async (namespace: string, range: string) => {
    const inProcess = config.daemonMode === "in-process";
    const baselineKb = inProcess ? rssKb(process.pid) : 0;
    const dir = mkdtempSync(join(config.dir, `rss-${transport}-`));
    const daemon = await startDaemon({ mode: config.daemonMode, transport, kubeconfig: config.kubeconfig, namespace, ipRange: range, dir, inspect: true });
    return { daemon, baselineKb };
  };
  step(`rss (${transport}): empty daemon`);
  const empty = await start(fixture.empty, `127.7${index}.0.0/16`);
  const emptyRss = await sample(empty.daemon, empty.baselineKb);
  await empty.daemon.stop();

  step(`rss (${transport}): ${config.services} tunnels`);
  const started = performance.now();
  const { daemon, baselineKb } = await start(fixture.populated, `127.8${index}.0.0/16`);
  try {
    const tunnels = await waitForwarding(daemon, config.services, 600_000);
    const forwardingMs = performance.now() - started;
    await sleep(2_000);
    const idle = await sample(daemon, baselineKb);
    step(`rss (${transport}): ${config.connections} connections, ${config.connectionConcurrency} at a time`);
    const request = Buffer.alloc(64, 2);
    const during: RssPoint[] = [];
    let failed = 0;
    const failures: string[] = [];
    const batch = Math.ceil(config.connections / 5);
    for (let done = 0; done < config.connections; done += batch) {
      await withConcurrency(Math.min(batch, config.connections - done), config.connectionConcurrency, async (i) => {
        const tunnel = tunnels[(done + i) % tunnels.length];
        await exchange({ host: tunnel?.ip ?? "", port: 80 }, request).catch((error: Error) => {
          failed += 1;
          if (failures.length < 5) failures.push(`${new Date().toISOString().slice(11, 23)} ${error.message}`);
        });
      });
      during.push(await sample(daemon, baselineKb, 1));
    }
    const after = await sample(daemon, baselineKb);
    let afterIdleClose: RssPoint | undefined;
    if (config.idleWaitS > 0) {
      step(`rss (${transport}): waiting ${config.idleWaitS} s for idle sessions to close`);
      await sleep(config.idleWaitS * 1000);
      afterIdleClose = await sample(daemon, baselineKb);
    }
    if (failed > 0) step(`rss (${transport}): ${failed} connections failed, e.g. ${failures.join("; ")}\n${daemon.logTail()}`);
    return { transport, mode: config.daemonMode, empty: emptyRss, idle, forwardingMs, during, after, afterIdleClose, failed, failures };
  } finally {
    await daemon.stop();
  }
}

export function rssTable(results: RssResult[], config: RssConfig): string {
  const point = (p: RssPoint | undefined) => (p === undefined ? "—" : `${fmt(p.asIs)} / ${fmt(p.gc)} MB`);
  const per100 = (r: RssResult, key: keyof RssPoint) => fmt(((r.idle[key] - r.empty[key]) / config.services) * 100, 2);
  return [
    `Daemon RSS, ${results[0]?.mode === "process" ? "loc daemon processes (VmRSS)" : "in process (bench RSS minus before the daemon)"}, each cell "as is / after a forced full GC", ` +
      `medians of 3 samples 1 s apart (1 for the fifths). ${config.services} Services over ${config.pods} pods; ${config.connections} connections ` +
      `(${config.connectionConcurrency} at a time, 64 B echoed, round-robin over the tunnels).`,
    "",
    `| transport | empty daemon | ${config.services} idle tunnels (all forwarding after) | per 100 tunnels above empty | after each fifth of ${config.connections} connections: RSS after GC; V8 heap in use | after all | after ${config.idleWaitS} s idle | failed connections |`,
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...results.map(
      (r) =>
        `| ${r.transport} | ${point(r.empty)} | ${point(r.idle)} (${fmt(r.forwardingMs / 1000, 1)} s) | ${per100(r, "asIs")} / ${per100(r, "gc")} MB | ${r.during.map((p) => fmt(p.gc, 0)).join(" / ")} MB; heap ${r.during.map((p) => fmt(p.heap, 1)).join(" / ")} MB | ${point(r.after)} | ${point(r.afterIdleClose)} | ${r.failed} |`,
    ),
  ].join("\n");
}
