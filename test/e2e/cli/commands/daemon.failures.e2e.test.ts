// What a real `loc daemon` process says when the cluster is not there, does not answer, or will not
// let it in: a line within 5 s, the state in `loc list`, a line when it answers again, and a
// one-line exit for what retrying cannot fix. Traffic goes only to 127.0.0.1.
import { readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { DaemonStatus } from "../../../../src/ipc/protocol.js";
import { connect, createNamespace, deleteNamespace, freeLoopbackPort, startTcpServer, waitFor, type Kube } from "../../../cluster/helpers.js";
import { createLimitedKubeconfig } from "../../../cluster/rbac.js";
import { finished, spawnLoc } from "../../../helpers/loc-process.js";
import { tempDir } from "../../../helpers/temp.js";

const BANNER = /loc daemon \S+: cluster https:/;
let kube: Kube;
let namespace: string;
let apiPort: number;

beforeAll(async () => {
  kube = connect(inject("kubeconfig"));
  namespace = await createNamespace(kube, "fail");
  apiPort = Number(new URL(kube.config.getCurrentCluster()!.server).port);
});
afterAll(async () => {
  if (namespace) await deleteNamespace(kube, namespace);
});

/** The test cluster's kubeconfig, pointed at 127.0.0.1:port (the API server's certificate names 127.0.0.1). */
function kubeconfigAt(port: number): string {
  const path = join(tempDir("loc-fail-"), "kubeconfig");
  writeFileSync(path, readFileSync(inject("kubeconfig"), "utf8").replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: https://127.0.0.1:${port}`), { mode: 0o600 });
  return path;
}

/** A real daemon process; resolves `said(pattern)` with the ms from start until stderr matched. */
function startDaemon(kubeconfig: string, extra: string[] = []) {
  const dir = tempDir("loc-fail-state-");
  const hostsFile = join(dir, "hosts");
  writeFileSync(hostsFile, "127.0.0.1 localhost\n");
  const env = { LOC_STATE_DIR: join(dir, "state") };
  const started = Date.now();
  const child = spawnLoc(["daemon", "--kubeconfig", kubeconfig, "--hosts-file", hostsFile, "-n", namespace, "--ip-range", "127.46.0.0/24", ...extra], env);
  const exit = finished(child);
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const said = (pattern: RegExp, timeoutMs = 30_000) =>
    waitFor(`the daemon to say ${pattern}`, async () => (pattern.test(stderr) ? Date.now() - started : undefined), { timeoutMs, intervalMs: 20 }).catch((error: Error) => {
      throw new Error(`${error.message}\nstderr so far:\n${stderr}`);
    });
  const list = async () => {
    const result = await finished(spawnLoc(["list", "--json"], env));
    return JSON.parse(result.stdout) as DaemonStatus;
  };
  return { child, env, exit, said, list, stderr: () => stderr, stop: async () => (child.kill("SIGTERM"), await exit) };
}

describe("loc daemon against an API server that is not there", () => {
  it("says 'cannot reach' within 5 s, shows it in loc list, and says when it answers again", async () => {
    const port = await freeLoopbackPort();
    const daemon = startDaemon(kubeconfigAt(port));
    let proxy: { close(): Promise<void> } | undefined;
    try {
      // Timed from the banner (the daemon is running), not from spawning tsx, whose start-up varies with load.
      const bannerMs = await daemon.said(BANNER);
      const saidMs = (await daemon.said(new RegExp(`loc daemon: cannot reach https://127\\.0\\.0\\.1:${port}: ECONNREFUSED; retrying with backoff .* — tunnels will appear once it answers`))) - bannerMs;
      expect(saidMs).toBeLessThan(5_000);
      console.info(`[daemon-failures e2e] 'cannot reach' said ${saidMs} ms after start`);
      const failing = await waitFor("loc list to answer", () => daemon.list().catch(() => undefined));
      expect(failing.cluster).toMatchObject({ state: "failing", problem: "unreachable", server: `https://127.0.0.1:${port}` });
      expect((failing.cluster as { nextRetryAt: number }).nextRetryAt).toBeGreaterThan((failing.cluster as { since: number }).since);
      const text = await finished(spawnLoc(["list"], daemon.env));
      expect(text.stderr).toMatch(new RegExp(`^loc: cannot reach https://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.* \\(since \\d+s ago, next retry in \\d+s; the list may be out of date\\)$`, "m"));
      // The cluster comes back on that address: a TCP relay to the real API server.
      proxy = await relay(port, apiPort);
      await daemon.said(new RegExp(`loc daemon: https://127\\.0\\.0\\.1:${port} answers again; tunnels are being restored`), 40_000);
      expect((await daemon.list()).cluster?.state).toBe("reachable");
      // Said once when it failed, once when it recovered: never once per retry.
      expect(daemon.stderr().match(/cannot reach/g)).toHaveLength(1);
    } finally {
      expect((await daemon.stop()).code).toBe(0);
      await proxy?.close();
    }
  });

  it("an API server that accepts and never answers: a line at 5 s, then the request timeout is said", async () => {
    const silent = await startTcpServer(() => undefined);
    const daemon = startDaemon(kubeconfigAt(silent.port), ["--request-timeout", "8s"]);
    try {
      const bannerMs = await daemon.said(BANNER);
      const silenceMs = (await daemon.said(/loc daemon: no answer from https:\/\/127\.0\.0\.1:\d+ after 5 s; still trying — tunnels will appear once it answers/)) - bannerMs;
      // The timer starts just before the banner is printed; the poll adds up to 20 ms, a loaded machine more.
      expect(silenceMs).toBeGreaterThanOrEqual(4_900);
      expect(silenceMs).toBeLessThan(8_000);
      console.info(`[daemon-failures e2e] 'no answer' said ${silenceMs} ms after start`);
      await daemon.said(/loc daemon: cannot reach https:\/\/127\.0\.0\.1:\d+: .*timed out after 8 s/);
    } finally {
      await daemon.stop();
      await silent.close();
    }
  });

  it("no permission to list what it watches: exits 1 at start, naming the permission, with the kubectl auth can-i hint", async () => {
    const limited = await createLimitedKubeconfig(kube, namespace, [{ apiGroups: [""], resources: ["pods"], verbs: ["get"] }], tempDir("loc-fail-rbac-"));
    const daemon = startDaemon(limited);
    const result = await daemon.exit;
    expect(result.code).toBe(1);
    const last = result.stderr.trimEnd().split("\n").at(-1);
    // Services or EndpointSlices: whichever of the two watches is refused first.
    const resource = /may not list and watch (services|endpointslices\.discovery\.k8s\.io) /.exec(last ?? "")?.[1] ?? "services";
    const r = resource.replace(/\./g, "\\.");
    expect(last).toMatch(new RegExp(`^loc: user "limited-\\w+" \\(context "limited-\\w+"\\) may not list and watch ${r} in ${namespace} \\(HTTP 403\\) \\(hint: check: kubectl auth can-i list ${r} -n ${namespace} && kubectl auth can-i watch ${r} -n ${namespace}\\)$`));
  });
});

/** A TCP relay from 127.0.0.1:from to 127.0.0.1:to, as a cluster coming back on its address. */
async function relay(from: number, to: number): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port: to });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(from, "127.0.0.1", resolve));
  return {
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
