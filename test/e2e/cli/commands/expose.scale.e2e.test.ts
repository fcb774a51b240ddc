// loc expose on the real test cluster: a real daemon process, the real scale subresource and
// controllers, the proxy pod's SSH port reached through the API server's port-forward (kwok maps it
// to a real sshd started with the keys loc put in the session's Secret), and a local HTTP server.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  connect,
  createDeployment,
  createNamespace,
  createService,
  createStatefulSetWithHeadlessService,
  clientNodePortForward,
  deleteNamespace,
  freeLoopbackPort,
  waitFor,
  waitForReadyPods,
  type Kube,
} from "../../../cluster/helpers.js";
import { startDaemonProcess, type DaemonProcess } from "../../fixtures/daemon-process.js";
import { httpGet, locAnnotationsOf, playProxyPod, readScaled, standInArgs, startExpose, startLaptopServer, waitForActive, type ScaledKind } from "../../fixtures/expose-fixture.js";

const kubeconfig = inject("kubeconfig");
let kube: Kube;
let namespace: string;
let daemon: DaemonProcess;

beforeAll(async () => {
  kube = connect(kubeconfig);
  namespace = await createNamespace(kube, "expose");
  daemon = await startDaemonProcess(["--namespace", namespace], kubeconfig);
});

afterAll(async () => {
  await daemon?.stop();
  if (namespace) await deleteNamespace(kube, namespace);
});

async function replicas(kind: ScaledKind, name: string): Promise<number> {
  const scale = kind === "Deployment" ? await kube.apps.readNamespacedDeploymentScale({ namespace, name }) : await kube.apps.readNamespacedStatefulSetScale({ namespace, name });
  return scale.spec?.replicas ?? 0;
}

async function locAnnotations(kind: ScaledKind, name: string): Promise<Record<string, string>> {
  return locAnnotationsOf(await readScaled(kube, namespace, kind, name));
}

async function podGone(name: string): Promise<void> {
  await waitFor(`pod ${name} gone`, async () => {
    const pods = await kube.core.listNamespacedPod({ namespace, fieldSelector: `metadata.name=${name}` });
    return pods.items.length === 0 || undefined;
  });
}

/**
 * The whole round: expose → check the cluster and a request through the API server → Ctrl-C →
 * check everything is back, and that history has an outcome for every intent.
 */
