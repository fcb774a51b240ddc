// loc recover beyond the crash matrix, on the real cluster: the daemon recovers an earlier run
// before serving, two owners share the cluster and recovery of one never touches the other's
// expose, and --from-cluster restores from the cluster's own labels after the state dir is gone
// (a retargeted Service's selector from its annotation, too).
import { readFileSync, rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, createDeployment, createNamespace, createService, deleteNamespace, waitFor, waitForReadyPods, type Kube } from "../../../cluster/helpers.js";
import { scratchDir } from "../../../helpers/temp.js";
import { startDaemonProcess, USER_HOSTS, type DaemonProcess } from "../../fixtures/daemon-process.js";
import { locState, playProxyPod, runRecover, standInArgs, startExpose, type ExposeProcess } from "../../fixtures/expose-fixture.js";

const kubeconfig = inject("kubeconfig");
let kube: Kube;
let namespace: string;

beforeAll(async () => {
  kube = connect(kubeconfig);
  namespace = await createNamespace(kube, "recover");
});

afterAll(async () => {
  if (namespace) await deleteNamespace(kube, namespace);
});

/** A 2-replica Deployment behind a Service labelled `case=<name>` (each daemon here watches only its own). */
async function workload(name: string) {
  await createDeployment(kube, namespace, name, 2, { labels: { app: name }, ports: [{ name: "http", containerPort: 8080 }] });
  await createService(kube, namespace, name, { app: name }, [{ port: 80, targetPort: "http" }], { labels: { case: name } });
  await waitForReadyPods(kube, namespace, { app: name }, 2);
  return { state: () => locState(kube, namespace, [{ kind: "Deployment", name }], name) };
}

function daemonFor(name: string, owner: string, extra: { killAt?: string; stateDir?: string } = {}): Promise<DaemonProcess> {
  const env = { LOC_OWNER: owner, ...(extra.killAt ? { LOC_TEST_KILL_AT: extra.killAt } : {}) };
  return startDaemonProcess(["--selector", `case=${name}`], kubeconfig, { env, stateDir: extra.stateDir });
}

/** An expose that stays half-way (pod created, never connected: nothing plays its sshd) until stopped. */
function exposeAndHang(name: string, daemon: DaemonProcess): ExposeProcess {
  return startExpose([`${namespace}/${name}`, "--detach", "--connect-timeout", "300s", ...standInArgs()], daemon.stateDir);
}

async function killedAt(daemon: DaemonProcess, expose: ExposeProcess): Promise<void> {
  const ended = await daemon.exit;
  expose.child.kill("SIGKILL");
  expect(ended.signal, daemon.stderr()).toBe("SIGKILL");
}

/** Waits until the expose is half-way: workload at 0 and the proxy pod created. */
async function midExpose(name: string, state: () => Promise<Record<string, unknown>>) {
  return waitFor(`${name} exposed half-way`, async () => {
    const now = await state();
    const scaled = (now[`Deployment/${name}`] as { replicas?: number }).replicas === 0;
    return scaled && (now.proxies as string[]).length === 1 && (now.secrets as string[]).length === 1 ? now : undefined;
  });
}

