// Expose strategies on the real test cluster (run: npm run bench:expose): the same 3-replica
// Deployment behind a Service is exposed and stopped with `--strategy scale` and `--strategy
// selector`, in process with the real adapters and a real sshd playing the proxy pod. A poller reads
// the Service's EndpointSlices every 25 ms and measures what the Service's clients see: how long until
// only the proxy answers, how long the Service had no ready endpoint at all (a window in which its
// clients fail), how long until the application answers again after the stop, and how many of the
// application's pods were replaced.
import os from "node:os";
import { performance } from "node:perf_hooks";
import { DEFAULT_PROXY_IMAGE } from "../src/expose/proxy-pod.js";
import { ExposeSession } from "../src/expose/session.js";
import type { ExposeStrategy } from "../src/expose/strategy.js";
import { KubeExposeCluster } from "../src/kube/kube-expose-cluster.js";
import { KubePortForwardTransport } from "../src/transports/kube-port-forward.js";
import { SshReverseTransport } from "../src/transports/ssh-reverse.js";
import { runClusterScript } from "../test/cluster/cluster-script.js";
import { connect, createDeployment, createNamespace, createService, deleteNamespace, kwokPlacement, waitFor, waitForReadyPods } from "../test/cluster/helpers.js";
import { playProxyPod } from "../test/e2e/fixtures/expose-fixture.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REPLICAS = 3;
const POLL_MS = 25;
const step = (what: string) => console.error(`[bench] ${what}`);

const kube = connect(await runClusterScript("up"));
const namespace = await createNamespace(kube, "loc-bench-expose");
const labels = { app: "web" };

/** Ready endpoint pod names of the Service, sorted. */
async function readyEndpoints(): Promise<string[]> {
  const slices = await kube.discovery.listNamespacedEndpointSlice({ namespace, labelSelector: "kubernetes.io/service-name=web" });
  return slices.items
    .flatMap((slice) => slice.endpoints ?? [])
    .filter((e) => e.conditions?.ready === true)
    .map((e) => e.targetRef?.name ?? "")
    .sort();
}

async function appPodUids(): Promise<string[]> {
  const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: "app=web" });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata?.uid ?? "").sort();
}

/** Polls until `done(endpoints)`; returns the elapsed time and how long there was no ready endpoint. */
async function watchEndpoints(done: (endpoints: string[]) => boolean, timeoutMs = 120_000): Promise<{ ms: number; emptyMs: number }> {
  const started = performance.now();
  let emptyMs = 0;
  let last = started;
  for (;;) {
    const endpoints = await readyEndpoints();
    const now = performance.now();
    if (endpoints.length === 0) emptyMs += now - last;
    last = now;
    if (done(endpoints)) return { ms: now - started, emptyMs };
    if (now - started > timeoutMs) throw new Error(`endpoints still ${endpoints.join(",")} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

interface Round {
  handoverMs: number;
  handoverEmptyMs: number;
  backMs: number;
  backEmptyMs: number;
  appPodsReplaced: number;
}

async function round(strategy: ExposeStrategy): Promise<Round> {
  const before = await appPodUids();
  const session = new ExposeSession(
    {
      namespace,
      name: "web",
      maps: [],
      strategy,
      image: DEFAULT_PROXY_IMAGE,
      user: os.userInfo().username,
      runAsUser: 911,
      sshPort: 2222,
      readyTimeoutMs: 60_000,
      connectTimeoutMs: 60_000,
      overrides: { spec: kwokPlacement },
      localHost: "127.0.0.1",
    },
    { cluster: new KubeExposeCluster(kube.config), transport: new SshReverseTransport(new KubePortForwardTransport(kube.config)), owner: "bench.expose", record: () => undefined },
  );
  // Watched from the start: under `scale` the app's endpoints go away before the proxy exists.
  const handing = watchEndpoints((endpoints) => endpoints.length === 1 && endpoints[0] === session.podName);
  session.start();
  const proxy = await playProxyPod(kube, namespace, "web", [8080]);
  try {
    const handover = await handing;
    await waitFor("session active", async () => (session.status().state === "active" ? true : undefined));
    const stopping = session.stop("bench");
    const back = await watchEndpoints((endpoints) => endpoints.length === REPLICAS && !endpoints.includes(proxy.pod));
    const outcome = await stopping;
    if (outcome.state !== "stopped") throw new Error(`stop of the ${strategy} expose failed: ${JSON.stringify(outcome)}`);
    const after = await appPodUids();
    return { handoverMs: handover.ms, handoverEmptyMs: handover.emptyMs, backMs: back.ms, backEmptyMs: back.emptyMs, appPodsReplaced: before.filter((uid) => !after.includes(uid)).length };
  } finally {
    await proxy.stop();
    await waitFor("proxy pod gone", async () => ((await kube.core.listNamespacedPod({ namespace, labelSelector: "loc.dev/session" })).items.length === 0 ? true : undefined));
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

try {
  await createDeployment(kube, namespace, "web", REPLICAS, { labels, ports: [{ name: "http", containerPort: 8080 }] });
  await createService(kube, namespace, "web", labels, [{ port: 80, targetPort: "http" }]);
  await waitForReadyPods(kube, namespace, labels, REPLICAS);
  const results: Record<string, Round[]> = { scale: [], selector: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const strategy of ["scale", "selector"] as const) {
      await waitFor("app endpoints back", async () => ((await readyEndpoints()).length === REPLICAS ? true : undefined), { timeoutMs: 120_000 });
      const r = await round(strategy);
      step(`${strategy} #${i + 1}: handover ${r.handoverMs.toFixed(0)} ms (no endpoint ${r.handoverEmptyMs.toFixed(0)} ms), back ${r.backMs.toFixed(0)} ms (no endpoint ${r.backEmptyMs.toFixed(0)} ms), app pods replaced ${r.appPodsReplaced}`);
      results[strategy]?.push(r);
    }
  }
  const summary = Object.fromEntries(
    Object.entries(results).map(([strategy, rounds]) => [
      strategy,
      Object.fromEntries((Object.keys(rounds[0] ?? {}) as (keyof Round)[]).map((key) => [key, Math.round(median(rounds.map((r) => r[key])))])),
    ]),
  );
  console.log(JSON.stringify({ rounds: ROUNDS, replicas: REPLICAS, pollMs: POLL_MS, median: summary }, null, 2));
} finally {
  await deleteNamespace(kube, namespace);
}
