// loc expose --strategy selector on the real test cluster: the Service's selector points at the proxy
// pod while the application's pods keep running untouched. Traffic is checked through the test's own
// daemon, whose tunnel follows the Service's EndpointSlice; stop puts the selector back byte for byte.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  connect,
  createClusterPortForward,
  createDeployment,
  createNamespace,
  createService,
  deleteClusterPortForward,
  deleteNamespace,
  freeLoopbackPort,
  kwokPlacement,
  labelSelector,
  neverPulledImage,
  NotYet,
  waitFor,
  waitForReadyPods,
  type Kube,
} from "../../../cluster/helpers.js";
import { ask } from "../../../helpers/ask.js";
import { startDaemonProcess, type DaemonProcess } from "../../fixtures/daemon-process.js";
import { locAnnotationsOf, playProxyPod, standInArgs, startExpose, waitForActive, type ExposeProcess, type ProxyStandIn } from "../../fixtures/expose-fixture.js";
import { startTaggedBackend, type TaggedBackend } from "../../fixtures/tagged-backends.js";

const kubeconfig = inject("kubeconfig");
let kube: Kube;
let namespace: string;
let daemon: DaemonProcess;

beforeAll(async () => {
  kube = connect(kubeconfig);
  namespace = await createNamespace(kube, "expose-sel");
  // A range of its own: other e2e files' daemons may listen on the default one at the same time.
  const range = `127.43.${Math.floor(Math.random() * 256)}.0/24`;
  daemon = await startDaemonProcess(["--namespace", namespace, "--ip-range", range], kubeconfig);
});

afterAll(async () => {
  await daemon?.stop();
  if (namespace) await deleteNamespace(kube, namespace);
});

const readService = (name: string) => kube.core.readNamespacedService({ namespace, name });

/** `name=uid` of the pods with these labels: identical before, during and after means none restarted. */
async function podUids(labels: Record<string, string>): Promise<string[]> {
  const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: labelSelector(labels) });
  return pods.items.map((p) => `${p.metadata?.name}=${p.metadata?.uid}`).sort();
}

/** Waits until the Service's EndpointSlices list exactly these pods, all ready. */
async function waitForEndpointPods(service: string, pods: string[]): Promise<void> {
  const want = JSON.stringify([...pods].sort());
  await waitFor(
    `endpoints of ${service}: ${want}`,
    async () => {
      const slices = await kube.discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `kubernetes.io/service-name=${service}` });
      const seen = slices.items.flatMap((s) => s.endpoints ?? []).map((e) => `${e.targetRef?.name}${e.conditions?.ready === true ? "" : " (not ready)"}`);
      if (JSON.stringify(seen.sort()) !== want) throw new NotYet(`[${seen.join(", ")}]`);
      return true;
    },
    { timeoutMs: 30_000 },
  );
}

/** Waits until the Service's address in the daemon answers from the backend tagged `tag`; returns that address. */
async function waitForAnswer(service: string, port: number, tag: string): Promise<string> {
  return waitFor(
    `${service}:${port} answering from ${tag}`,
    async () => {
      const tunnel = (await daemon.list()).tunnels.find((t) => t.key === `${namespace}/${service}`);
      if (!tunnel) throw new NotYet("no tunnel yet");
      const reply = await ask(tunnel.ip, port, "ping", 3_000);
      if (reply !== `${tag}|ping`) throw new NotYet(`${tunnel.ip} answered ${JSON.stringify(reply)}`);
      return tunnel.ip;
    },
    { timeoutMs: 40_000, intervalMs: 500 },
  );
}

async function proxyGone(proxy: ProxyStandIn): Promise<void> {
  await waitFor(`pod ${proxy.pod} gone`, async () => {
    const pods = await kube.core.listNamespacedPod({ namespace, fieldSelector: `metadata.name=${proxy.pod}` });
    return pods.items.length === 0 || undefined;
  });
  await expect(kube.core.readNamespacedSecret({ namespace, name: proxy.pod })).rejects.toMatchObject({ code: 404 });
}

/** The session's history: its events, and `action target` of its intents and of its ok outcomes. */
async function sessionHistory(session: string) {
  const events = await daemon.history(["--stream", `expose:${session}`]);
  const step = (e: (typeof events)[number]) => `${String(e.data.action)} ${String(e.data.target)}`;
  const intents = events.filter((e) => e.type === "expose.intent").map(step);
  const outcomes = events.filter((e) => e.type === "expose.outcome" && e.data.ok === true).map(step);
  return { events, intents, outcomes };
}

/** `loc expose --strategy selector` until active, with the proxy pod played by a real sshd. */
async function exposeBySelector(name: string, targetPort: number, extra: string[], started: (expose: ExposeProcess) => void): Promise<ProxyStandIn> {
  const expose = startExpose([`${namespace}/${name}`, "--strategy", "selector", ...extra, ...standInArgs()], daemon.stateDir);
  started(expose);
  const proxy = await playProxyPod(kube, namespace, name, [targetPort]);
  await waitForActive(expose);
  return proxy;
}