describe("loc recover on the real cluster", () => {
  it("loc daemon recovers what its previous run left before it serves", async () => {
    const web = await workload("restart");
    const before = await web.state();
    const first = await daemonFor("restart", "dana", { killAt: "expose.outcome:createPod" });
    await killedAt(first, exposeAndHang("restart", first));
    expect(await web.state()).not.toEqual(before);

    const second = await daemonFor("restart", "dana", { stateDir: first.stateDir });
    try {
      expect(await web.state()).toEqual(before);
      const recovery = await second.history(["--stream", "recovery"]);
      expect(recovery.map((e) => e.type)).toContain("recovery.completed");
      expect(recovery.find((e) => e.type === "recovery.completed")?.data).toMatchObject({ sessions: 1, failed: 0, left: 0 });
      const session = (await second.history(["--type", "expose.stopped"])).at(-1);
      expect(session?.data).toMatchObject({ service: `${namespace}/restart`, reason: "recovered by loc daemon on start" });
      expect(second.stderr()).toMatch(/recovered 1 unfinished session\(s\) of an earlier run; \d+ done, 0 left as they are, 0 failed/);
    } finally {
      await second.stop();
    }
    expect(readFileSync(second.hostsFile, "utf8")).toBe(USER_HOSTS);
  });

  it("recovering one owner never touches another owner's live expose", async () => {
    const alices = await workload("alice-web");
    const bobs = await workload("bob-web");
    const aliceBefore = await alices.state();
    const bobBefore = await bobs.state();

    const bob = await daemonFor("bob-web", "bob");
    const bobExpose = exposeAndHang("bob-web", bob);
    try {
      const bobExposed = await midExpose("bob-web", bobs.state);
      const alice = await daemonFor("alice-web", "alice", { killAt: "expose.outcome:createPod" });
      await killedAt(alice, exposeAndHang("alice-web", alice));

      const fromLog = await runRecover(alice.stateDir, kubeconfig, [], { LOC_OWNER: "alice" });
      expect(fromLog.code, fromLog.stderr).toBe(0);
      expect(fromLog.report).toMatchObject({ sessions: 1, failed: 0, left: 0 });
      expect(await alices.state()).toEqual(aliceBefore);
      expect(await bobs.state()).toEqual(bobExposed);

      // The cluster's record: alice has nothing left; bob's labelled objects are not hers to touch.
      const fromCluster = await runRecover(scratchDir("loc-e2e-alice-"), kubeconfig, ["--from-cluster"], { LOC_OWNER: "alice" });
      expect(fromCluster.code, fromCluster.stderr).toBe(0);
      expect(fromCluster.report).toMatchObject({ source: "cluster", sessions: 0, actions: [] });
      expect(await bobs.state()).toEqual(bobExposed);
      expect((await bob.list()).exposes).toEqual([expect.objectContaining({ service: `${namespace}/bob-web` })]);
    } finally {
      bobExpose.child.kill("SIGKILL");
      await bob.stop();
    }
    // Bob's own stop still undoes his expose: recovery left his claim intact.
    expect(await bobs.state()).toEqual(bobBefore);
  });

  it("--from-cluster restores after the state dir was deleted mid-expose; --dry-run first changes nothing", async () => {
    const web = await workload("lost-dir");
    const before = await web.state();
    const daemon = await daemonFor("lost-dir", "erin", { killAt: "expose.step:establishing" });
    await killedAt(daemon, exposeAndHang("lost-dir", daemon));
    const exposed = await midExpose("lost-dir", web.state);
    rmSync(daemon.stateDir, { recursive: true, force: true });
    const fresh = scratchDir("loc-e2e-erin-");

    const plan = await runRecover(fresh, kubeconfig, ["--from-cluster", "--namespace", namespace, "--dry-run"], { LOC_OWNER: "erin" });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.report.actions.map((a) => `${a.action} ${a.status}`).sort()).toEqual(["deleteConfig planned", "deletePod planned", "removeAnnotations planned", "restoreScale planned"]);
    expect(await web.state()).toEqual(exposed);

    const applied = await runRecover(fresh, kubeconfig, ["--from-cluster"], { LOC_OWNER: "erin" });
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.report).toMatchObject({ source: "cluster", sessions: 1, done: 4, left: 0, failed: 0 });
    expect(await web.state()).toEqual(before);
    await waitForReadyPods(kube, namespace, { app: "lost-dir" }, 2);

    const again = await runRecover(fresh, kubeconfig, ["--from-cluster"], { LOC_OWNER: "erin" });
    expect(again.report).toMatchObject({ sessions: 0, actions: [] });
  });

  it("--from-cluster puts a retargeted Service's selector back from its annotation after the state dir was deleted", async () => {
    const web = await workload("lost-selector");
    const before = await web.state();
    const daemon = await daemonFor("lost-selector", "frank", { killAt: "expose.active" });
    const expose = startExpose([`${namespace}/lost-selector`, "--detach", "--strategy", "selector", "--connect-timeout", "120s", ...standInArgs()], daemon.stateDir);
    const proxy = await playProxyPod(kube, namespace, "lost-selector", [8080]);
    try {
      await killedAt(daemon, expose);
    } finally {
      await proxy.stop();
    }
    const exposed = await web.state();
    expect(exposed["Service/lost-selector"]).toMatchObject({ selector: JSON.stringify({ "loc.dev/session": proxy.session }) });
    rmSync(daemon.stateDir, { recursive: true, force: true });

    const applied = await runRecover(scratchDir("loc-e2e-frank-"), kubeconfig, ["--from-cluster", "--namespace", namespace], { LOC_OWNER: "frank" });
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.report.actions.map((a) => `${a.action} ${a.status}`)).toEqual(["restoreSelector done", "deletePod done", "deleteConfig done"]);
    expect(await web.state()).toEqual(before);
  });
});
