// Port-forward through the real API server to pods on the kwok node: the API server upgrades the
// request and proxies it to kwok's kubelet endpoint, which dials what a PortForward /
// ClusterPortForward names — here a local echo server standing in for the pod's process.
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  clientNodePortForward,
  connect,
  createClusterPortForward,
  createDeployment,
  createNamespace,
  createPodPortForward,
  deleteClusterPortForward,
  deleteNamespace,
  kubectlPortForward,
  roundTrip,
  startEchoServer,
  waitFor,
  waitForReadyPods,
  type Kube,
  type PodShape,
  type TcpServerHandle,
} from "../../cluster/helpers.js";

const echoPort = 7000;
const echoPods: PodShape = { labels: { app: "echo" }, ports: [{ name: "echo", containerPort: echoPort }] };
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

describe("port-forward to kwok pods", () => {
  let kube: Kube;
  let namespace: string;
  let echo: TcpServerHandle;
  let podByPortForward: string;
  let podByClusterPortForward: string;

  beforeAll(async () => {
    kube = connect(inject("kubeconfig"));
    echo = await startEchoServer();
    namespace = await createNamespace(kube, "port-forward");
    await createDeployment(kube, namespace, "echo", 2, echoPods);
    const pods = await waitForReadyPods(kube, namespace, echoPods.labels, 2);
    podByPortForward = pods[0]?.metadata?.name ?? "";
    podByClusterPortForward = pods[1]?.metadata?.name ?? "";

    const target = { address: "127.0.0.1", port: echo.port };
    // A per-pod rule for the first pod; the second is matched by the namespace-wide rule.
    await createPodPortForward(kube, namespace, podByPortForward, [{ ports: [echoPort], target }]);
    await createClusterPortForward(kube, namespace, { matchNamespaces: [namespace] }, [{ ports: [echoPort], target }]);
  });

  afterAll(async () => {
    await echo?.close();
    if (namespace) {
      await deleteClusterPortForward(kube, namespace).catch(() => undefined);
      await deleteNamespace(kube, namespace);
    }
  });

  it("carries 10 MB byte-identical both ways over @kubernetes/client-node's WebSocket port-forward", async () => {
    const forward = await clientNodePortForward(kube.config, namespace, podByPortForward, echoPort);
    try {
      // kwok learns about the PortForward through a watch; wait until it answers.
      const hello = Buffer.from("hello");
      await waitFor(
        "kwok to serve the PortForward",
        async () => (await roundTrip(forward.port, hello, 5_000)).equals(hello) || undefined,
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      const connectionsBefore = echo.connections();

      const payload = randomBytes(10 * 1024 * 1024);
      const echoed = await roundTrip(forward.port, payload);

      expect(echoed.length).toBe(payload.length);
      expect(sha256(echoed)).toBe(sha256(payload));
      expect(echo.connections()).toBe(connectionsBefore + 1);
      expect(forward.errors).toEqual([]);
    } finally {
      await forward.close();
    }
  });

  it("reports kwok's error for a pod port no rule forwards", async () => {
    const unforwarded = echoPort + 1;
    const forward = await clientNodePortForward(kube.config, namespace, podByPortForward, unforwarded);
    try {
      await expect(roundTrip(forward.port, Buffer.from("x"), 10_000)).rejects.toThrow();
      await waitFor("the port-forward error", async () => forward.errors[0]);
      // Which message depends on whether kwok has seen the pod's PortForward yet; both come from kwok.
      const kwokError = new RegExp(`(forward not found|no forward found) for port ${unforwarded}`);
      expect(forward.errors.join("")).toMatch(kwokError);
    } finally {
      await forward.close();
    }
  });

  it("works with kubectl port-forward (cached kubectl, SPDY over WebSocket) via a ClusterPortForward", async () => {
    const kubectl = path.join(inject("clusterBin"), "kubectl");
    const kubeconfig = inject("kubeconfig");
    const forward = await kubectlPortForward(kubectl, kubeconfig, namespace, podByClusterPortForward, echoPort);
    try {
      const payload = randomBytes(256 * 1024);
      const echoed = await waitFor(
        "kwok to serve the ClusterPortForward",
        () => roundTrip(forward.localPort, payload, 10_000),
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      expect(sha256(echoed)).toBe(sha256(payload));
    } finally {
      await forward.stop();
    }
  });
});
