import { afterEach, describe, expect, it, vi } from "vitest";
import { Daemon } from "../../../src/daemon/daemon.js";
import { parseLoopbackRange } from "../../../src/daemon/ip-allocator.js";
import { formatDaemonLine, formatWatchProblems } from "../../../src/cli/format-list.js";
import { KubeRequestError } from "../../../src/kube/cluster-port.js";
import { MemoryCluster } from "../../support/memory-cluster.js";
import { MemoryEventStore } from "../../support/memory-store.js";
import type { ForwardTransport } from "../../../src/transports/transport.js";

const SERVICES = "/api/v1/services";
const SERVER = "https://10.9.8.7:6443";
const transport: ForwardTransport = { kind: "forward", name: "test", open: () => Promise.reject(new Error("no pods in these tests")) };

const daemons: Daemon[] = [];
afterEach(async () => {
  for (const daemon of daemons.splice(0)) await daemon.stop("test over");
});

function startDaemon(cluster: MemoryCluster, options: { labelSelector?: string; backoffMs?: number; namespaces?: string[]; context?: string } = {}) {
  const lines: string[] = [];
  const { labelSelector, backoffMs = 5, namespaces = [] } = options;
  const daemon = new Daemon({
    watchPort: cluster,
    transport,
    store: new MemoryEventStore(),
    hosts: { update: () => undefined, remove: async () => undefined },
    hostsFile: "/tmp/test-hosts",
    scope: { namespaces, excludeNamespaces: namespaces.length ? [] : ["kube-system"], labelSelector },
    clusterDomain: "cluster.local",
    ipRange: parseLoopbackRange("127.78.0.0/24"),
    version: "test",
    backoff: { baseMs: backoffMs, capMs: backoffMs, resetAfterMs: 60_000 },
    cluster: { server: SERVER, context: "context" in options ? options.context : "dev", user: "alice" },
    log: (line) => lines.push(line),
  });
  daemons.push(daemon);
  daemon.start();
  return { daemon, lines };
}

const settled = (promise: Promise<unknown>) => Promise.race([promise.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 50))]);

describe("the daemon's start-up failures are fatal and said in one line", () => {
  it("a 400 from the first list (a selector the server refuses) ends it with the server's message", async () => {
    const cluster = new MemoryCluster();
    cluster.failNext(SERVICES, new KubeRequestError("unable to parse requirement: found '(', expected: identifier", 400));
    const { daemon } = startDaemon(cluster, { labelSelector: "a in (b" });
    const fatal = await daemon.fatal;
    expect(fatal.code).toBe("API_BAD_REQUEST");
    expect(fatal.toLine()).toBe(`loc: ${SERVER} refused to list services: unable to parse requirement: found '(', expected: identifier (HTTP 400) (hint: check -l/--selector "a in (b")`);
    expect(await settled(daemon.ready)).toBe(false);
  });

  it("a 401 names the user and context, with a command to check the login", async () => {
    const cluster = new MemoryCluster();
    cluster.failNext(SERVICES, new KubeRequestError("Unauthorized", 401));
    const fatal = await startDaemon(cluster).daemon.fatal;
    expect(fatal.toLine()).toBe(`loc: ${SERVER} refused the credentials of user "alice" (context "dev") (HTTP 401) (hint: log in again, then check: kubectl --context dev get services)`);
  });

  it("a 403 names the missing permission and the kubectl auth can-i command", async () => {
    const cluster = new MemoryCluster();
    cluster.failNext("/api/v1/namespaces/shop/services", new KubeRequestError('services is forbidden: User "alice" cannot list resource "services"', 403));
    const { daemon: scoped } = startDaemon(cluster, { namespaces: ["shop"], context: undefined });
    const fatal = await scoped.fatal;
    expect(fatal.code).toBe("API_FORBIDDEN");
    expect(fatal.toLine()).toBe(
      'loc: user "alice" may not list and watch services in shop (HTTP 403) (hint: check: kubectl auth can-i list services -n shop && kubectl auth can-i watch services -n shop)',
    );
  });
});

describe("start-up is over only once every collection listed", () => {
  it("Services list but EndpointSlices are forbidden: still fatal, naming EndpointSlices", async () => {
    const cluster = new MemoryCluster();
    cluster.failNext("/apis/discovery.k8s.io/v1/endpointslices", new KubeRequestError("endpointslices.discovery.k8s.io is forbidden", 403));
    const fatal = await startDaemon(cluster).daemon.fatal;
    expect(fatal.toLine()).toMatch(/^loc: user "alice" \(context "dev"\) may not list and watch endpointslices\.discovery\.k8s\.io in all namespaces \(HTTP 403\)/);
  });
});

describe("an unreachable API server is said out loud, never silently retried", () => {
  it("one line when it cannot be reached, none per retry, one when it answers again; loc list shows it meanwhile", async () => {
    const cluster = new MemoryCluster();
    for (let i = 0; i < 3; i++) cluster.failNext(SERVICES, new KubeRequestError(`request to ${SERVER}/api/v1/services failed, reason: connect ECONNREFUSED 10.9.8.7:6443`, undefined));
    const { daemon, lines } = startDaemon(cluster, { backoffMs: 300 });
    await vi.waitFor(() => expect(daemon.status().cluster?.state).toBe("failing"));
    const failing = daemon.status();
    expect(failing.cluster).toMatchObject({ state: "failing", problem: "unreachable", server: SERVER });
    const now = Date.now();
    expect(formatDaemonLine(failing, now)).toContain(`cluster ${SERVER} unreachable`);
    expect(formatWatchProblems(failing, now)).toEqual([expect.stringMatching(new RegExp(`^loc: cannot reach ${SERVER}: .*ECONNREFUSED.* \\(since \\d+s ago, next retry in \\d+s; the list may be out of date\\)$`))]);
    await daemon.ready;
    expect(daemon.status().cluster?.state).toBe("reachable");
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^loc daemon: cannot reach ${SERVER}: ECONNREFUSED; retrying with backoff \\(next in .* s, at most every 30 s\\) — tunnels will appear once it answers$`)),
      `loc daemon: ${SERVER} answers again; tunnels are being restored`,
    ]);
    expect(await settled(daemon.fatal)).toBe(false);
  });

  it("after start-up, a 403 or a failing credential plugin is said and retried, not fatal", async () => {
    const cluster = new MemoryCluster();
    const { daemon, lines } = startDaemon(cluster);
    await daemon.ready;
    cluster.failNext(SERVICES, new KubeRequestError("services is forbidden", 403));
    cluster.failNext(SERVICES, Object.assign(new Error("aws: token expired; run aws sso login"), { problem: "credentials" }));
    cluster.endWatches(new KubeRequestError("connection reset by peer (ECONNRESET)", undefined));
    await vi.waitFor(() => expect(lines.some((l) => l.includes("answers again"))).toBe(true));
    expect(lines[0]).toMatch(/^loc daemon: cannot reach .*: ECONNRESET/);
    expect(lines[1]).toMatch(/^loc daemon: user "alice" \(context "dev"\) may no longer watch services: services is forbidden \(HTTP 403\); .* check: kubectl auth can-i list services --all-namespaces/);
    expect(lines[2]).toMatch(/^loc daemon: cannot get credentials for user "alice" \(context "dev"\): aws: token expired; run aws sso login; .* log in again/);
    expect(await settled(daemon.fatal)).toBe(false);
  });
});
