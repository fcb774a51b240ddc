// Recovery benchmark on the real test cluster (run: npm run bench:recover): 50 expose sessions are
// left unfinished the way a SIGKILLed daemon leaves them (workload annotated and at 0, Secret and
// proxy pod created, intents and outcomes in a real SQLite log), then `loc recover` runs as a
// process. Baseline in the same run: the same 50 leftovers cleaned by a kubectl script (one label
// delete, then scale + annotate per workload), as someone without loc's log would do it.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { ExposeSession } from "../src/expose/session.js";
import type { ExposeCluster } from "../src/kube/expose-cluster.js";
import { KubeExposeCluster } from "../src/kube/kube-expose-cluster.js";
import { ANY_VERSION } from "../src/store/event-store.js";
import { SqliteEventStore } from "../src/store/sqlite-store.js";
import { databasePath, ensureStateDir } from "../src/store/state-dir.js";
import { KubePortForwardTransport } from "../src/transports/kube-port-forward.js";
import { SshReverseTransport } from "../src/transports/ssh-reverse.js";
import { runClusterScript } from "../test/cluster/cluster-script.js";
import { connect, createDeployment, createNamespace, createService, deleteNamespace, waitFor } from "../test/cluster/helpers.js";
import { Mortal } from "../test/helpers/mortal.js";
import { scratchDir } from "../test/helpers/temp.js";

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 50);
const OWNER = "bench.recover";
const run = promisify(execFile);
const step = (what: string) => console.error(`[bench] ${what}`);

const kubeconfig = await runClusterScript("up");
const kubectl = join(await runClusterScript("bin"), "kubectl");
const kube = connect(kubeconfig);
const namespace = await createNamespace(kube, "loc-bench-recover");
const names = Array.from({ length: SESSIONS }, (_, i) => `svc${i}`);

/** Sessions that get as far as creating their proxy pod, then their "process" dies: every later call hangs, nothing more is recorded. */
async function leaveUnfinished(stateDir: string): Promise<void> {
  ensureStateDir(stateDir);
  const store = SqliteEventStore.open({ path: databasePath(stateDir), mode: "write" });
  const real = new KubeExposeCluster(kube.config);
  const reverse = new SshReverseTransport(new KubePortForwardTransport(kube.config));
  await Promise.all(
    names.map(async (name) => {
      const daemon = new Mortal();
      const cluster = daemon.view<ExposeCluster>(real, { dieAfter: (operation) => operation === "createPod" });
      const session = new ExposeSession(
        { namespace, name, maps: [], image: "loc.invalid/proxy:0", user: "abc", runAsUser: 911, sshPort: 2222, readyTimeoutMs: 600_000, connectTimeoutMs: 600_000, localHost: "127.0.0.1" },
        { cluster, transport: reverse, owner: OWNER, record: daemon.recorder((stream, event) => store.append(stream, [event], ANY_VERSION)), clusterUrl: kube.config.getCurrentCluster()?.server },
      );
      session.start();
      await daemon.died;
    }),
  );
  store.close();
}

async function leftovers(): Promise<{ scaledDown: number; proxies: number }> {
  const deployments = await kube.apps.listNamespacedDeployment({ namespace });
  const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: "loc.dev/session" });
  return {
    scaledDown: deployments.items.filter((d) => d.spec?.replicas === 0 || d.metadata?.annotations?.["loc.dev/session"]).length,
    proxies: pods.items.filter((p) => !p.metadata?.deletionTimestamp).length,
  };
}

function everyPodReady(): Promise<true> {
  return waitFor(
    "every workload pod Ready",
    async () => {
      const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: "!loc.dev/session" });
      const ready = pods.items.filter((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
      return ready.length === SESSIONS || undefined;
    },
    { timeoutMs: 120_000 },
  );
}

async function timed(what: string, work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  step(`${what}: ${ms.toFixed(0)} ms`);
  return ms;
}

try {
  step(`creating ${SESSIONS} Deployments and Services`);
  await Promise.all(
    names.map(async (name) => {
      await createDeployment(kube, namespace, name, 1, { labels: { app: name }, ports: [{ name: "http", containerPort: 8080 }] });
      await createService(kube, namespace, name, { app: name }, [{ port: 80, targetPort: "http" }]);
    }),
  );
  await everyPodReady();

  const stateDir = scratchDir("loc-bench-recover-");
  step(`leaving ${SESSIONS} sessions unfinished`);
  await leaveUnfinished(stateDir);
  const before = await leftovers();
  let report: { sessions: number; done: number; left: number; failed: number; durationMs: number } | undefined;
  const locMs = await timed("loc recover (process, end to end)", async () => {
    const { stdout } = await run(process.execPath, [join(import.meta.dirname, "../dist/cli/main.js"), "recover", "--json", "--kubeconfig", kubeconfig], { env: { ...process.env, LOC_STATE_DIR: stateDir, LOC_OWNER: OWNER } });
    const { sessions, done, left, failed, durationMs } = JSON.parse(stdout) as NonNullable<typeof report>;
    report = { sessions, done, left, failed, durationMs };
  });
  const afterLoc = await leftovers();

  step(`leaving ${SESSIONS} sessions unfinished again, for the kubectl baseline`);
  await waitFor("proxy pods gone", async () => ((await leftovers()).proxies === 0 ? true : undefined));
  await everyPodReady();
  await leaveUnfinished(scratchDir("loc-bench-recover-"));
  const kubectlMs = await timed("kubectl script (sequential)", async () => {
    const k = (...args: string[]) => run(kubectl, ["--kubeconfig", kubeconfig, "-n", namespace, ...args]);
    await k("delete", "pods,secrets", "-l", `loc.dev/owner=${OWNER}`, "--grace-period=0", "--force", "--wait=false");
    for (const name of names) {
      await k("scale", `deployment/${name}`, "--replicas=1");
      await k("annotate", `deployment/${name}`, "loc.dev/session-", "loc.dev/owner-", "loc.dev/original-replicas-");
    }
  });
  const afterKubectl = await leftovers();

  console.log(JSON.stringify({ sessions: SESSIONS, before, report, locMs: Math.round(locMs), afterLoc, kubectlMs: Math.round(kubectlMs), afterKubectl, ratio: Number((locMs / kubectlMs).toFixed(3)) }, null, 2));
  if (report?.failed !== 0 || afterLoc.scaledDown !== 0 || afterLoc.proxies !== 0) {
    console.error("[bench] loc recover left something behind");
    process.exitCode = 1;
  }
} finally {
  await deleteNamespace(kube, namespace);
}
