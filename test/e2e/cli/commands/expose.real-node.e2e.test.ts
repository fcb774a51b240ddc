// `loc expose` on the real node (ADR 0012), both strategies, with no stand-in: loc's own proxy pod
// spec (non-root sshd, all capabilities dropped, the Secret volume's modes, fsGroup, the readiness
// probe) runs the locally built OpenSSH image in a real container, and an in-cluster client pod's
// curl to the Service's ClusterIP goes through kube-proxy to the proxy pod and the SSH reverse
// tunnel to a server on this machine. Then: stop, and a SIGKILLed daemon undone by `loc recover`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, createNamespace, deleteNamespace, waitFor, type Kube } from "../../../cluster/helpers.js";
import { startDaemonProcess } from "../../fixtures/daemon-process.js";
import { locState, runRecover, startExpose, startLaptopServer, waitForActive } from "../../fixtures/expose-fixture.js";
import { deployApp, ensureRealNode, OPENSSH_IMAGE, realPlacement, startClientPod, waitForAppPods, waitForCurl } from "../../fixtures/real-node.js";

const STRATEGIES = ["scale", "selector"] as const;
const LAPTOP_REPLY = "hello from the laptop";

describe("loc expose with its real proxy pod on the real node", () => {
  const kubeconfig = inject("kubeconfig");
  let kube: Kube;
  let namespace: string;
  let clusterIP: string;
  let client: string;
  let laptop: { port: number; stop(): Promise<void> };

  beforeAll(async () => {
    await ensureRealNode();
    kube = connect(kubeconfig);
    namespace = await createNamespace(kube, "real-expose");
    ({ clusterIP } = await deployApp(kube, namespace, "web", 2));
    client = await startClientPod(kube, namespace);
    await waitForAppPods(kube, namespace, "web", 2);
    laptop = await startLaptopServer(LAPTOP_REPLY);
  }, 300_000);

  afterAll(async () => {
    await laptop?.stop();
    if (namespace) await deleteNamespace(kube, namespace);
  });

  const state = () => locState(kube, namespace, [{ kind: "Deployment", name: "web" }], "web");
  const exposeArgs = (strategy: string, extra: string[] = []) => [
    `${namespace}/web`,
    "--strategy",
    strategy,
    "--map",
    `${laptop.port}:http`,
    "--image",
    OPENSSH_IMAGE,
    "--overrides",
    JSON.stringify({ spec: realPlacement }),
    ...extra,
  ];

  /** The proxy pod runs for real: on the real node, Ready by the kubelet's probe, our image, loc's uid. */
  async function expectRealProxyPod(): Promise<string> {
    const pods = (await kube.core.listNamespacedPod({ namespace, labelSelector: "loc.dev/service=web" })).items.filter((p) => !p.metadata?.deletionTimestamp);
    expect(pods).toHaveLength(1);
    const pod = pods[0];
    expect(pod?.spec?.nodeName).toBe("real");
    expect(pod?.spec?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 911, fsGroup: 911 });
    expect(pod?.spec?.containers[0]?.securityContext?.capabilities?.drop).toEqual(["ALL"]);
    const status = pod?.status?.containerStatuses?.[0];
    expect(status).toMatchObject({ ready: true, image: OPENSSH_IMAGE, state: { running: expect.anything() } });
    expect(status?.containerID).toMatch(/^containerd:\/\//);
    // sshd's own log, read back through the kubelet: it listens as loc configured it, and loc's key got in.
    const name = pod?.metadata?.name ?? "";
    const log = await waitFor("sshd accepting loc's key in the proxy pod's log", async () => {
      const text = await kube.core.readNamespacedPodLog({ namespace, name });
      return /Accepted publickey for abc/.test(text) ? text : undefined;
    });
    expect(log).toMatch(/Server listening on 0\.0\.0\.0 port 2222/);
    return name;
  }

  describe.each(STRATEGIES)("--strategy %s", (strategy) => {
    it("an in-cluster curl to the ClusterIP reaches the laptop; stop puts the app back", async () => {
      const before = await state();
      await waitForCurl(namespace, client, `http://${clusterIP}/`, "app web-");
      const daemon = await startDaemonProcess(["-n", namespace], kubeconfig);
      const expose = startExpose(exposeArgs(strategy), daemon.stateDir);
      try {
        await waitForActive(expose, 120_000);
        await expectRealProxyPod();
        expect(await waitForCurl(namespace, client, `http://${clusterIP}/`, LAPTOP_REPLY)).toBe(LAPTOP_REPLY);
        if (strategy === "selector") await waitForAppPods(kube, namespace, "web", 2);
        expose.child.kill("SIGINT");
        expect((await expose.exit).code, expose.output()).toBe(0);
        await waitForAppPods(kube, namespace, "web", 2);
        await waitForCurl(namespace, client, `http://${clusterIP}/`, "app web-");
        expect(await state()).toEqual(before);
      } finally {
        expose.child.kill("SIGKILL");
        await daemon.stop();
      }
    });

    it("a SIGKILLed daemon while active: loc recover brings the app back and the cluster as it was", async () => {
      const before = await state();
      const daemon = await startDaemonProcess(["-n", namespace], kubeconfig);
      const expose = startExpose(exposeArgs(strategy, ["--detach"]), daemon.stateDir);
      await waitForActive(expose, 120_000);
      expect((await expose.exit).code, expose.output()).toBe(0);
      await waitForCurl(namespace, client, `http://${clusterIP}/`, LAPTOP_REPLY);

      const pid = Number(readFileSync(join(daemon.stateDir, "daemon.lock"), "utf8").trim());
      process.kill(pid, "SIGKILL");
      expect((await daemon.exit).signal).toBe("SIGKILL");
      expect(await state()).not.toEqual(before);

      const recovered = await runRecover(daemon.stateDir, kubeconfig);
      expect(recovered.code, recovered.stderr).toBe(0);
      expect(recovered.report).toMatchObject({ sessions: 1, failed: 0, left: 0 });
      await waitForAppPods(kube, namespace, "web", 2);
      await waitForCurl(namespace, client, `http://${clusterIP}/`, "app web-");
      await waitFor("the cluster as before", async () => (JSON.stringify(await state()) === JSON.stringify(before) ? true : undefined), { timeoutMs: 30_000 });
      expect(await state()).toEqual(before);
    });
  });
});
