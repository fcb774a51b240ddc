// CLI start-up (issue 19, ADR 0010): whole processes, paired in one run (every round runs each command
// once, in a rotating order), median of BENCH_ROUNDS (default 11), against `node -e 0` and
// `kubectl get pods` on the test cluster as yardsticks. Run: npm run bench:cli (builds dist first).
// BENCH_CLI_BEFORE=/path/to/other/dist/cli/main.js adds that build's rows, e.g. main before the change.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DaemonStatus } from "../src/ipc/protocol.js";
import type { TunnelStatus } from "../src/daemon/service-tunnel.js";
import { serveDaemon } from "../src/ipc/server.js";
import type { NewEvent } from "../src/store/events.js";
import { openStateStore } from "../src/store/open-store.js";
import { tunnelStream } from "../src/store/streams.js";
import { runClusterScript } from "../test/cluster/cluster-script.js";
import { measure, median, requireGnuTime, type Run } from "./cli-measure.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const step = (what: string) => console.error(`[bench] ${what}`);

requireGnuTime();
const dir = mkdtempSync(join(tmpdir(), "loc-bench-cli-"));
const listDir = join(dir, "list");
const historyDir = join(dir, "history");
const cleanups: (() => unknown)[] = [() => rmSync(dir, { recursive: true, force: true })];

/** A log of EVENTS events in batches of 1,000 over 200 services, as bench/store.bench.ts makes it. */
function fillStore(): void {
  const store = openStateStore(historyDir, "write", {});
  for (let done = 0, b = 0; done < EVENTS; done += 1_000, b++) {
    const service = `ns${b % 7}/svc${b % 200}`;
    const events = Array.from({ length: Math.min(1_000, EVENTS - done) }, (_, i) => ({
      type: i % 2 === 0 ? "tunnel.connecting" : "tunnel.forwarding",
      data: { service, pod: `pod-${b}-${i}`, ip: "127.1.2.3", ports: ["80->8080/tcp"] },
    })) as NewEvent[];
    store.append(tunnelStream(service), events, -1);
  }
  store.close();
}

function tunnel(namespace: string, name: string, ip: string): TunnelStatus {
  return {
    key: `${namespace}/${name}`, namespace, name, state: "forwarding", reason: "", pod: `${name}-7d9f-abcde`, ip,
    ports: ["80->8080/tcp"], names: [`${name}.${namespace}`], connections: 1, bytesIn: 4096, bytesOut: 512, since: Date.now(),
  };
}

/** The daemon's real socket server, in this process, answering for three forwarding tunnels. */
async function startFakeDaemon(): Promise<void> {
  const status: DaemonStatus = {
    pid: process.pid, startedAt: Date.now(), scope: "all namespaces except kube-system", hostsFile: "/etc/hosts",
    tunnels: [tunnel("shop", "web", "127.1.0.1"), tunnel("shop", "cart", "127.1.0.2"), tunnel("billing", "api", "127.1.0.3")],
    skipped: [], watchProblems: [], exposes: [],
  };
  mkdirSync(listDir, { mode: 0o700 });
  const server = await serveDaemon({ status: () => status, onChange: () => () => undefined }, listDir);
  cleanups.push(() => server.close());
}

interface Case {
  name: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
}

function locCases(main: string, label: string): Case[] {
  return [
    { name: `${label}loc --version`, argv: [process.execPath, main, "--version"] },
    { name: `${label}loc list (3 tunnels)`, argv: [process.execPath, main, "list"], env: { LOC_STATE_DIR: listDir } },
    { name: `${label}loc history --limit 50`, argv: [process.execPath, main, "history", "--limit", "50"], env: { LOC_STATE_DIR: historyDir } },
  ];
}

try {
  step("starting the test cluster");
  const kubeconfig = await runClusterScript("up");
  const kubectl = join(await runClusterScript("bin"), "kubectl");
  step(`writing ${EVENTS.toLocaleString("en")} events`);
  fillStore();
  await startFakeDaemon();

  const before = process.env.BENCH_CLI_BEFORE;
  const cases: Case[] = [
    { name: "node -e 0", argv: [process.execPath, "-e", "0"] },
    { name: "kubectl get pods", argv: [kubectl, "--kubeconfig", kubeconfig, "get", "pods", "-n", "default"] },
    ...locCases("dist/cli/main.js", ""),
    ...(before ? locCases(before, "before: ") : []),
  ];
  const runs = new Map<string, Run[]>(cases.map((c) => [c.name, []]));
  const timeFile = join(dir, "time.txt");
  step(`${ROUNDS} rounds of ${cases.length} commands`);
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < cases.length; i++) {
      const c = cases[(i + round) % cases.length]!;
      runs.get(c.name)!.push(await measure(c.argv, { ...process.env, ...c.env }, timeFile));
    }
  }

  // Paired ratios: each round's run divided by the same round's yardstick, then the median.
  const ratio = (name: string, yardstick: string) =>
    median(runs.get(name)!.map((run, round) => run.ms / runs.get(yardstick)![round]!.ms));
  console.log(`median of ${ROUNDS} paired rounds; history on ${EVENTS.toLocaleString("en")} events; list against an in-process daemon socket with 3 tunnels\n`);
  console.log("| command | wall | peak RSS | wall / `node -e 0` | wall / `kubectl get pods` |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const c of cases) {
    const r = runs.get(c.name)!;
    const cells = [median(r.map((x) => x.ms)).toFixed(0) + " ms", median(r.map((x) => x.peakMb)).toFixed(0) + " MB"];
    console.log(`| \`${c.name}\` | ${cells.join(" | ")} | ${ratio(c.name, "node -e 0").toFixed(2)} | ${ratio(c.name, "kubectl get pods").toFixed(2)} |`);
  }
  const wall = (name: string) => median(runs.get(name)!.map((x) => x.ms));
  const peak = (name: string) => median(runs.get(name)!.map((x) => x.peakMb));
  const targets: [string, boolean][] = [
    ["--version ≤ 150 ms and ≤ 70 MB", wall("loc --version") <= 150 && peak("loc --version") <= 70],
    ["list ≤ 150 ms and ≤ 70 MB", wall("loc list (3 tunnels)") <= 150 && peak("loc list (3 tunnels)") <= 70],
    ["history --limit 50 ≤ 200 ms", wall("loc history --limit 50") <= 200],
  ];
  console.log("\n" + targets.map(([what, met]) => `${what}: ${met ? "OK" : "MISSED"}`).join("\n"));
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
