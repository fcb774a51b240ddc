// Startup with many Services: the daemon (in process, real watch adapter) from its initial list to
// every listener bound, and the hosts block written once. No endpoints needed: every Service still
// gets its listeners.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Daemon } from "../../src/daemon/daemon.js";
import { parseLoopbackRange } from "../../src/daemon/ip-allocator.js";
import { HostsFileWriter } from "../../src/hosts/writer.js";
import { KubeWatchPort } from "../../src/kube/kube-watch-port.js";
import { MemoryEventStore } from "../../test/support/memory-store.js";
import { KubePortForwardTransport } from "../../src/transports/kube-port-forward.js";
import { createService, waitFor, type Kube } from "../../test/cluster/helpers.js";
import { step } from "./measure.js";

export async function startupBench(kube: Kube, namespace: string, services: number, dir: string): Promise<string> {
  for (let i = 0; i < services; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, services - i) }, (_, j) => createService(kube, namespace, `s${i + j}`, { app: `none-${i + j}` }, [{ port: 80 }])),
    );
  }
  // Let the EndpointSlice controller finish its slices first, so we time loc, not the controller.
  step("waiting for the EndpointSlice controller");
  await waitFor(`${services} EndpointSlices`, async () => {
    const slices = await kube.discovery.listNamespacedEndpointSlice({ namespace });
    return slices.items.length >= services ? true : undefined;
  }, { timeoutMs: 120_000, intervalMs: 500 });
  const hostsFile = join(dir, "hosts-startup");
  writeFileSync(hostsFile, "127.0.0.1 localhost\n");
  const hosts = new HostsFileWriter({ path: hostsFile });
  const daemon = new Daemon({
    watchPort: new KubeWatchPort(kube.config),
    transport: new KubePortForwardTransport(kube.config),
    store: new MemoryEventStore(),
    hosts,
    hostsFile,
    scope: { namespaces: [namespace], excludeNamespaces: [], labelSelector: undefined },
    clusterDomain: "cluster.local",
    ipRange: parseLoopbackRange("127.60.0.0/16"),
    version: "bench",
  });
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
  await Promise.all(Array.from({ length: services }, (_, i) => kube.core.deleteNamespacedService({ namespace, name: `s${i}` })));
  return `startup: ${tunnels} services listening in ${listening.toFixed(0)} ms, hosts written in ${withHosts.toFixed(0)} ms with ${writes} write(s) (target < 3000 ms, 1 write)`;
}
