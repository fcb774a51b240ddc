// A diagnostic for bench:tunnel's download figures (issue 14): one pod that streams bytes, and each
// client downloading from it at each distance, with the CPU time every process on the byte path used
// (utime + stime from /proc, in ms per transferred MB) and the transfer's wall time. Not part of
// `npm run bench`; run: LOC_CLUSTER_NAME=loc-bench npx tsx bench/tunnel-probe.ts
//
// PROBE_DELAYS   distances: "none" (straight to the API server) or a round trip in ms through
//                bench/delay-proxy.ts ("0" = the proxy with no delay); default "none,0,20"
// PROBE_CLIENTS  kubectl, spdy (SpdyPortForwardTransport in this process, its duplex read directly),
//                spdy-upgrade (the same over a direct SPDY/3.1 upgrade), daemon-spdy, daemon-websocket
//                (loc daemon processes from dist/, read through their local socket), daemon-spdy-before
//                (PROBE_BEFORE_MAIN: another build's dist/cli/main.js); default all but the last
// PROBE_DIRECTION download (default) or upload (the client writes, a sink on the pod counts)
// PROBE_ECHOES (0) echo connections each client makes (sequentially, 1 byte each) before its
//                transfers, as bench:tunnel's latency part does first; pod port 9002 echoes and hangs
//                up after 5 s of silence
// PROBE_MB (64), PROBE_ROUNDS (2), PROBE_PROXY_ARGS (extra node args for the proxy, e.g. --cpu-prof)
// PROBE_ATTACH a command run while a client is measured (first round), {pid} (the client), {proxy}, {name}
//                replaced, ended with SIGINT afterwards (e.g. "strace -c -f -o /tmp/s-{name} -p {pid}").
// BENCH_DAEMON_NODE_ARGS goes to the daemon processes' node (e.g. --cpu-prof --cpu-prof-dir=/tmp/p).
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { Readable } from "node:stream";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { runClusterScript } from "../test/cluster/cluster-script.js";
import { connect, createDeployment, createNamespace, createPodPortForward, deleteNamespace, createService, startTcpServer, waitForReadyPods } from "../test/cluster/helpers.js";
import { SpdyPortForwardTransport } from "../src/transports/spdy-port-forward.js";
import { startDaemon, waitForwarding, type BenchDaemon } from "./tunnel/daemons.js";
import { fmt, rotate, step } from "./tunnel/measure.js";

const delays = (process.env.PROBE_DELAYS ?? "none,0,20").split(",").map((s) => s.trim());
const clientNames = (process.env.PROBE_CLIENTS ?? "kubectl,spdy,spdy-upgrade,daemon-spdy,daemon-websocket").split(",").map((s) => s.trim());
const MB = Number(process.env.PROBE_MB ?? 64);
const ROUNDS = Number(process.env.PROBE_ROUNDS ?? 2);
const UPLOAD = process.env.PROBE_DIRECTION === "upload";
const ECHOES = Number(process.env.PROBE_ECHOES ?? 0);
const bytes = MB * 1024 * 1024;
const proxyScript = fileURLToPath(new URL("./delay-proxy.ts", import.meta.url));

