// Event store benchmark: batched append throughput, and `loc history --service ns/svc --limit 50`
// over 1,000,000 events (in-process query and the real CLI process). Run: npm run bench:store
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { NewEvent } from "../src/store/events.js";
import { openStateStore } from "../src/store/open-store.js";
import { tunnelStream } from "../src/store/streams.js";

const TOTAL = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const BATCH = 1_000;
const SERVICES = 200;
const serviceOf = (k: number) => `ns${k % 7}/svc${k}`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

const stateDir = mkdtempSync(join(tmpdir(), "loc-bench-"));
try {
  const store = openStateStore(stateDir, "write", {});
  // Each batch belongs to one tunnel stream, as a burst of transitions from one actor would.
  const started = performance.now();
  for (let done = 0, b = 0; done < TOTAL; done += BATCH, b++) {
    const service = serviceOf(b % SERVICES);
    const events: NewEvent[] = Array.from({ length: Math.min(BATCH, TOTAL - done) }, (_, i) => ({
      type: i % 2 === 0 ? "tunnel.connecting" : "tunnel.forwarding",
      data: { service, pod: `pod-${b}-${i}`, ip: "127.1.2.3", ports: ["80->8080/tcp"] },
    })) as NewEvent[];
    store.append(tunnelStream(service), events, -1);
  }
  const appendSeconds = (performance.now() - started) / 1000;
  const target = serviceOf(123);

  const queryTimes: number[] = [];
  let found = 0;
  for (let run = 0; run < 20; run++) {
    const t0 = performance.now();
    found = store.read({ service: target, limit: 50 }).length;
    queryTimes.push(performance.now() - t0);
  }
  store.close();

  const cliTimes: number[] = [];
  for (let run = 0; run < 5; run++) {
    const t0 = performance.now();
    const cli = spawnSync(process.execPath, ["dist/cli/main.js", "history", "--service", target, "--limit", "50"], {
      env: { ...process.env, LOC_STATE_DIR: stateDir },
      encoding: "utf8",
    });
    cliTimes.push(performance.now() - t0);
    if (cli.status !== 0) throw new Error(`loc history failed (${cli.status}): ${cli.stderr} (run npm run build first)`);
  }
  const baseline: number[] = [];
  for (let run = 0; run < 5; run++) {
    const t0 = performance.now();
    spawnSync(process.execPath, ["dist/cli/main.js", "--version"], { encoding: "utf8" });
    baseline.push(performance.now() - t0);
  }

  const sizeMb = statSync(join(stateDir, "events.db")).size / 1e6;
  const rate = TOTAL / appendSeconds;
  console.log(`events: ${TOTAL.toLocaleString("en")} in batches of ${BATCH}, ${SERVICES} services; file ${sizeMb.toFixed(0)} MB`);
  console.log(`append: ${appendSeconds.toFixed(2)} s = ${Math.round(rate).toLocaleString("en")} events/s (target >= 50,000) ${rate >= 50_000 ? "OK" : "MISSED"}`);
  console.log(`query --service ${target} --limit 50: ${found} rows, first ${queryTimes[0]?.toFixed(2)} ms, median ${median(queryTimes).toFixed(2)} ms (target < 200 ms) ${median(queryTimes) < 200 ? "OK" : "MISSED"}`);
  console.log(`\`loc history\` process, same query: median ${median(cliTimes).toFixed(0)} ms; \`loc --version\` process: median ${median(baseline).toFixed(0)} ms (startup floor)`);
} finally {
  rmSync(stateDir, { recursive: true, force: true });
}
