// loc expose end to end inside one process: the real CLI, the real socket server and ExposeManager,
// over the cluster twin and a fake reverse transport (the real ones have their own e2e tests).
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "../../../../src/cli/program.js";
import type { DaemonCore } from "../../../../src/daemon/core.js";
import type { DaemonStatus } from "../../../../src/ipc/protocol.js";
import { ExposeManager } from "../../../../src/daemon/expose-manager.js";
import { serveDaemon } from "../../../../src/ipc/server.js";
import type { WorkloadRef } from "../../../../src/kube/expose-cluster.js";
import { MemoryExposeCluster } from "../../../support/memory-expose-cluster.js";
import { TransportRegistry } from "../../../../src/transports/registry.js";
import type { NewEvent } from "../../../../src/store/events.js";
import { FakeReverseTransport } from "../../../helpers/fake-reverse.js";
import { loc } from "../../../helpers/run-cli.js";
import { tempDir } from "../../../helpers/temp.js";

const WEB: WorkloadRef = { kind: "Deployment", namespace: "shop", name: "web" };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function daemonWithExposes() {
  const stateDir = join(tempDir(), "s");
  const cluster = new MemoryExposeCluster();
  cluster.addNamespace("shop");
  cluster.addService({ metadata: { namespace: "shop", name: "web" }, spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } });
  cluster.addDeployment("shop", "web", 2, { app: "web" });
  const transport = new FakeReverseTransport();
  const recorded: { stream: string; event: NewEvent }[] = [];
  const exposes = new ExposeManager({
    cluster,
    transports: new TransportRegistry().register(transport),
    owner: "alice.laptop",
    record: (stream, event) => recorded.push({ stream, event }),
    pollMs: 5,
  });
  const core: DaemonCore = {
    status: (): DaemonStatus => ({ pid: 1, startedAt: 0, scope: "all", hostsFile: "/etc/hosts", tunnels: [], skipped: [], watchProblems: [], exposes: exposes.statuses() }),
    onChange: (l) => exposes.onChange(l),
    exposes,
  };
  const { mkdirSync } = await import("node:fs");
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const server = await serveDaemon(core, stateDir);
  cleanups.push(async () => {
    await exposes.stopAll("test over");
    await server.close();
  });
  return { stateDir, cluster, transport, exposes, recorded, run: (args: string[]) => loc(["expose", "--state-dir", stateDir, ...args]) };
}

function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  return lines[0] ?? "";
}

describe("loc expose refuses bad input with one line and a hint", () => {
  it.each([
    [["web"], 'loc: "web" is not a service reference (hint: write it as namespace/service, e.g. default/web (lowercase letters, digits and \'-\'))'],
    [["shop/web", "--map", "3000"], 'loc: --map "3000" is not LOCAL:REMOTE (hint: write it as --map LOCAL:REMOTE, e.g. --map 3000:8080 (REMOTE is a port of the Service, or its name))'],
    [["shop/web", "--ready-timeout", "soon"], "loc: --ready-timeout soon is not a duration (hint: e.g. --ready-timeout 90s or --ready-timeout 2m)"],
    [["shop/web", "--overrides", "[1]"], `loc: --overrides is not a JSON object (hint: e.g. --overrides '{"spec":{"nodeSelector":{"pool":"dev"}}}')`],
  ])("%j", async (args, line) => {
    const { code, stderr } = await loc(["expose", "--state-dir", join(tempDir(), "s"), ...args]);
    expect(code).not.toBe(0);
    expect(oneLine(stderr)).toBe(line);
  });

  it("no daemon running", async () => {
    const stateDir = join(tempDir(), "s");
    const { code, stderr } = await loc(["expose", "--state-dir", stateDir, "shop/web"]);
    expect(code).toBe(1);
    expect(oneLine(stderr)).toBe(`loc: no loc daemon is running (no socket at ${stateDir}/daemon.sock) (hint: start one with: sudo loc daemon)`);
  });

  it("an unknown transport lists the available ones", async () => {
    const { run, cluster } = await daemonWithExposes();
    const { code, stderr } = await run(["shop/web", "--transport", "carrier-pigeon"]);
    expect(code).toBe(1);
    expect(oneLine(stderr)).toBe('loc: unknown transport "carrier-pigeon" (hint: available: fake)');
    expect(cluster.workload(WEB)?.replicas).toBe(2);
  });

  it("a missing service, reported with the resolver's own hint; nothing changed", async () => {
    const { run, cluster } = await daemonWithExposes();
    const { code, stdout, stderr } = await run(["shop/api", "--transport", "fake"]);
    expect(code).toBe(1);
    expect(stderr.trimEnd().split("\n").at(-1)).toBe("loc: expose of shop/api failed: service shop/api does not exist (hint: check the name: kubectl get services -n shop)");
    expect(stdout).toContain("resolving the service and its workloads");
    expect(cluster.calls.some((c) => c.operation === "scaleWorkload")).toBe(false);
  });

  it("--stop of a service that is not exposed", async () => {
    const { run } = await daemonWithExposes();
    const { code, stderr } = await run(["--stop", "shop/web"]);
    expect(code).toBe(1);
    expect(oneLine(stderr)).toBe("loc: shop/web is not exposed by this daemon (hint: loc list shows the running exposes)");
  });
});