async function exposeRoundTrip(kind: ScaledKind, name: string, targetPort: number, labels: Record<string, string>, stopWith: "ctrl-c" | "--stop") {
  const laptop = await startLaptopServer(`hello from the laptop (${name})`);
  const detach = stopWith === "--stop" ? ["--detach"] : [];
  const expose = startExpose([`${namespace}/${name}`, "--map", `${laptop.port}:${targetPort}`, ...detach, ...standInArgs()], daemon.stateDir);
  const proxy = await playProxyPod(kube, namespace, name, [targetPort]);
  try {
    await waitForActive(expose);
    expect(await replicas(kind, name)).toBe(0);
    expect(await locAnnotations(kind, name)).toMatchObject({ "loc.dev/session": proxy.session, "loc.dev/original-replicas": "2" });
    const pod = await kube.core.readNamespacedPod({ namespace, name: proxy.pod });
    expect(pod.metadata?.labels).toMatchObject({ ...labels, "loc.dev/session": proxy.session, "loc.dev/service": name, "loc.dev/owner": expect.any(String) });
    expect(proxy.pod).toBe(`loc-${name}-${proxy.session}`);
    // The workload's own pods are gone (scaled to 0 for real); only the proxy carries the labels.
    await waitForReadyPods(kube, namespace, labels, 1);

    // Through the API server: port-forward to the proxy pod's target port → kwok → sshd's forward → loc → laptop.
    const forward = await clientNodePortForward(kube.config, namespace, proxy.pod, targetPort);
    try {
      expect(await httpGet(forward.port, `hello from the laptop (${name})`)).toMatch(/^HTTP\/1\.1 200 OK/);
    } finally {
      await forward.close();
    }
    const listed = (await daemon.list()).exposes.find((e) => e.service === `${namespace}/${name}`);
    expect(listed).toMatchObject({ state: "active", pod: proxy.pod, ports: [`${targetPort}→127.0.0.1:${laptop.port}`] });
    expect(listed?.connections).toBeGreaterThanOrEqual(1);
    expect(listed?.bytesIn).toBeGreaterThan(0);

    if (stopWith === "ctrl-c") {
      expose.child.kill("SIGINT");
      expect((await expose.exit).code, expose.output()).toBe(0);
    } else {
      // The detached command has exited on its own; the session lives on in the daemon.
      expect((await expose.exit).code, expose.output()).toBe(0);
      expect(await replicas(kind, name)).toBe(0);
      const stop = await startExpose(["--stop", `${namespace}/${name}`], daemon.stateDir).exit;
      expect(stop.code, stop.stderr).toBe(0);
      expect(stop.stdout).toContain("stopped: stopped by loc expose --stop");
    }
    expect(await replicas(kind, name)).toBe(2);
    expect(await locAnnotations(kind, name)).toEqual({});
    await podGone(proxy.pod);
    await expect(kube.core.readNamespacedSecret({ namespace, name: proxy.pod })).rejects.toMatchObject({ code: 404 });
    await waitForReadyPods(kube, namespace, labels, 2);

    const history = await daemon.history(["--stream", `expose:${proxy.session}`]);
    const intents = history.filter((e) => e.type === "expose.intent").map((e) => `${String(e.data.action)} ${String(e.data.target)}`);
    const outcomes = history.filter((e) => e.type === "expose.outcome" && e.data.ok === true).map((e) => `${String(e.data.action)} ${String(e.data.target)}`);
    expect(intents).toEqual(outcomes);
    expect(intents).toEqual([
      `annotate ${kind}/${name}`,
      `scale ${kind}/${name}`,
      `createConfig Secret/${proxy.pod}`,
      `createPod Pod/${proxy.pod}`,
      `deletePod Pod/${proxy.pod}`,
      `deleteConfig Secret/${proxy.pod}`,
      `restoreScale ${kind}/${name}`,
      `removeAnnotations ${kind}/${name}`,
    ]);
    expect(history.at(-1)).toMatchObject({ type: "expose.stopped" });
    expect(JSON.stringify(history)).not.toMatch(/PRIVATE KEY|ssh-ed25519 AAAA/);
    // SSH reached the proxy pod over the daemon's default forward transport: a spdy session to it.
    const sessions = await daemon.history(["--stream", `session:${namespace}/${proxy.pod}`]);
    expect(sessions[0]).toMatchObject({ type: "session.opened", data: { transport: "spdy", pod: `${namespace}/${proxy.pod}` } });
  } finally {
    expose.child.kill("SIGKILL");
    await proxy.stop();
    await laptop.stop();
  }
}

describe("loc expose (real cluster, real sshd)", () => {
  it("a Service of a 2-replica Deployment: traffic reaches the laptop, stop restores everything", async () => {
    const port = await freeLoopbackPort();
    const labels = { app: "web" };
    await createDeployment(kube, namespace, "web", 2, { labels, ports: [{ name: "http", containerPort: port }] });
    await createService(kube, namespace, "web", labels, [{ name: "http", port: 80, targetPort: "http" as never }]);
    await waitForReadyPods(kube, namespace, labels, 2);
    await exposeRoundTrip("Deployment", "web", port, labels, "ctrl-c");
  });

  it("a StatefulSet's Service, the same way, detached and stopped with --stop", async () => {
    const port = await freeLoopbackPort();
    const labels = { app: "db" };
    await createStatefulSetWithHeadlessService(kube, namespace, "db", 2, { labels, ports: [{ name: "pg", containerPort: port }] }, [{ name: "pg", port }]);
    await waitForReadyPods(kube, namespace, labels, 2);
    await exposeRoundTrip("StatefulSet", "db", port, labels, "--stop");
  });

  it("daemon shutdown undoes a detached expose before the daemon exits", async () => {
    const port = await freeLoopbackPort();
    const labels = { app: "api" };
    await createDeployment(kube, namespace, "api", 3, { labels, ports: [{ containerPort: port }] });
    await createService(kube, namespace, "api", labels, [{ port }]);
    await waitForReadyPods(kube, namespace, labels, 3);
    const own = await startDaemonProcess(["--namespace", namespace], kubeconfig);
    const expose = startExpose([`${namespace}/api`, "--detach", ...standInArgs()], own.stateDir);
    const proxy = await playProxyPod(kube, namespace, "api", [port]);
    try {
      expect((await expose.exit).code, expose.output()).toBe(0);
      expect(await replicas("Deployment", "api")).toBe(0);
      expect(await own.stop()).toBe(0);
      expect(await replicas("Deployment", "api")).toBe(3);
      expect(await locAnnotations("Deployment", "api")).toEqual({});
      await podGone(proxy.pod);
      expect(own.stderr()).toContain("loc daemon: shutting down");
    } finally {
      await proxy.stop();
    }
  });
});