async function ctrlC(expose: ExposeProcess): Promise<void> {
  expose.child.kill("SIGINT");
  expect((await expose.exit).code, expose.output()).toBe(0);
}

describe("loc expose --strategy selector: a 2-replica Deployment's Service", () => {
  const name = "web";
  const labels = { app: "web", tier: "front" };
  const forwardName = `loc-e2e-selector-${Math.random().toString(16).slice(2, 10)}`;
  let port: number;
  let app: TaggedBackend;
  let laptop: TaggedBackend;
  let appPods: string[];
  let uidsBefore: string[];
  let originalSelector: string;
  let address: string;
  let expose: ExposeProcess | undefined;
  let proxy: ProxyStandIn | undefined;

  beforeAll(async () => {
    port = await freeLoopbackPort();
    [app, laptop] = [await startTaggedBackend("app"), await startTaggedBackend("laptop")];
    await createDeployment(kube, namespace, name, 2, { labels, ports: [{ name: "http", containerPort: port }] });
    await createService(kube, namespace, name, labels, [{ name: "http", port: 80, targetPort: "http" as never }]);
    appPods = (await waitForReadyPods(kube, namespace, labels, 2)).map((p) => p.metadata?.name ?? "");
    // kwok answers the app pods' port with the "app" backend (the proxy pod gets its own PortForward).
    await createClusterPortForward(kube, forwardName, { matchNamespaces: [namespace], matchNames: appPods }, [{ ports: [port], target: { address: "127.0.0.1", port: app.port } }]);
    originalSelector = JSON.stringify((await readService(name)).spec?.selector);
    uidsBefore = await podUids(labels);
  });

  afterAll(async () => {
    expose?.child.kill("SIGKILL");
    await proxy?.stop();
    await Promise.all([app?.close(), laptop?.close()]);
    await deleteClusterPortForward(kube, forwardName).catch(() => undefined);
  });

  it("before the expose, the Service's address answers from the app's pods", async () => {
    address = await waitForAnswer(name, 80, "app");
  });

  it("while exposed: the app's pods keep running, the Service selects only the proxy, traffic reaches the laptop", async () => {
    proxy = await exposeBySelector(name, port, ["--map", `${laptop.port}:80`], (started) => (expose = started));
    const session = proxy.session;
    const service = await readService(name);
    expect(service.spec?.selector).toEqual({ "loc.dev/session": session });
    expect(locAnnotationsOf(service)).toEqual({ "loc.dev/session": session, "loc.dev/owner": expect.any(String), "loc.dev/original-selector": originalSelector });
    // Only loc's labels: no other selector (the ReplicaSet's, another Service's) may count the proxy.
    const pod = await kube.core.readNamespacedPod({ namespace, name: proxy.pod });
    expect(pod.metadata?.labels).toEqual({ "loc.dev/session": session, "loc.dev/owner": expect.any(String), "loc.dev/service": name, "app.kubernetes.io/managed-by": "loc" });

    await waitForEndpointPods(name, [proxy.pod]);
    expect(await waitForAnswer(name, 80, "laptop")).toBe(address);
    expect(await podUids(labels)).toEqual(uidsBefore);
    const deployment = await kube.apps.readNamespacedDeployment({ namespace, name });
    expect(deployment.spec?.replicas).toBe(2);
    expect(locAnnotationsOf(deployment)).toEqual({});
    await waitForReadyPods(kube, namespace, labels, 2);

    const listed = (await daemon.list()).exposes.find((e) => e.service === `${namespace}/${name}`);
    expect(listed).toMatchObject({ state: "active", strategy: "selector", workloads: [], pod: proxy.pod, ports: [`${port}→127.0.0.1:${laptop.port}`] });
    expect(listed?.connections).toBeGreaterThanOrEqual(1);
  });

  it("Ctrl-C: the selector is back byte for byte, the app's pods serve again, history has every step", async () => {
    if (!expose || !proxy) throw new Error("the expose of the previous test did not start");
    await ctrlC(expose);
    const service = await readService(name);
    expect(JSON.stringify(service.spec?.selector)).toBe(originalSelector);
    expect(locAnnotationsOf(service)).toEqual({});
    await proxyGone(proxy);
    await waitForEndpointPods(name, appPods);
    expect(await podUids(labels)).toEqual(uidsBefore);
    expect((await kube.apps.readNamespacedDeployment({ namespace, name })).spec?.replicas).toBe(2);
    expect(await waitForAnswer(name, 80, "app")).toBe(address);

    const { events, intents, outcomes } = await sessionHistory(proxy.session);
    expect(intents).toEqual(outcomes);
    expect(intents).toEqual([
      `createConfig Secret/${proxy.pod}`,
      `createPod Pod/${proxy.pod}`,
      `retarget Service/${name}`,
      `restoreSelector Service/${name}`,
      `deletePod Pod/${proxy.pod}`,
      `deleteConfig Secret/${proxy.pod}`,
    ]);
    expect(events.find((e) => e.type === "expose.requested")?.data).toMatchObject({ strategy: "selector" });
    expect(events.at(-1)).toMatchObject({ type: "expose.stopped" });
    expect(JSON.stringify(events)).not.toMatch(/PRIVATE KEY|ssh-ed25519 AAAA/);
  });
});