describe("loc expose through the daemon", () => {
  it("--detach returns once active; loc list shows it; a second expose is refused; --stop undoes it", async () => {
    const { run, cluster, stateDir } = await daemonWithExposes();
    const started = await run(["shop/web", "--transport", "fake", "--map", "3000:http", "--detach"]);
    expect(started.stderr).toContain("loc: shop/web stays exposed in the daemon; stop it with: loc expose --stop shop/web");
    expect(started.code).toBe(0);
    expect(started.stdout.split("\n")).toEqual(
      expect.arrayContaining(["expose shop/web via fake, strategy scale (map 3000:http)", "  scaling down: Deployment/web 2→0", "    scale Deployment/web 2→0 …", "    scale Deployment/web ok", "  active: 8080→127.0.0.1:3000 through pod " + cluster.pods("shop").find((p) => p.labels["loc.dev/session"])?.name]),
    );
    expect(cluster.workload(WEB)?.replicas).toBe(0);

    const list = await loc(["list", "--state-dir", stateDir]);
    expect(list.stdout).toMatch(/EXPOSED\s+SESSION\s+STRATEGY\s+STATE/);
    expect(list.stdout).toMatch(/shop\/web\s+[0-9a-f]{8}\s+scale\s+active\s+-\s+loc-web-[0-9a-f]{8}\s+8080→127\.0\.0\.1:3000\s+Deployment\/web 2→0/);

    const again = await run(["shop/web", "--transport", "fake"]);
    expect(again.code).toBe(1);
    expect(oneLine(again.stderr)).toMatch(/^loc: shop\/web is already exposed by this machine \(session [0-9a-f]{8}\) \(hint: stop it first: loc expose --stop shop\/web\)$/);

    const stopped = await run(["--stop", "shop/web"]);
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain("stopped: stopped by loc expose --stop");
    expect(cluster.workload(WEB)).toMatchObject({ replicas: 2, annotations: {} });
    expect(cluster.pods("shop").filter((p) => p.labels["loc.dev/session"])).toEqual([]);
  });

  it("a foreground expose runs until Ctrl-C, then undoes everything and exits 0; --json streams NDJSON", async () => {
    const { stateDir, cluster, exposes } = await daemonWithExposes();
    const ctrlC = new AbortController();
    let stdout = "";
    const running = runCli(["expose", "--state-dir", stateDir, "shop/web", "--transport", "fake", "--json"], {
      stdout: (t) => (stdout += t),
      stderr: () => undefined,
      env: {},
      signal: ctrlC.signal,
    });
    while (exposes.statuses()[0]?.state !== "active") await new Promise((r) => setTimeout(r, 5));
    expect(cluster.workload(WEB)?.replicas).toBe(0);
    ctrlC.abort();
    expect(await running).toBe(0);
    const lines = stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as { type?: string; end?: { state: string } });
    expect(lines.at(-1)?.end).toEqual({ state: "stopped" });
    expect(lines.map((l) => l.type)).toContain("expose.active");
    expect(cluster.workload(WEB)?.replicas).toBe(2);
  });

  it("a foreground expose whose command dies is stopped and undone by the daemon", async () => {
    const { stateDir, cluster, exposes } = await daemonWithExposes();
    const { createConnection } = await import("node:net");
    const socket = createConnection(join(stateDir, "daemon.sock"));
    socket.write(JSON.stringify({ v: 1, id: 1, method: "expose", params: { service: "shop/web", transport: "fake", maps: [] } }) + "\n");
    while (exposes.statuses()[0]?.state !== "active") await new Promise((r) => setTimeout(r, 5));
    socket.destroy();
    while (exposes.statuses().length > 0) await new Promise((r) => setTimeout(r, 5));
    expect(cluster.workload(WEB)?.replicas).toBe(2);
  });
});
