import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { UNDO_ATTEMPTS } from "../../../src/actors/expose-machine.js";
import { ExposeSession } from "../../../src/expose/session.js";
import type { ExposeCluster } from "../../../src/kube/expose-cluster.js";
import { KubeExposeCluster } from "../../../src/kube/kube-expose-cluster.js";
import { MemoryExposeCluster } from "../../support/memory-expose-cluster.js";
import { recoverBeforeServing } from "../../../src/recover/at-start.js";
import type { NewEvent } from "../../../src/store/events.js";
import { openStateStore } from "../../../src/store/open-store.js";
import { FakeReverseTransport } from "../../helpers/fake-reverse.js";
import { finished, spawnLoc } from "../../helpers/loc-process.js";
import { silentApiServer, type SilentApiServer } from "../../helpers/silent-api-server.js";
import { tempDir } from "../../helpers/temp.js";

const OWNER = "alice.laptop";
const SERVICE = "shop/web";

/**
 * What a session that died after scaling Deployment shop/web down leaves in the log. Recovering it
 * reads the Deployment once (one request): with that read hanging, one timeout is the whole wait.
 */
const UNFINISHED_SESSION: [string, NewEvent][] = [
  ["expose:s1", { type: "expose.requested", data: { service: SERVICE, transport: "ssh", owner: OWNER, ports: [] } }],
  ["expose:s1", { type: "expose.intent", data: { service: SERVICE, action: "annotate", target: "Deployment/web", original: { uid: "u1", annotations: {} } } }],
  ["expose:s1", { type: "expose.intent", data: { service: SERVICE, action: "scale", target: "Deployment/web", original: { replicas: 2, to: 0, uid: "u1" } } }],
];

let server: SilentApiServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function seededStateDir(): { dir: string; stateDir: string } {
  const dir = tempDir();
  const stateDir = join(dir, "state");
  mkdirSync(stateDir);
  const store = openStateStore(stateDir, "write", {});
  for (const [stream, event] of UNFINISHED_SESSION) store.append(stream, [event], -1);
  store.close();
  return { dir, stateDir };
}

describe("a hung API server bounds what waits for it", () => {
  it("loc recover --request-timeout 1s ends (exit 1) within one timeout, naming it", async () => {
    server = await silentApiServer();
    const { dir, stateDir } = seededStateDir();
    const kubeconfig = server.writeKubeconfig(dir);
    const started = performance.now();
    const child = spawnLoc(["recover", "--state-dir", stateDir, "--kubeconfig", kubeconfig, "--request-timeout", "1s"], { LOC_OWNER: OWNER, KUBECONFIG: "" });
    const result = await finished(child);
    const ms = performance.now() - started;
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("FAILED s1 shop/web: read Deployment shop/web: GET /apis/apps/v1/namespaces/shop/deployments/web timed out after 1 s");
    expect(result.stderr).toMatch(/^loc: recovery incomplete: 1 action failed \(hint: [^\n]+\)\n$/);
    expect(server.requests).toEqual(["GET /apis/apps/v1/namespaces/shop/deployments/web HTTP/1.1"]);
    // One 1 s timeout, plus starting Node and tsx on a busy machine.
    expect(ms).toBeLessThan(1_000 + 12_000);
  }, 30_000);

  it("start-up recovery (loc daemon's) gives up on the hung cluster within one timeout and says so", async () => {
    server = await silentApiServer();
    const { stateDir } = seededStateDir();
    const store = openStateStore(stateDir, "write", {});
    const lines: string[] = [];
    const started = performance.now();
    try {
      const cluster = new KubeExposeCluster(server.kubeConfig(), { timeoutMs: 300 });
      const report = await recoverBeforeServing({ store, owner: OWNER, cluster, clusterUrl: server.url, log: (line) => lines.push(line) });
      expect(report).toMatchObject({ sessions: 1, failed: 1 });
    } finally {
      store.close();
    }
    expect(performance.now() - started).toBeLessThan(300 + 2_000);
    expect(lines).toContain("loc daemon: recovery failed: read Deployment shop/web: GET /apis/apps/v1/namespaces/shop/deployments/web timed out after 300 ms");
  });

  it("--stop of an expose whose cluster hangs ends within (undo steps × undo attempts) timeouts, each step left and named", async () => {
    server = await silentApiServer();
    const timeoutMs = 200;
    const memory = new MemoryExposeCluster();
    memory.addNamespace("shop");
    memory.addService({ metadata: { namespace: "shop", name: "web" }, spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } });
    memory.addDeployment("shop", "web", 2, { app: "web" });
    const hung = new KubeExposeCluster(server.kubeConfig(), { timeoutMs });
    const cluster = switchable(memory, hung);
    const warnings: string[] = [];
    const session = new ExposeSession(
      { namespace: "shop", name: "web", maps: [], image: "img", user: "abc", runAsUser: 911, sshPort: 2222, readyTimeoutMs: 2_000, connectTimeoutMs: 2_000, localHost: "127.0.0.1" },
      {
        cluster: cluster.port,
        transport: new FakeReverseTransport(),
        owner: OWNER,
        record: (_stream, event) => void (event.type === "expose.warning" && warnings.push(event.data.message)),
        pollMs: 5,
        backoff: { baseMs: 5, capMs: 20, resetAfterMs: 60_000 },
        sessionId: "s1",
      },
    );
    session.start();
    await until(() => session.status().state === "active");

    cluster.hang();
    const started = performance.now();
    const outcome = await session.stop("test over");
    const ms = performance.now() - started;

    // Two undo steps (the proxy: pod and config; the Deployment: scale and annotations), each tried
    // UNDO_ATTEMPTS times, each attempt ending at its first request's timeout.
    const undoSteps = 2;
    expect(outcome).toMatchObject({ state: "failed", undone: false, error: expect.stringMatching(/^could not undo everything: proxy pod not deleted: .* timed out after 200 ms; Deployment\/web not restored: .* timed out after 200 ms$/) });
    expect(warnings).toEqual([
      "could not delete proxy loc-web-s1: read pod shop/loc-web-s1: GET /api/v1/namespaces/shop/pods/loc-web-s1 timed out after 200 ms; it is left as it is",
      "could not restore Deployment/web: read Deployment shop/web: GET /apis/apps/v1/namespaces/shop/deployments/web timed out after 200 ms; it is left as it is",
    ]);
    expect(ms).toBeGreaterThanOrEqual(undoSteps * UNDO_ATTEMPTS * timeoutMs - 50);
    expect(ms).toBeLessThan(undoSteps * UNDO_ATTEMPTS * timeoutMs + 3_000);
  }, 30_000);
});

/** The cluster twin until `hang()`, then every call goes to the hung API server instead. */
function switchable(memory: MemoryExposeCluster, hung: KubeExposeCluster): { port: ExposeCluster; hang: () => void } {
  let hanging = false;
  const port = new Proxy(memory as unknown as ExposeCluster, {
    get(target, property, receiver) {
      const source = hanging && property in hung ? hung : target;
      const value: unknown = Reflect.get(source, property, source === target ? receiver : source);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(source) : value;
    },
  });
  return { port, hang: () => (hanging = true) };
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
