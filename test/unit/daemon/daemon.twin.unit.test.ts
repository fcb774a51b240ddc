import net from "node:net";
import { Duplex } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { HostEntry } from "../../../src/hosts/host-entry.js";
import { Daemon, type DaemonConfig } from "../../../src/daemon/daemon.js";
import { parseLoopbackRange } from "../../../src/daemon/ip-allocator.js";
import { MemoryCluster } from "../../support/memory-cluster.js";
import type { ServiceObject } from "../../../src/kube/service-model.js";
import { MemoryEventStore } from "../../support/memory-store.js";
import type { ForwardTransport, PodRef, PodTarget, SessionEvent, SessionState } from "../../../src/transports/transport.js";
import { ask } from "../../helpers/ask.js";

const SERVICES = "/api/v1/services";
const SLICES = "/apis/discovery.k8s.io/v1/endpointslices";

/** A "pod" that answers every write with `<pod>:<port>|<data>`, so tests see where bytes went. */
class TaggingEcho extends Duplex {
  constructor(private readonly tag: string) {
    super();
  }
  override _read(): void {}
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.push(`${this.tag}|${chunk.toString()}`);
    cb();
  }
  override _final(cb: () => void): void {
    this.push(null);
    cb();
  }
}

const transport: ForwardTransport & { opened: PodTarget[] } = {
  kind: "forward",
  name: "test",
  opened: [],
  async open(target) {
    this.opened.push(target);
    return new TaggingEcho(`${target.pod}:${target.port}`);
  },
};

function service(ns: string, name: string, ports: { name?: string; port: number; targetPort: number | string }[], headless = false) {
  return { metadata: { namespace: ns, name }, spec: { clusterIP: headless ? "None" : "10.96.0.9", selector: { app: name }, ports } };
}
function slice(ns: string, svc: string, pods: { pod: string; ready?: boolean; hostname?: string }[], ports: { name?: string; port: number }[]) {
  return {
    metadata: { namespace: ns, name: `${svc}-x`, labels: { "kubernetes.io/service-name": svc } },
    addressType: "IPv4",
    ports,
    endpoints: pods.map((p) => ({ addresses: ["10.0.0.1"], hostname: p.hostname, conditions: { ready: p.ready ?? true }, targetRef: { kind: "Pod", name: p.pod } })),
  };
}

const daemons: Daemon[] = [];
afterEach(async () => {
  for (const daemon of daemons.splice(0)) await daemon.stop("test over");
});

function startDaemon(cluster: MemoryCluster, store = new MemoryEventStore(), range = "127.77.0.0/24", forward: ForwardTransport = transport, log?: (line: string) => void, more: Partial<DaemonConfig> = {}) {
  const writes: HostEntry[][] = [];
  const daemon = new Daemon({
    watchPort: cluster,
    transport: forward,
    store,
    hosts: { update: (entries) => void writes.push([...entries]), remove: async () => void writes.push([]) },
    hostsFile: "/tmp/test-hosts",
    scope: { namespaces: [], excludeNamespaces: ["kube-system"], labelSelector: undefined },
    clusterDomain: "cluster.local",
    ipRange: parseLoopbackRange(range),
    version: "test",
    log,
    ...more,
  });
  daemons.push(daemon);
  daemon.start();
  return { daemon, writes, store };
}

