// `npm run demo` end to end, as a newcomer runs it: every step's key output, and afterwards nothing
// it started still running (no process carrying the run's marker, no port it opened listening),
// with the test cluster, which the e2e harness owns, left running.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import net from "node:net";
import { afterAll, describe, expect, inject, it } from "vitest";
import { connect, freeLoopbackPort, waitFor } from "../../cluster/helpers.js";
import { runClusterScript } from "../../cluster/cluster-script.js";
import { ROOT } from "../../helpers/loc-process.js";
import { clusterCacheDir } from "../../../demo/cluster.js";

const kube = connect(inject("kubeconfig"));
const apiServer = new URL(kube.config.getCurrentCluster()?.server ?? "https://127.0.0.1:0").host;

interface DemoRun {
  child: ChildProcessWithoutNullStreams;
  /** Every process the run starts inherits this environment variable; it identifies them later. */
  marker: string;
  ports: { LOC_DEMO_LAPTOP_PORT: string; LOC_DEMO_POD_PORT: string };
  output(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const runs: DemoRun[] = [];

/** `npm run demo` in its own process group (as a terminal's foreground job), on free ports. */
async function startDemo(args: string[], env: NodeJS.ProcessEnv = {}): Promise<DemoRun> {
  const marker = `demo-e2e-${randomUUID()}`;
  const ports = { LOC_DEMO_LAPTOP_PORT: String(await freeLoopbackPort()), LOC_DEMO_POD_PORT: String(await freeLoopbackPort()) };
  const child = spawn("npm", ["run", "demo", "--", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...ports, ...env, LOC_DEMO_RUN: marker },
    detached: true,
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
  const run = { child, marker, ports, output: () => output, exit };
  runs.push(run);
  return run;
}

afterAll(async () => {
  // A failed assertion must not leave a demo behind for the next test file.
  for (const run of runs) {
    if (run.child.exitCode !== null || run.child.signalCode !== null || !run.child.pid) continue;
    try {
      process.kill(-run.child.pid, "SIGINT");
    } catch {
      // the group is gone already
    }
  }
  await Promise.all(runs.map((run) => run.exit));
});

/** Pids of live processes whose environment carries `marker` (children outlive a parent's exit). */
function processesOf(marker: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(`LOC_DEMO_RUN=${marker}`);
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

/** `ip:port` of every IPv4 socket listening now (Linux /proc/net/tcp: little-endian hex, state 0A). */
function listening(): Set<string> {
  const found = new Set<string>();
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const [, local, , state] = line.trim().split(/\s+/);
    if (state !== "0A" || !local) continue;
    const [hexIp = "", hexPort = ""] = local.split(":");
    const ip = (hexIp.match(/../g) ?? []).reverse().map((byte) => parseInt(byte, 16)).join(".");
    found.add(`${ip}:${parseInt(hexPort, 16)}`);
  }
  return found;
}

/** Every loopback `ip:port` the transcript names, except the API server's (the cluster's own). */
function addressesIn(output: string): string[] {
  return [...new Set(output.match(/\b127\.\d+\.\d+\.\d+:\d+\b/g) ?? [])].filter((address) => address !== apiServer);
}

/** The text of step `n` (from its `== n.` heading to the next one). */
function step(output: string, n: number): string {
  const start = output.indexOf(`\n== ${n}. `);
  const end = output.indexOf(`\n== ${n + 1}. `);
  expect(start, `no step ${n} in:\n${output}`).toBeGreaterThanOrEqual(0);
  return output.slice(start, end < 0 ? undefined : end);
}

async function expectNothingLeft(run: DemoRun, { ownCluster = false } = {}): Promise<void> {
  expect(processesOf(run.marker), "processes the demo started are still running").toEqual([]);
  const open = listening();
  // sshd's sessions start with a clean environment: their forward listener (the api pods' port) tells.
  const addresses = [...addressesIn(run.output()), `127.0.0.1:${run.ports.LOC_DEMO_LAPTOP_PORT}`, `127.0.0.1:${run.ports.LOC_DEMO_POD_PORT}`];
  expect(addresses.length).toBeGreaterThanOrEqual(6);
  expect(addresses.filter((address) => open.has(address)), "ports the demo opened still listen").toEqual([]);
  expect([...open].filter((address) => address.startsWith("127.77.0.")), "the daemon's range still listens").toEqual([]);
  if (ownCluster) expect(run.output()).toContain("stopped the local test cluster (the demo started it)");
  // The harness's cluster was running before the demo: the demo leaves it running.
  else expect(run.output()).toContain("left the local test cluster running: it was running before the demo");
  await runClusterScript("status");
}

describe("npm run demo", () => {
  it("walks through list, a tunnel, an expose answered by the laptop, stop and history; then stops all it started", async () => {
    const run = await startDemo([]);
    const { code } = await run.exit;
    const output = run.output();
    expect(code, output).toBe(0);

    expect(step(output, 1)).toContain("the local test cluster is already running: using it");
    expect(step(output, 2)).toMatch(/pod\/api-\S+\s+1\/1\s+Running[\s\S]*pod\/db-0\s+1\/1\s+Running/);
    const daemon = step(output, 3);
    expect(daemon).toMatch(/loc daemon -n shop --kubeconfig \S+ --hosts-file \/tmp\/loc-demo-\w+\/hosts --ip-range 127\.77\.0\.0\/24 &/);
    expect(daemon).toContain("loc daemon: ready");
    const list = step(output, 4);
    expect(list).toContain("$ loc list");
    for (const name of ["api", "db", "db/db-0", "web"]) expect(list).toMatch(new RegExp(`shop\\s+${name}\\s+forwarding\\s+-\\s+\\S+\\s+127\\.77\\.0\\.\\d+`));

    const web = step(output, 5);
    expect(web).toMatch(/resolves to 127\.77\.0\.\d+ through the demo's hosts file/);
    expect(web).toMatch(/HTTP\/1\.1 200 OK\s+hello from the app: shop\/web, pod web-/);

    const expose = step(output, 6);
    expect(expose).toMatch(/\$ loc expose shop\/api --strategy selector --detach --map \d+:8080/);
    expect(expose).toMatch(/active: \d+→127\.0\.0\.1:\d+ through pod loc-api-\w+/);
    expect(expose).toMatch(/port-forward --address 127\.0\.0\.1 svc\/api :8080[\s\S]*HTTP\/1\.1 200 OK\s+hello from your laptop/);
    expect(expose).not.toContain("hello from the app");

    const stop = step(output, 7);
    expect(stop).toContain("$ loc expose --stop shop/api");
    expect(stop).toMatch(/restoreSelector Service\/api ok[\s\S]*stopped: stopped by loc expose --stop/);
    expect(stop).toMatch(/HTTP\/1\.1 200 OK\s+hello from the app: shop\/api, pod api-/);
    expect(stop).not.toContain("hello from your laptop");

    const history = step(output, 8);
    expect(history).toContain("$ loc history --limit 20");
    const rows = history.split("\n").filter((line) => /^\s+\d{4}-\d\d-\d\d /.test(line));
    expect(rows).toHaveLength(20);
    for (const type of ["expose.active", "expose.stopped", "tunnel.forwarding", "expose.outcome"]) {
      expect(rows.some((row) => row.includes(type)), `no ${type} in:\n${history}`).toBe(true);
    }

    expect(output).toMatch(/stopped loc daemon \(pid \d+, exit 0\)/);
    expect(output).toContain("deleted namespace shop");
    expect(output).toContain("the demo is over; nothing it started is left running");
    await expectNothingLeft(run);
  }, 240_000);

  it("--keep leaves it usable from another terminal until Ctrl-C, which tears it all down", async () => {
    const run = await startDemo(["--keep"]);
    await waitFor("the demo's how-to for another terminal", async () => run.output().includes("tear everything down: Ctrl-C here") || undefined, { timeoutMs: 180_000, intervalMs: 500 });
    expect(processesOf(run.marker).length).toBeGreaterThan(0);

    // As printed: LOC_STATE_DIR=… npx loc list, from another terminal.
    const stateDir = /LOC_STATE_DIR=(\S+) npx loc list/.exec(run.output())?.[1];
    expect(stateDir).toBeDefined();
    const list = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn("npx", ["loc", "list"], { cwd: ROOT, env: { ...process.env, LOC_STATE_DIR: stateDir, npm_config_offline: "true" } });
      let stdout = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.on("close", (code) => resolve({ code, stdout }));
    });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/shop\s+web\s+forwarding/);
    const webIp = /curl --resolve web\.shop:8080:(127\.77\.0\.\d+)/.exec(run.output())?.[1] ?? "";
    expect(listening().has(`${webIp}:8080`)).toBe(true);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host: webIp, port: 8080 }, () => socket.write("GET / HTTP/1.1\r\nHost: web.shop\r\nConnection: close\r\n\r\n"));
      let data = "";
      socket.on("data", (chunk: Buffer) => ((data += chunk.toString()), data.includes("hello") && (socket.destroy(), resolve(data))));
      socket.on("error", reject);
    });
    expect(reply).toContain("hello from the app: shop/web");