describe("loc expose --strategy selector: edge cases", () => {
  it("a selector someone else sets while exposed is left as it is, with a warning; loc's annotations go", async () => {
    const name = "edit";
    const port = await freeLoopbackPort();
    await createDeployment(kube, namespace, name, 1, { labels: { app: name }, ports: [{ containerPort: port }] });
    await createService(kube, namespace, name, { app: name }, [{ port: 80, targetPort: port as never }]);
    await waitForReadyPods(kube, namespace, { app: name }, 1);
    let expose: ExposeProcess | undefined;
    let proxy: ProxyStandIn | undefined;
    try {
      proxy = await exposeBySelector(name, port, [], (started) => (expose = started));
      const service = await readService(name);
      expect(service.spec?.selector).toEqual({ "loc.dev/session": proxy.session });
      // A replace conditional on the version read, as kubectl edit does.
      const edited = { app: name, track: "canary" };
      await kube.core.replaceNamespacedService({ namespace, name, body: { ...service, spec: { ...service.spec, selector: edited } } });
      await ctrlC(expose!);

      const after = await readService(name);
      expect(after.spec?.selector).toEqual(edited);
      expect(locAnnotationsOf(after)).toEqual({});
      const warning = `Service/${name} had its selector changed to {"app":"${name}","track":"canary"} by someone else while exposed (it was {"app":"${name}"}); left as it is`;
      expect(expose!.output()).toContain(`warning: ${warning}`);
      await proxyGone(proxy);

      const { events, intents, outcomes } = await sessionHistory(proxy.session);
      expect(events.filter((e) => e.type === "expose.warning").map((e) => e.data.message)).toEqual([warning]);
      expect(intents).toEqual(outcomes);
      expect(intents).toEqual([
        `createConfig Secret/${proxy.pod}`,
        `createPod Pod/${proxy.pod}`,
        `retarget Service/${name}`,
        `releaseService Service/${name}`,
        `deletePod Pod/${proxy.pod}`,
        `deleteConfig Secret/${proxy.pod}`,
      ]);
    } finally {
      expose?.child.kill("SIGKILL");
      await proxy?.stop();
    }
  });

  it("a bare pod behind the Service (which the scale strategy refuses) keeps running; stop restores the selector", async () => {
    const name = "lone";
    const port = await freeLoopbackPort();
    const body = { metadata: { name: `${name}-pod`, labels: { app: name } }, spec: { ...kwokPlacement, tolerations: [...kwokPlacement.tolerations], containers: [{ name: "c", image: neverPulledImage, ports: [{ containerPort: port }] }] } };
    await kube.core.createNamespacedPod({ namespace, body });
    await createService(kube, namespace, name, { app: name }, [{ port: 80, targetPort: port as never }]);
    const uidsBefore = await podUids({ app: name });
    await waitForReadyPods(kube, namespace, { app: name }, 1);
    const originalSelector = JSON.stringify((await readService(name)).spec?.selector);
    let expose: ExposeProcess | undefined;
    let proxy: ProxyStandIn | undefined;
    try {
      proxy = await exposeBySelector(name, port, [], (started) => (expose = started));
      expect((await readService(name)).spec?.selector).toEqual({ "loc.dev/session": proxy.session });
      await waitForEndpointPods(name, [proxy.pod]);
      await ctrlC(expose!);
      const after = await readService(name);
      expect(JSON.stringify(after.spec?.selector)).toBe(originalSelector);
      expect(locAnnotationsOf(after)).toEqual({});
      await proxyGone(proxy);
      expect(await podUids({ app: name })).toEqual(uidsBefore);
      await waitForEndpointPods(name, [`${name}-pod`]);
    } finally {
      expose?.child.kill("SIGKILL");
      await proxy?.stop();
    }
  });

  it("--strategy nope is refused in one line naming the strategies, and nothing changes", async () => {
    const name = "still";
    await createService(kube, namespace, name, { app: name }, [{ port: 80 }]);
    const before = await readService(name);
    const result = await startExpose([`${namespace}/${name}`, "--strategy", "nope", ...standInArgs()], daemon.stateDir).exit;
    expect(result.code).not.toBe(0);
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^loc: unknown strategy "nope"; available: scale, selector\b/);
    expect((await readService(name)).metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    const proxies = await kube.core.listNamespacedPod({ namespace, labelSelector: `loc.dev/service=${name}` });
    expect(proxies.items).toEqual([]);
    expect((await daemon.list()).exposes.filter((e) => e.service === `${namespace}/${name}`)).toEqual([]);
  });
});