describe("Daemon (in-memory cluster twin)", () => {
  it("tunnels each service on its own IP with its names, resolves named ports, skips ExternalName and kube-system", async () => {
    const cluster = new MemoryCluster();
    cluster.upsert(SERVICES, service("shop", "web", [{ name: "http", port: 18080, targetPort: "web" }]));
    cluster.upsert(SLICES, slice("shop", "web", [{ pod: "web-1" }, { pod: "web-2" }], [{ name: "http", port: 8080 }]));
    const externalName: ServiceObject = { metadata: { namespace: "shop", name: "ext" }, spec: { type: "ExternalName", externalName: "example.com" } };
    cluster.upsert(SERVICES, externalName);
    cluster.upsert(SERVICES, service("kube-system", "dns", [{ port: 18053, targetPort: 53 }]));
    const { daemon, writes, store } = startDaemon(cluster);
    await daemon.ready;
    await vi.waitFor(() => expect(daemon.status().tunnels[0]?.state).toBe("forwarding"));

    const [tunnel] = daemon.status().tunnels;
    expect(daemon.status().tunnels).toHaveLength(1);
    expect(tunnel).toMatchObject({ key: "shop/web", pod: "web-1", ip: "127.77.0.1", ports: ["18080->8080/tcp"] });
    expect(writes.at(-1)).toEqual([{ ip: "127.77.0.1", names: ["web", "web.shop", "web.shop.svc", "web.shop.svc.cluster.local"] }]);
    expect(daemon.status().skipped).toEqual([{ namespace: "shop", name: "ext", reason: expect.stringMatching(/^ExternalName/) }]);
    expect(await ask("127.77.0.1", 18080, "hello")).toBe("web-1:8080|hello");
    expect(store.read({ service: "shop/web" }).map((e) => e.type)).toEqual(["address.assigned", "tunnel.waitingForEndpoints", "tunnel.connecting", "tunnel.forwarding"]);
  });

  it("moves to another ready pod when the serving one goes away, and waits when none is left", async () => {
    const cluster = new MemoryCluster();
    cluster.upsert(SERVICES, service("shop", "web", [{ port: 18081, targetPort: 8080 }]));
    cluster.upsert(SLICES, slice("shop", "web", [{ pod: "web-1" }, { pod: "web-2" }], [{ port: 8080 }]));
    const { daemon, store } = startDaemon(cluster);
    await vi.waitFor(() => expect(daemon.status().tunnels[0]).toMatchObject({ state: "forwarding", pod: "web-1" }));
    cluster.upsert(SLICES, slice("shop", "web", [{ pod: "web-1", ready: false }, { pod: "web-2" }], [{ port: 8080 }]));
    await vi.waitFor(() => expect(daemon.status().tunnels[0]).toMatchObject({ state: "forwarding", pod: "web-2" }));
    expect(await ask("127.77.0.1", 18081, "x")).toBe("web-2:8080|x");
    cluster.upsert(SLICES, slice("shop", "web", [], [{ port: 8080 }]));
    await vi.waitFor(() => expect(daemon.status().tunnels[0]).toMatchObject({ state: "waitingForEndpoints", reason: "no ready endpoints" }));
    const story = store.read({ service: "shop/web" }).map((e) => (e.known && "pod" in e.data ? `${e.type} ${e.data.pod}` : e.type));
    expect(story.slice(-4)).toEqual(["tunnel.forwarding web-1", "tunnel.connecting web-2", "tunnel.forwarding web-2", "tunnel.waitingForEndpoints"]);
  });

  it("gives a headless service's pods their own IPs and names, and keeps IPs across a restart", async () => {
    const cluster = new MemoryCluster();
    cluster.upsert(SERVICES, service("data", "db", [{ port: 15432, targetPort: 5432 }], true));
    cluster.upsert(SLICES, slice("data", "db", [{ pod: "db-0", hostname: "db-0" }, { pod: "db-1", hostname: "db-1" }], [{ port: 5432 }]));
    const store = new MemoryEventStore();
    const first = startDaemon(cluster, store);
    await first.daemon.ready;
    const ips = Object.fromEntries(first.daemon.status().tunnels.map((t) => [t.key, t.ip]));
    expect(Object.keys(ips).sort()).toEqual(["data/db", "data/db/db-0", "data/db/db-1"]);
    expect(new Set(Object.values(ips)).size).toBe(3);
    const names = first.writes.at(-1)?.flatMap((e) => e.names) ?? [];
    expect(names).toContain("db-1.db.data.svc.cluster.local");
    await vi.waitFor(() => expect(first.daemon.status().tunnels.every((t) => t.state === "forwarding")).toBe(true));
    expect(await ask(ips["data/db/db-1"] ?? "", 15432, "q")).toBe("db-1:5432|q");
    await first.daemon.stop("restart");
    daemons.splice(0);
    expect(first.writes.at(-1)).toEqual([]);

    // A second daemon on the same log sees services in another order, yet keeps every address.
    cluster.upsert(SERVICES, service("data", "aaa", [{ port: 15433, targetPort: 1 }]));
    const second = startDaemon(cluster, store);
    await second.daemon.ready;
    for (const [key, ip] of Object.entries(ips)) expect(second.daemon.status().tunnels.find((t) => t.key === key)?.ip).toBe(ip);
  });

  it("reports watch failures in status and history, and recovers", async () => {
    const cluster = new MemoryCluster();
    cluster.failNext(SERVICES);
    const { daemon, store } = startDaemon(cluster);
    // The retry may come within milliseconds, so record what every change showed rather than poll.
    const problemsSeen: string[] = [];
    daemon.onChange(() => problemsSeen.push(...daemon.status().watchProblems.map((p) => `${p.resource}: ${p.message}`)));
    await daemon.ready;
    expect(problemsSeen).toContain("services: connection refused");
    expect(store.read({ types: ["watch.failed"] })).toHaveLength(1);
    expect(daemon.status().watchProblems).toEqual([]);
  });

  it("with a multiplexing transport: shows each tunnel's pod session, records sessions (not connections), closes them at stop", async () => {
    const sessions = new Map<string, SessionState>();
    const listeners = new Set<(event: SessionEvent) => void>();
    const emit = (event: SessionEvent) => listeners.forEach((listener) => listener(event));
    const key = (pod: PodRef) => `${pod.namespace}/${pod.pod}`;
    const multiplexed: ForwardTransport = {
      kind: "forward",
      name: "mux",
      async open(target) {
        if (!sessions.has(key(target))) emit({ type: "opened", pod: target, path: "websocket", ms: 1 });
        sessions.set(key(target), "up");
        return new TaggingEcho(`${target.pod}:${target.port}`);
      },
      sessionState: (pod) => sessions.get(key(pod)) ?? "none",
      onSessionEvent: (listener) => (listeners.add(listener), () => listeners.delete(listener)),
      close: () => sessions.forEach((_, k) => emit({ type: "closed", pod: { namespace: "shop", pod: k.split("/")[1] ?? "" }, reason: "closed", cause: "shutdown" })),
    };
    const cluster = new MemoryCluster();
    cluster.upsert(SERVICES, service("shop", "web", [{ port: 18082, targetPort: 8080 }]));
    cluster.upsert(SLICES, slice("shop", "web", [{ pod: "web-1" }], [{ port: 8080 }]));
    const { daemon, store } = startDaemon(cluster, new MemoryEventStore(), "127.77.0.0/24", multiplexed);
    await vi.waitFor(() => expect(daemon.status().tunnels[0]).toMatchObject({ state: "forwarding", session: "up" }));
    expect(daemon.status().transport).toBe("mux");
    for (let i = 0; i < 5; i++) expect(await ask("127.77.0.1", 18082, `x${i}`)).toBe(`web-1:8080|x${i}`);
    // The session is lost: the next connection replaces it, and history says so.
    sessions.clear();
    emit({ type: "closed", pod: { namespace: "shop", pod: "web-1" }, reason: "socket closed", cause: "lost" });
    expect(daemon.status().tunnels[0]?.session).toBe("none");
    expect(await ask("127.77.0.1", 18082, "again")).toBe("web-1:8080|again");
    await daemon.stop("test over");
    const types = store.read({ stream: "session:shop/web-1" }).map((e) => e.type);
    expect(types).toEqual(["session.opened", "session.lost", "session.replaced", "session.closed"]);
  });

  it("probes at most its probe slots' worth of pods at once, and every tunnel still comes up", async () => {
    let running = 0;
    let most = 0;
    const probed: string[] = [];
    const slow: ForwardTransport = {
      ...transport,
      async probe(target) {
        running += 1;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        probed.push(target.pod);
        running -= 1;
      },
    };
    const cluster = new MemoryCluster();
    for (let i = 0; i < 30; i++) {
      cluster.upsert(SERVICES, service("shop", `web${i}`, [{ port: 18090, targetPort: 8080 }]));
      cluster.upsert(SLICES, slice("shop", `web${i}`, [{ pod: `web${i}-1` }], [{ port: 8080 }]));
    }
    const { daemon } = startDaemon(cluster, new MemoryEventStore(), "127.77.0.0/24", slow, undefined, { probeSlots: 3 });
    await vi.waitFor(() => expect(daemon.status().tunnels.filter((t) => t.state === "forwarding")).toHaveLength(30), { timeout: 5_000 });
    expect(probed).toHaveLength(30);
    expect(most).toBe(3);
  });

  it("a Service whose address and port another process holds is listed with why and said once, never just missing", async () => {
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(18083, "127.77.0.1", resolve));
    try {
      const cluster = new MemoryCluster();
      cluster.upsert(SERVICES, service("shop", "web", [{ port: 18083, targetPort: 8080 }]));
      cluster.upsert(SLICES, slice("shop", "web", [{ pod: "web-1" }], [{ port: 8080 }]));
      const lines: string[] = [];
      const { daemon, store } = startDaemon(cluster, new MemoryEventStore(), "127.77.0.0/24", transport, (line) => lines.push(line));
      await daemon.ready;
      expect(daemon.status().tunnels).toEqual([]);
      expect(daemon.status().skipped).toEqual([{ namespace: "shop", name: "web", reason: expect.stringMatching(/^cannot listen on 127\.77\.0\.1: .*EADDRINUSE/) }]);
      // Another pass (an unrelated change) retries without saying it again.
      cluster.upsert(SERVICES, service("shop", "other", [{ port: 18084, targetPort: 8080 }]));
      await vi.waitFor(() => expect(daemon.status().tunnels.map((t) => t.name)).toEqual(["other"]));
      expect(lines.filter((line) => line.includes("shop/web: cannot listen"))).toHaveLength(1);
      expect(store.read({ service: "shop/web" }).filter((e) => e.type === "tunnel.stopped")).toHaveLength(1);
      // The Service goes: so does its row.
      cluster.remove(SERVICES, "shop", "web");
      await vi.waitFor(() => expect(daemon.status().skipped).toEqual([]));
    } finally {
      squatter.close();
    }
  });
});