    // Ctrl-C in a terminal signals the whole foreground process group.
    process.kill(-(run.child.pid ?? 0), "SIGINT");
    const { code } = await run.exit;
    expect(code).not.toBe(0);
    const output = run.output();
    expect(output).toContain("Ctrl-C: stopping");
    expect(output).toMatch(/stopped loc daemon \(pid \d+, exit 0\)/);
    expect(output).toContain("deleted namespace shop");
    await expectNothingLeft(run);
  }, 240_000);

  it("Ctrl-C while shop/api is exposed: a step in flight ends quietly, everything is torn down, nothing is left", async () => {
    const run = await startDemo([]);
    await waitFor("the expose to be active", async () => /active: \d+→127\.0\.0\.1:\d+/.test(run.output()) || undefined, { timeoutMs: 180_000, intervalMs: 100 });
    process.kill(-(run.child.pid ?? 0), "SIGINT");
    const { code } = await run.exit;
    const output = run.output();
    expect(code).not.toBe(0);
    expect(output).toContain("Ctrl-C: stopping");
    expect(output).not.toContain("demo: failed");
    expect(output).not.toContain("== 8.");
    expect(output).toMatch(/stopped the sshd playing proxy pod loc-api-\w+/);
    expect(output).toMatch(/stopped loc daemon \(pid \d+, exit 0\)/);
    await expectNothingLeft(run);
  }, 240_000);

  it("a cluster it had to start (another name in the same cache) it stops again, with all its processes", async () => {
    const name = `loc-demo-e2e-${randomUUID().slice(0, 8)}`;
    const run = await startDemo([], { LOC_CLUSTER_NAME: name });
    const { code } = await run.exit;
    const output = run.output();
    expect(code, output).toBe(0);
    expect(step(output, 1)).toContain("starting the local test cluster from its cache");
    expect(step(output, 1)).toContain(`cluster ${name} is up in`);
    expect(step(output, 6)).toContain("hello from your laptop");
    // kwokctl's etcd, apiserver, controllers and kwok inherit the marker: none may be left.
    await expectNothingLeft(run, { ownCluster: true });
    expect(existsSync(`${clusterCacheDir()}/kwok-home/clusters/${name}`)).toBe(false);
  }, 240_000);

  it("a missing prerequisite is one line with a hint, before anything starts", async () => {
    const noSshd = await startDemo([], { LOC_SSHD: "/nonexistent/sshd" });
    expect((await noSshd.exit).code).toBe(1);
    expect(noSshd.output()).toMatch(/^demo: OpenSSH's sshd is not at \/nonexistent\/sshd .*\(hint: apt-get install -y openssh-server.*\)$/m);
    expect(noSshd.output()).not.toContain("== 1.");

    // No Go and nothing built yet: the first build cannot happen, and the demo says so first.
    const withoutGo = (process.env.PATH ?? "").split(":").filter((dir) => !existsSync(`${dir}/go`)).join(":");
    const noGo = await startDemo([], { PATH: withoutGo, LOC_CLUSTER_CACHE: `${tmpdir()}/loc-demo-e2e-no-cache-${randomUUID()}` });
    expect((await noGo.exit).code).toBe(1);
    expect(noGo.output()).toMatch(/^demo: Go is not on PATH and the test cluster is not built yet \(hint: install Go >= 1\.26.*\)$/m);
    expect(noGo.output()).not.toContain("== 1.");

    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const busy = await startDemo([], { LOC_DEMO_LAPTOP_PORT: String(port) });
      expect((await busy.exit).code).toBe(1);
      const lines = busy.output().split("\n").filter((line) => line.startsWith("demo: "));
      expect(lines).toEqual([`demo: 127.0.0.1:${port} is in use (the laptop's server for the expose) (hint: stop what listens there, or pick another port: LOC_DEMO_LAPTOP_PORT=<port> npm run demo)`]);
      expect(busy.output()).not.toContain("== 1.");
      expect(processesOf(busy.marker)).toEqual([]);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
