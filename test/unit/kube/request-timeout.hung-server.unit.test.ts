import { KubeConfig } from "@kubernetes/client-node";
import { createServer } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { LocError } from "../../../src/errors.js";
import { KubeRequestError, KubeTimeoutError } from "../../../src/kube/cluster-port.js";
import type { ExposeCluster, WorkloadRef } from "../../../src/kube/expose-cluster.js";
import { KubeExposeCluster } from "../../../src/kube/kube-expose-cluster.js";
import { KubeWatchPort } from "../../../src/kube/kube-watch-port.js";
import { DEFAULT_REQUEST_TIMEOUT_MS, requestTimeoutMs } from "../../../src/kube/request-timeout.js";
import { silentApiServer, type SilentApiServer } from "../../helpers/silent-api-server.js";

const TIMEOUT_MS = 300;
const WEB: WorkloadRef = { kind: "Deployment", namespace: "shop", name: "web" };
const SERVICES = { path: "/api/v1/services" };

let servers: SilentApiServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((server) => server.close()));
  servers = [];
});

async function standIn(mode: "silent" | "headersOnly" = "silent"): Promise<SilentApiServer> {
  const server = await silentApiServer(mode);
  servers.push(server);
  return server;
}

/** How the promise settled and how long it took. */
async function timed(work: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  try {
    await work;
    return { error: undefined, ms: performance.now() - started };
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
}

describe("the request timeout setting", () => {
  it("is 30 s by default, $LOC_REQUEST_TIMEOUT_MS otherwise, and --request-timeout wins", () => {
    expect(DEFAULT_REQUEST_TIMEOUT_MS).toBe(30_000);
    expect(requestTimeoutMs(undefined, {})).toBe(30_000);
    expect(requestTimeoutMs(undefined, { LOC_REQUEST_TIMEOUT_MS: "1500" })).toBe(1_500);
    expect(requestTimeoutMs("2s", { LOC_REQUEST_TIMEOUT_MS: "1500" })).toBe(2_000);
    expect([requestTimeoutMs("500ms", {}), requestTimeoutMs("1.5s", {}), requestTimeoutMs("2m", {}), requestTimeoutMs("10", {})]).toEqual([500, 1_500, 120_000, 10_000]);
  });

  it.each([["0"], ["0s"], ["-1s"], ["soon"], ["1h"]])("refuses --request-timeout %s", (value) => {
    expect(() => requestTimeoutMs(value, {})).toThrow(LocError);
    expect(() => requestTimeoutMs(value, {})).toThrow(/--request-timeout .* is not a positive duration/);
  });

  it("refuses a $LOC_REQUEST_TIMEOUT_MS that is not a positive number of milliseconds", () => {
    expect(() => requestTimeoutMs(undefined, { LOC_REQUEST_TIMEOUT_MS: "30s" })).toThrow(/LOC_REQUEST_TIMEOUT_MS=30s is not a number of milliseconds/);
  });
});

describe("KubeExposeCluster against an API server that never answers", () => {
  it("fails every call with a KubeTimeoutError naming the request, after the timeout, never as not-found", async () => {
    const server = await standIn();
    const cluster = new KubeExposeCluster(server.kubeConfig(), { timeoutMs: TIMEOUT_MS });
    const calls: Record<keyof ExposeCluster, () => Promise<unknown>> = {
      namespaceExists: () => cluster.namespaceExists("shop"),
      getService: () => cluster.getService("shop", "web"),
      listPods: () => cluster.listPods("shop", { app: "web" }),
      findPods: () => cluster.findPods("loc.dev/owner=alice"),
      readPod: () => cluster.readPod("shop", "p"),
      readReplicaSet: () => cluster.readReplicaSet("shop", "rs"),
      readWorkload: () => cluster.readWorkload(WEB),
      scaleWorkload: () => cluster.scaleWorkload(WEB, 0, "7"),
      patchWorkloadAnnotations: () => cluster.patchWorkloadAnnotations(WEB, "u1", { a: "b" }),
      createPod: () => cluster.createPod("shop", { apiVersion: "v1", kind: "Pod", metadata: { name: "p", labels: {} }, spec: {} } as never),
      deletePod: () => cluster.deletePod("shop", "p", "u1"),
      createSecret: () => cluster.createSecret("shop", { name: "s", labels: {}, data: {} }),
      readSecret: () => cluster.readSecret("shop", "s"),
      deleteSecret: () => cluster.deleteSecret("shop", "s", "u1"),
      patchService: () => cluster.patchService("shop", "web", "u1", "7", { selector: {}, annotations: {} }),
      findSecrets: () => cluster.findSecrets("loc.dev/owner=alice"),
      findWorkloads: () => cluster.findWorkloads(),
      findServices: () => cluster.findServices("shop"),
    };
    const results = await Promise.all(Object.entries(calls).map(async ([name, call]) => ({ name, ...(await timed(call())) })));
    for (const { name, error, ms } of results) {
      expect(error, name).toBeInstanceOf(KubeTimeoutError);
      expect((error as KubeTimeoutError).statusCode, name).toBeUndefined();
      expect((error as Error).message, name).toMatch(/^[^\n]+: (GET|PUT|PATCH|POST|DELETE) \/api[^ ]* timed out after 300 ms$/);
      expect(ms, name).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
      expect(ms, name).toBeLessThan(TIMEOUT_MS + 2_000);
    }
    expect((results[0]?.error as Error).message).toBe("read namespace shop: GET /api/v1/namespaces/shop timed out after 300 ms");
  });

  it("also times out a response whose headers came but whose body stalls", async () => {
    const server = await standIn("headersOnly");
    const cluster = new KubeExposeCluster(server.kubeConfig(), { timeoutMs: TIMEOUT_MS });
    const { error, ms } = await timed(cluster.findServices("shop"));
    expect(error).toBeInstanceOf(KubeTimeoutError);
    expect(ms).toBeLessThan(TIMEOUT_MS + 2_000);
  });
});

describe("KubeExposeCluster against an API server that answers", () => {
  it("still reads objects, 404s and 409s through the timed client", async () => {
    const http = createServer((request, response) => {
      const json = (status: number, body: unknown) => response.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
      if (request.url === "/api/v1/namespaces/shop") json(200, { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } });
      else if (request.method === "PUT") json(409, { kind: "Status", code: 409, reason: "Conflict", message: "the object has been modified" });
      else json(404, { kind: "Status", code: 404, reason: "NotFound", message: "not found" });
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    try {
      const port = (http.address() as { port: number }).port;
      const config = new KubeConfig();
      config.loadFromClusterAndUser({ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }, { name: "u" });
      const cluster = new KubeExposeCluster(config, { timeoutMs: TIMEOUT_MS });
      expect(await cluster.namespaceExists("shop")).toBe(true);
      expect(await cluster.namespaceExists("gone")).toBe(false);
      const conflict = await timed(cluster.scaleWorkload(WEB, 0, "7"));
      expect(conflict.error).toBeInstanceOf(KubeRequestError);
      expect(conflict.error).not.toBeInstanceOf(KubeTimeoutError);
      expect(conflict.error).toMatchObject({ statusCode: 409, message: "scale Deployment shop/web to 0: the object has been modified" });
    } finally {
      await new Promise((resolve) => http.close(resolve));
    }
  });
});

describe("KubeWatchPort against an API server that never answers", () => {
  it("times out a list with a KubeTimeoutError", async () => {
    const server = await standIn();
    const port = new KubeWatchPort(server.kubeConfig(), { timeoutMs: TIMEOUT_MS });
    const { error, ms } = await timed(port.list(SERVICES, new AbortController().signal));
    expect(error).toBeInstanceOf(KubeTimeoutError);
    expect((error as Error).message).toBe("GET /api/v1/services timed out after 300 ms");
    expect(ms).toBeLessThan(TIMEOUT_MS + 2_000);
  });

  it("times out a list whose body stalls", async () => {
    const server = await standIn("headersOnly");
    const port = new KubeWatchPort(server.kubeConfig(), { timeoutMs: TIMEOUT_MS });
    expect((await timed(port.list(SERVICES, new AbortController().signal))).error).toBeInstanceOf(KubeTimeoutError);
  });

  it("times out a watch whose response headers never come", async () => {
    const server = await standIn();
    const port = new KubeWatchPort(server.kubeConfig(), { timeoutMs: TIMEOUT_MS });
    const { error, ms } = await timed(port.watch(SERVICES, "1", () => undefined, new AbortController().signal));
    expect(error).toBeInstanceOf(KubeTimeoutError);
    expect(ms).toBeLessThan(TIMEOUT_MS + 2_000);
    expect(server.requests).toEqual([expect.stringMatching(/^GET \/api\/v1\/services\?watch=true&resourceVersion=1&/)]);
  });

  it("ends a watch still waiting for its headers as soon as the caller aborts, quietly", async () => {
    const server = await standIn();
    const port = new KubeWatchPort(server.kubeConfig(), { timeoutMs: 60_000 });
    const stop = new AbortController();
    const watching = timed(port.watch(SERVICES, "1", () => undefined, stop.signal));
    await until(() => server.requests.length === 1);
    stop.abort();
    const { error, ms } = await watching;
    expect(error).toBeUndefined();
    expect(ms).toBeLessThan(2_000);
  });

  it("leaves an open watch stream alone: the timeout covers only its headers", async () => {
    const server = await standIn("headersOnly");
    const port = new KubeWatchPort(server.kubeConfig(), { timeoutMs: TIMEOUT_MS });
    const stop = new AbortController();
    let settled = false;
    const watching = port.watch(SERVICES, "1", () => undefined, stop.signal).finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, TIMEOUT_MS * 3));
    expect(settled).toBe(false);
    stop.abort();
    await expect(watching).resolves.toBeUndefined();
  });
});

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
