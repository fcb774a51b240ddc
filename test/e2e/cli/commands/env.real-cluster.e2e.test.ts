// `loc env` on the real test cluster: a Deployment using every kind of source gives exactly the
// expected map; `-- cmd` passes it and the exit code on; an identity without `get` on secrets is
// told which keys it could not read (exit 1), or leaves them out with --skip-secrets.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, createNamespace, deleteNamespace, kwokPlacement, neverPulledImage, NotYet, waitFor, type Kube } from "../../../cluster/helpers.js";
import { createLimitedKubeconfig } from "../../../cluster/rbac.js";
import { finished, spawnLoc } from "../../../helpers/loc-process.js";
import { scratchDir } from "../../../helpers/temp.js";
import { readFile, stat } from "node:fs/promises";
import { startDaemonProcess } from "../../fixtures/daemon-process.js";
import { playProxyPod, standInArgs, startExpose, startLaptopServer, waitForActive } from "../../fixtures/expose-fixture.js";
import { join } from "node:path";

const SECRET_VALUE = "s3cr3t 'quoted' $(HOME)\nline2";

async function loc(args: string[], kubeconfig: string) {
  return finished(spawnLoc(["env", ...args, "--kubeconfig", kubeconfig], {}));
}

describe("loc env on a real cluster", () => {
  let kube: Kube;
  let namespace: string;
  let pod: { name: string; ip: string; node: string };

  beforeAll(async () => {
    kube = connect(inject("kubeconfig"));
    namespace = await createNamespace(kube, "env");
    await kube.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "app-config" }, data: { MODE: "prod", "log.level": "debug", URL: "http://db:5432" } } });
    await kube.core.createNamespacedSecret({ namespace, body: { metadata: { name: "db" }, stringData: { password: SECRET_VALUE, user: "admin" } } });
    const labels = { app: "web" };
    await kube.apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels, annotations: { team: "payments" } },
            spec: {
              ...kwokPlacement, tolerations: kwokPlacement.tolerations.map((t) => ({ ...t })), nodeSelector: { ...kwokPlacement.nodeSelector },
              terminationGracePeriodSeconds: 0,
              containers: [
                { name: "sidecar", image: neverPulledImage },
                {
                  name: "app", image: neverPulledImage, ports: [{ name: "http", containerPort: 18731 }],
                  resources: { limits: { cpu: "500m", memory: "128Mi" } },
                  envFrom: [{ configMapRef: { name: "app-config" } }, { prefix: "DB_", secretRef: { name: "db" } }, { configMapRef: { name: "absent", optional: true } }],
                  env: [
                    { name: "MODE", value: "stage" },
                    { name: "GREETING", value: "$(MODE) at $(URL), $$(MODE) and $(UNDEFINED)" },
                    { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "db", key: "password" } } },
                    { name: "OPTIONAL", valueFrom: { configMapKeyRef: { name: "app-config", key: "nope", optional: true } } },
                    { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                    { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                    { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
                    { name: "NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                    { name: "TEAM", valueFrom: { fieldRef: { fieldPath: "metadata.annotations['team']" } } },
                    { name: "APP", valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
                    { name: "SA", valueFrom: { fieldRef: { fieldPath: "spec.serviceAccountName" } } },
                    { name: "MEM_MI", valueFrom: { resourceFieldRef: { resource: "limits.memory", divisor: "1Mi" } } },
                    { name: "CPU_M", valueFrom: { resourceFieldRef: { resource: "requests.cpu", divisor: "1m" } } },
                  ],
                },
              ],
            },
          },
        },
      },
    });
    await kube.core.createNamespacedService({ namespace, body: { metadata: { name: "web" }, spec: { selector: labels, ports: [{ port: 80, targetPort: "http" }] } } });
    pod = await waitFor("the web pod to run with an IP", async () => {
      const list = await kube.core.listNamespacedPod({ namespace, labelSelector: "app=web" });
      const p = list.items.find((item) => item.status?.phase === "Running" && item.status.podIP);
      if (!p) throw new NotYet("no running pod yet");
      return { name: p.metadata?.name ?? "", ip: p.status?.podIP ?? "", node: p.spec?.nodeName ?? "" };
    }, { timeoutMs: 60_000 });
  }, 120_000);

  afterAll(async () => {
    if (namespace) await deleteNamespace(kube, namespace);
  });

  const expected = () => ({
    MODE: "stage", "log.level": "debug", URL: "http://db:5432", DB_password: SECRET_VALUE, DB_user: "admin",
    GREETING: "stage at http://db:5432, $(MODE) and $(UNDEFINED)", PASSWORD: SECRET_VALUE,
    POD_NAME: pod.name, POD_NAMESPACE: namespace, POD_IP: pod.ip, NODE: pod.node, TEAM: "payments", APP: "web", SA: "default",
    MEM_MI: "128", CPU_M: "500",
  });

  it("resolves the Service's container (the one serving its target port) exactly, as JSON and as dotenv", async () => {
    const json = await loc([`${namespace}/web`, "--json"], inject("kubeconfig"));
    expect(json.stderr).toBe("");
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(expected());
    const out = join(scratchDir("loc-env-"), ".env");
    const written = await loc([`${namespace}/deploy/web`, "-c", "app", "-o", out], inject("kubeconfig"));
    expect(written.code).toBe(0);
    expect(written.stderr).not.toContain("s3cr3t");
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const { parse } = await import("dotenv");
    expect(parse(await readFile(out, "utf8"))).toEqual(expected());
  });

  it("runs a command with the environment and passes its exit code on", async () => {
    const run = await loc([`${namespace}/web`, "--", "sh", "-c", 'printf "%s|%s" "$GREETING" "$PASSWORD"; exit 7'], inject("kubeconfig"));
    expect(run.stdout).toBe(`stage at http://db:5432, $(MODE) and $(UNDEFINED)|${SECRET_VALUE}`);
    expect(run.code).toBe(7);
  });

  it("without get on secrets: names the Secret and keys, exit 1; --skip-secrets leaves them out", async () => {
    const limited = await createLimitedKubeconfig(kube, namespace, [
      { apiGroups: [""], resources: ["services", "pods", "configmaps"], verbs: ["get", "list"] },
      { apiGroups: ["apps"], resources: ["deployments", "replicasets", "statefulsets"], verbs: ["get", "list"] },
    ], scratchDir("loc-env-rbac-"));
    const refused = await waitFor("the limited identity's Role to apply", async () => {
      const result = await loc([`${namespace}/web`], limited);
      if (!result.stderr.includes("Secret")) throw new NotYet(result.stderr);
      return result;
    }, { timeoutMs: 30_000 });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe("");
    expect(refused.stderr.trim()).toBe(
      `loc: not allowed to read Secret ${namespace}/db (every key (envFrom), password for PASSWORD) (hint: ask for get on secrets in ${namespace}, or pass --skip-secrets to leave those variables out)`,
    );
    const skipped = await loc([`${namespace}/web`, "--json", "--skip-secrets"], limited);
    expect(skipped.code).toBe(0);
    const { DB_password: _p, DB_user: _u, PASSWORD: _pw, ...rest } = expected();
    expect(JSON.parse(skipped.stdout)).toEqual(rest);
    expect(skipped.stderr).toContain("every key of Secret db left out (--skip-secrets)");
  });

  // Last: the expose scales web to 0 and back, replacing the pod the tests above read.
  it("loc expose --env-file writes the environment once active; no secret value in history or the daemon's stderr", async () => {
    const daemon = await startDaemonProcess(["-n", namespace, "--ip-range", "127.47.0.0/24"], inject("kubeconfig"));
    const laptop = await startLaptopServer("laptop");
    const envFile = join(scratchDir("loc-env-expose-"), ".env");
    // Node 20 would take --env-file for itself (see the README): the alias.
    const expose = startExpose([`${namespace}/web`, "--env-output", envFile, "--kubeconfig", inject("kubeconfig"), "--map", `${laptop.port}:80`, ...standInArgs()], daemon.stateDir);
    const proxy = await playProxyPod(kube, namespace, "web", [18731]).catch((error: Error) => {
      throw new Error(`${error.message}\nloc expose printed:\n${expose.output()}\ndaemon:\n${daemon.stderr()}`);
    });
    try {
      await waitForActive(expose);
      await waitFor("the env file", async () => (await stat(envFile).catch(() => undefined)) ?? Promise.reject(new NotYet("not yet")), { timeoutMs: 10_000 });
      const { parse } = await import("dotenv");
      expect(parse(await readFile(envFile, "utf8"))).toEqual(expected());
      expect((await stat(envFile)).mode & 0o777).toBe(0o600);
      const wrote = /loc: wrote .*\.env \(0600\): 16 variables of Deployment env-\S+\/web, container app: 2 literal, 2 from ConfigMap app-config, 3 from Secret db, 7 fieldRef, 2 resourceFieldRef\n/;
      await waitFor("the line saying the file was written", async () => (wrote.test(expose.output()) ? true : Promise.reject(new NotYet(expose.output()))), { timeoutMs: 5_000 });
    } finally {
      expose.child.kill("SIGINT");
      await expose.exit;
      await proxy.stop();
      await laptop.stop();
    }
    const history = JSON.stringify(await daemon.history([]));
    expect(history).toContain("expose.active");
    await daemon.stop();
    for (const text of [history, daemon.stderr(), expose.output()]) expect(text).not.toContain("s3cr3t");
  });
});