// pause()/resume() calls in this process by stream class (the in-process clients' back-pressure).
const calls = new Map<string, number>();
for (const method of ["pause", "resume"] as const) {
  const original = Readable.prototype[method];
  Readable.prototype[method] = function (this: Readable) {
    const key = `${this.constructor.name}.${method}`;
    calls.set(key, (calls.get(key) ?? 0) + 1);
    return original.call(this);
  } as never;
}
// TLS records read in this process: Node emits one "data" per record. Sizes bucketed.
const records = new Map<string, number>();
const tlsEmit = tls.TLSSocket.prototype.emit;
tls.TLSSocket.prototype.emit = function (this: tls.TLSSocket, event: string | symbol, ...args: unknown[]) {
  if (event === "data") {
    const n = (args[0] as Buffer).length;
    const key = n < 16 ? `${n} B` : n < 16384 ? "16 B-16 KB" : n === 16384 ? "16 KB" : "> 16 KB";
    records.set(key, (records.get(key) ?? 0) + 1);
  }
  return Reflect.apply(tlsEmit, this, [event, ...args]) as boolean;
} as typeof tlsEmit;
const recordSummary = () => {
  const total = [...records.values()].reduce((a, b) => a + b, 0);
  const parts = [...records].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`);
  return `${total} TLS records, ${fmt(total / (MB * 32), 1)} per 32 KB (${parts.join(", ")})`;
};
const callSummary = () => [...calls].filter(([k]) => !k.startsWith("Socket.") || k.includes("TLS")).map(([k, v]) => `${k} ${v}`).join(", ");

/** CPU time of a process so far, ms (utime + stime; clock ticks are 100 Hz here). */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

const kubeconfig = await runClusterScript("up");
const bin = await runClusterScript("bin");
const pidDir = join(kubeconfig, "..", "pids");
const component = (name: string) => Number(readFileSync(join(pidDir, `${name}.pid`), "utf8").trim());
const apiserverPid = component("kube-apiserver");
const kwokPid = component(readdirSync(pidDir).find((f) => f.startsWith("kwok-controller"))?.replace(/\.pid$/, "") ?? "kwok-controller");
const kube = connect(kubeconfig);
const dir = mkdtempSync(join(tmpdir(), "loc-probe-"));
const namespace = await createNamespace(kube, "loc-probe");
const cleanups: (() => Promise<unknown>)[] = [() => deleteNamespace(kube, namespace), async () => rmSync(dir, { recursive: true, force: true })];

// Upload: the pod's port 9001 is a sink in this process; the transfer ends when it counted `bytes`.
let sinkDone: (() => void) | undefined;
const sinkChunk = Buffer.alloc(1024 * 1024, 9);

async function upload(write: () => Promise<{ stream: NodeJS.WritableStream & { destroy(): void }; stop(): void }>): Promise<number> {
  const finished = new Promise<void>((resolve) => (sinkDone = resolve));
  const started = performance.now();
  const { stream, stop } = await write();
  let sent = 0;
  const pump = () => {
    while (sent < bytes) {
      sent += sinkChunk.length;
      if (!stream.write(sinkChunk)) return void stream.once("drain", pump);
    }
  };
  pump();
  await finished;
  stop();
  return performance.now() - started;
}

async function download(read: (onData: (n: number) => void) => Promise<() => void>): Promise<number> {
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const started = performance.now();
  const stop = await read((n) => {
    received += n;
    if (received >= bytes) done();
  });
  await finished;
  stop();
  return performance.now() - started;
}

/** ECHOES sequential connections to an echo, one byte each way. */
async function echoMany(host: string, port: number): Promise<void> {
  for (let i = 0; i < ECHOES; i++) {
    const socket = net.connect({ host, port }, () => socket.write("x"));
    await once(socket, "data");
    socket.destroy();
  }
}

/** Download from `port`, or upload to `uploadPort` (PROBE_DIRECTION=upload). */
function socketTransfer(host: string, port: number, uploadPort: number) {
  if (UPLOAD)
    return upload(async () => {
      const socket = net.connect({ host, port: uploadPort });
      socket.on("error", () => undefined);
      await new Promise((resolve) => socket.once("connect", resolve));
      return { stream: socket, stop: () => socket.destroy() };
    });
  return download(async (onData) => {
    const socket = net.connect({ host, port });
    socket.on("data", (data: Buffer) => onData(data.length));
    socket.on("error", () => undefined);
    return () => socket.destroy();
  });
}

function spawnProxy(target: string, delayMs: number): Promise<{ port: number; child: ChildProcess }> {
  const extra = (process.env.PROBE_PROXY_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...extra, "--import", "tsx", proxyScript, target, String(delayMs)], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      const match = /listening (\d+)/.exec(out);
      if (match) resolve({ port: Number(match[1]), child });
    });
    child.once("exit", (code) => reject(new Error(`proxy exited ${code}`)));
  });
}

try {
  const chunk = Buffer.alloc(1024 * 1024, 7);
  const blaster = await startTcpServer((socket) => {
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once("drain", pump);
      }
      socket.end();
    };
    pump();
  });
  const sink = await startTcpServer((socket) => {
    let counted = 0;
    socket.on("data", (data: Buffer) => {
      counted += data.length;
      if (counted >= bytes) {
        socket.destroy();
        sinkDone?.();
      }
    });
  });
  const echo = await startTcpServer((socket) => {
    socket.setTimeout(5_000, () => socket.destroy());
    socket.pipe(socket);
  });
  cleanups.push(() => blaster.close(), () => sink.close(), () => echo.close());
  await createDeployment(kube, namespace, "bulk", 1, { labels: { app: "bulk" }, ports: [{ containerPort: 9000 }, { containerPort: 9001 }, { containerPort: 9002 }] });
  await createService(kube, namespace, "bulk", { app: "bulk" }, [
    { name: "blast", port: 9000 },
    { name: "sink", port: 9001 },
    { name: "echo", port: 9002 },
  ]);
  const [pod] = await waitForReadyPods(kube, namespace, { app: "bulk" }, 1, { timeoutMs: 300_000 });
  const podName = pod?.metadata?.name ?? "";
  await createPodPortForward(kube, namespace, podName, [
    { ports: [9000], target: { address: "127.0.0.1", port: blaster.port } },
    { ports: [9001], target: { address: "127.0.0.1", port: sink.port } },
    { ports: [9002], target: { address: "127.0.0.1", port: echo.port } },
  ]);
  const text = readFileSync(kubeconfig, "utf8");
  const server = /server: https:\/\/(127\.0\.0\.1):(\d+)/.exec(text);
  if (!server) throw new Error("no server in the kubeconfig");
  const rows: string[] = [];
  console.log(`load average at start: ${loadavg().map((v) => v.toFixed(2)).join(" ")}; ${MB} MB per download, ${ROUNDS} rounds`);
  console.log("| distance | client | MB/s (each round, rotating order) | wall s | CPU ms/MB: client | proxy | apiserver | kwok | this process (blaster + reader) | total |");
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const [index, delay] of delays.entries()) {
    const local: (() => Promise<unknown>)[] = [];
    try {
      let config = kubeconfig;
      let proxyPid = 0;
      if (delay !== "none") {
        const proxy = await spawnProxy(`${server[1]}:${server[2]}`, Number(delay) / 2);
        proxyPid = proxy.child.pid ?? 0;
        const exited = new Promise((resolve) => proxy.child.once("exit", resolve));
        local.push(async () => (proxy.child.kill("SIGTERM"), await exited));
        config = join(dir, `kubeconfig-${index}.yaml`);
        writeFileSync(config, text.replace(server[0], `server: https://127.0.0.1:${proxy.port}`));
      }
      const clients: { name: string; pid: number; run: () => Promise<number> }[] = [];
      for (const name of clientNames) {
        let clientPid = process.pid;
        let run: () => Promise<number>;
        let echoes: () => Promise<void> = () => Promise.resolve();
        if (name === "kubectl") {
          const child = spawn(join(bin, "kubectl"), ["--kubeconfig", config, "-n", namespace, "port-forward", "--address", "127.0.0.1", `pod/${podName}`, UPLOAD ? ":9001" : ":9000", ":9002"], { stdio: ["ignore", "pipe", "pipe"] });
          const exited = new Promise((resolve) => child.once("exit", resolve));
          local.push(async () => (child.kill("SIGTERM"), await exited));
          // One process, one session, both ports: as a loc daemon's pod session carries both.
          const [port, echoPort] = await new Promise<[number, number]>((resolve, reject) => {
            let err = "";
            child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
            child.once("exit", (code) => reject(new Error(`kubectl port-forward exited ${code}: ${err.trim()}`)));
            let out = "";
            child.stdout.setEncoding("utf8").on("data", (s: string) => {
              out += s;
              const transfer = /Forwarding from 127\.0\.0\.1:(\d+) -> 900[01]/.exec(out);
              const echoed = /Forwarding from 127\.0\.0\.1:(\d+) -> 9002/.exec(out);
              if (transfer && echoed) resolve([Number(transfer[1]), Number(echoed[1])]);
            });
          });
          clientPid = child.pid ?? 0;
          echoes = () => echoMany("127.0.0.1", echoPort);
          run = () => socketTransfer("127.0.0.1", port, port);
        } else if (name === "spdy" || name === "spdy-upgrade") {
          const kc = new KubeConfig();
          kc.loadFromFile(config);
          const transport = new SpdyPortForwardTransport(kc, name === "spdy-upgrade" ? { only: "upgrade" } : {});
          local.push(async () => transport.close());
          echoes = async () => {
            for (let i = 0; i < ECHOES; i++) {
              const stream = await transport.open({ namespace, pod: podName, port: 9002 });
              stream.write("x");
              await once(stream, "data");
              stream.destroy();
            }
          };
          run = () =>
            UPLOAD
              ? upload(async () => {
                  const stream = await transport.open({ namespace, pod: podName, port: 9001 });
                  stream.on("error", () => undefined);
                  return { stream, stop: () => stream.destroy() };
                })
              : download(async (onData) => {
              const stream = await transport.open({ namespace, pod: podName, port: 9000 });
              stream.on("data", (data: Buffer) => onData(data.length));
              stream.on("error", () => undefined);
              return () => stream.destroy();
            });
        } else {
          const transport = name.startsWith("daemon-spdy") ? "spdy" : "websocket";
          const main = name === "daemon-spdy-before" ? process.env.PROBE_BEFORE_MAIN : undefined;
          if (name === "daemon-spdy-before" && !main) throw new Error("daemon-spdy-before needs PROBE_BEFORE_MAIN");
          const range = `127.63.${index * 3 + ["daemon-spdy", "daemon-websocket", "daemon-spdy-before"].indexOf(name)}.0/24`;
          const daemon: BenchDaemon = await startDaemon({ mode: "process", transport, kubeconfig: config, namespace, ipRange: range, dir: mkdtempSync(join(dir, `${transport}-`)), main });
          local.push(() => daemon.stop());
          const tunnels = await waitForwarding(daemon, 1);
          const ip = tunnels[0]?.ip ?? "";
          clientPid = daemon.pid;
          echoes = () => echoMany(ip, 9002);
          run = () => socketTransfer(ip, 9000, 9001);
        }
        await run(); // warm up (session dialled, code compiled)
        if (ECHOES) step(`${name}: ${ECHOES} echo connections first`);
        await echoes();
        clients.push({ name, pid: clientPid, run });
      }
      // Rounds rotate the clients' order, so the machine's drift spreads over all of them; CPU is
      // summed per client over its own transfers only.
      const results = new Map(clients.map((c) => [c.name, { speeds: [] as string[], wall: 0, used: [0, 0, 0, 0, 0] }]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const { name, pid: clientPid, run } of rotate(clients, round)) {
          const result = results.get(name);
          if (!result) continue;
          const pids = [clientPid, proxyPid, apiserverPid, kwokPid, process.pid];
          let attached: ChildProcess | undefined;
          if (process.env.PROBE_ATTACH && round === 0) {
            const command = process.env.PROBE_ATTACH.replaceAll("{pid}", String(clientPid)).replaceAll("{proxy}", String(proxyPid)).replaceAll("{name}", name);
            attached = spawn("sh", ["-c", `exec ${command}`], { stdio: "inherit" });
            await new Promise((resolve) => setTimeout(resolve, 1500));
          }
          calls.clear();
          records.clear();
          const before = pids.map((pid) => (pid ? cpuMs(pid) : 0));
          const ms = await run();
          const after = pids.map((pid) => (pid ? cpuMs(pid) : 0));
          if (attached) {
            // It may have ended already (a command that failed): then there is nothing to wait for.
            if (attached.exitCode === null && attached.signalCode === null) {
              const gone = new Promise((resolve) => attached?.once("exit", resolve));
              attached.kill("SIGINT");
              await gone;
            }
          }
          result.wall += ms;
          result.speeds.push(fmt(MB / (ms / 1000), 0));
          // An in-process client's CPU is this process's: count it once.
          result.used = result.used.map((u, i) => u + (i === 0 && clientPid === process.pid ? 0 : (after[i] ?? 0) - (before[i] ?? 0)));
          if (clientPid === process.pid && round === 0) console.log(`    ${name} pause/resume calls: ${callSummary() || "none"}; ${recordSummary()}`);
        }
      }
      for (const { name } of clients) {
        const result = results.get(name);
        if (!result) continue;
        const used = result.used.map((u) => u / (MB * ROUNDS));
        const total = used.reduce((x, y) => x + y, 0);
        const row = `| ${delay === "none" ? "no proxy" : `proxy ${delay} ms`} | ${name} | ${result.speeds.join(", ")} | ${fmt(result.wall / 1000, 2)} | ${used.map((u) => fmt(u, 1)).join(" | ")} | ${fmt(total, 1)} |`;
        console.log(row);
        rows.push(row);
      }
    } finally {
      for (const cleanup of local.reverse()) await cleanup().catch((error: unknown) => console.error(`cleanup: ${String(error)}`));
    }
    step(`load average: ${loadavg().map((v) => v.toFixed(2)).join(" ")}`);
  }
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error(`cleanup: ${String(error)}`));
}
process.exit(0);
