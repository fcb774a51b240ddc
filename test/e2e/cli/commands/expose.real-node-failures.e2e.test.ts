// `loc expose` whose proxy image the real node does not have (ADR 0012): the kubelet, not a test
// double, reports ErrImageNeverPull, and loc must say so and put the cluster back. loc's pod spec
// has no imagePullPolicy, so a MutatingAdmissionPolicy (GA in 1.36) sets Never on this namespace's
// pods: nothing is ever pulled from a registry, and the rest of loc's spec stays exactly loc's.
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, createNamespace, deleteNamespace, type Kube } from "../../../cluster/helpers.js";
import { startDaemonProcess, type DaemonProcess } from "../../fixtures/daemon-process.js";
import { locState, startExpose } from "../../fixtures/expose-fixture.js";
import { deployApp, ensureRealNode, realPlacement, startClientPod, waitForAppPods, waitForCurl } from "../../fixtures/real-node.js";

function kubectl(args: string[], stdin: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(`${process.env.LOC_E2E_BIN ?? ""}/kubectl`, ["--kubeconfig", process.env.LOC_E2E_KUBECONFIG ?? "", ...args], { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`kubectl ${args.join(" ")}: ${stderr}`))));
    child.stdin.end(stdin);
  });
}

/** Every container of every pod created in `namespace` gets imagePullPolicy: Never. */
function neverPullPolicy(namespace: string): string {
  const name = `never-pull-${namespace}`;
  const match = `{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "${namespace}"}}}`;
  return `
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: ${name}}
spec:
  failurePolicy: Fail
  reinvocationPolicy: Never
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
  mutations:
    - patchType: ApplyConfiguration
      applyConfiguration:
        expression: >
          Object{spec: Object.spec{containers: object.spec.containers.map(c, Object.spec.containers{name: c.name, imagePullPolicy: "Never"})}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: ${name}}
spec:
  policyName: ${name}
  matchResources: ${match}
`;
}

describe("loc expose with a proxy image the real node does not have", () => {
  const kubeconfig = inject("kubeconfig");
  let kube: Kube;
  let namespace: string;
  let daemon: DaemonProcess;
  let clusterIP: string;
  let client: string;

  beforeAll(async () => {
    await ensureRealNode();
    kube = connect(kubeconfig);
    namespace = await createNamespace(kube, "real-fail");
    await kubectl(["apply", "-f", "-"], neverPullPolicy(namespace));
    ({ clusterIP } = await deployApp(kube, namespace, "web", 2));
    client = await startClientPod(kube, namespace);
    await waitForAppPods(kube, namespace, "web", 2);
    daemon = await startDaemonProcess(["-n", namespace], kubeconfig);
  }, 300_000);

  afterAll(async () => {
    await daemon?.stop();
    if (namespace) {
      await kubectl(["delete", "-f", "-", "--ignore-not-found"], neverPullPolicy(namespace)).catch(() => undefined);
      await deleteNamespace(kube, namespace);
    }
  });

  it.each(["scale", "selector"])("--strategy %s: loc names ErrImageNeverPull and rolls back", async (strategy) => {
    const before = await locState(kube, namespace, [{ kind: "Deployment", name: "web" }], "web");
    const args = [`${namespace}/web`, "--strategy", strategy, "--image", "loc.test/not-built:local", "--overrides", JSON.stringify({ spec: realPlacement })];
    const started = Date.now();
    const result = await startExpose(args, daemon.stateDir).exit;
    const output = result.stdout + result.stderr;
    expect(result.code, output).not.toBe(0);
    expect(output).toMatch(/ErrImageNeverPull/);
    expect(output).toContain("loc.test/not-built:local");
    console.info(`[real-node] rolled back in ${Date.now() - started} ms; loc said: ${output.split("\n").find((line) => line.includes("ErrImageNeverPull")) ?? ""}`);
    expect(await locState(kube, namespace, [{ kind: "Deployment", name: "web" }], "web")).toEqual(before);
    await waitForAppPods(kube, namespace, "web", 2);
    await waitForCurl(namespace, client, `http://${clusterIP}/`, "app web-");
  });
});
