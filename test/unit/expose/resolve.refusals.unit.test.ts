// Every refusal of the resolving step: one clear error with a hint, and not a single mutating call.
import { describe, expect, it } from "vitest";
import { LocError } from "../../../src/errors.js";
import { parseMapFlag } from "../../../src/expose/ports.js";
import { resolveExpose } from "../../../src/expose/resolve.js";
import type { ExposeStrategy } from "../../../src/expose/strategy.js";
import { MemoryExposeCluster } from "../../support/memory-expose-cluster.js";

const READ_ONLY = new Set(["namespaceExists", "getService", "listPods", "findPods", "readPod", "readReplicaSet", "readWorkload", "readSecret"]);

function cluster() {
  const c = new MemoryExposeCluster();
  c.addNamespace("shop");
  c.addService({ metadata: { namespace: "shop", name: "web" }, spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } });
  return c;
}

async function refusal(c: MemoryExposeCluster, name = "web", maps: string[] = [], namespace = "shop", strategy: ExposeStrategy = "scale"): Promise<LocError> {
  const error = await resolveExpose(c, namespace, name, maps.map(parseMapFlag), "alice.laptop", strategy).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LocError);
  expect(c.calls.map((call) => call.operation).filter((op) => !READ_ONLY.has(op))).toEqual([]);
  return error as LocError;
}

describe("loc expose refuses, changing nothing", () => {
  it("a namespace that does not exist", async () => {
    const error = await refusal(cluster(), "web", [], "nope");
    expect([error.code, error.message, error.hint]).toEqual(["NAMESPACE_NOT_FOUND", 'namespace "nope" does not exist', "check the name: kubectl get namespaces"]);
  });

  it("a service that does not exist", async () => {
    const error = await refusal(cluster(), "api");
    expect([error.code, error.message]).toEqual(["SERVICE_NOT_FOUND", "service shop/api does not exist"]);
  });

  it("a service without a selector", async () => {
    const c = cluster();
    c.addService({ metadata: { namespace: "shop", name: "db" }, spec: { ports: [{ port: 5432 }] } });
    expect((await refusal(c, "db")).code).toBe("NO_SELECTOR");
  });

  it("a bare pod without a controller", async () => {
    const c = cluster();
    c.addBarePod("shop", "web-debug", { app: "web" });
    const error = await refusal(c);
    expect([error.code, error.message]).toEqual(["NO_CONTROLLER", "pod shop/web-debug has no controller (a bare pod), so loc could not bring it back after scaling it away"]);
  });

  it("a pod controlled by something loc cannot scale (a DaemonSet)", async () => {
    const c = cluster();
    c.addBarePod("shop", "web-node-1", { app: "web" }, [{ apiVersion: "apps/v1", kind: "DaemonSet", name: "web-node", uid: "u-ds", controller: true }]);
    const error = await refusal(c);
    expect([error.code, error.message]).toEqual(["UNSUPPORTED_OWNER", "pod shop/web-node-1 is controlled by DaemonSet/web-node, which loc cannot scale down and restore"]);
  });

  it("a service this owner already exposes (proxy pod labels)", async () => {
    const c = cluster();
    c.addBarePod("shop", "loc-web-abc", { app: "web", "loc.dev/session": "abc", "loc.dev/owner": "alice.laptop", "loc.dev/service": "web" });
    const error = await refusal(c);
    expect([error.code, error.message, error.hint]).toEqual(["ALREADY_EXPOSED", "shop/web is already exposed by this machine (session abc)", "stop it first: loc expose --stop shop/web"]);
  });

  it("a service another loc owner exposes (proxy pod labels)", async () => {
    const c = cluster();
    c.addBarePod("shop", "loc-web-xyz", { app: "web", "loc.dev/session": "xyz", "loc.dev/owner": "bob.desktop", "loc.dev/service": "web" });
    const error = await refusal(c);
    expect([error.code, error.message]).toEqual(["EXPOSED_BY_OTHER", "shop/web is already exposed by another loc (owner bob.desktop, session xyz)"]);
  });

  it("a workload annotated by another session", async () => {
    const c = cluster();
    const web = c.addDeployment("shop", "web", 2, { app: "web" });
    c.editWorkload(web.ref, { annotations: { "loc.dev/session": "xyz", "loc.dev/owner": "bob.desktop" } });
    expect((await refusal(c)).code).toBe("EXPOSED_BY_OTHER");
  });

  it("a --map whose remote port is not a port of the service", async () => {
    const c = cluster();
    c.addDeployment("shop", "web", 2, { app: "web" });
    const error = await refusal(c, "web", ["3000:9999"]);
    expect([error.code, error.message]).toEqual(["BAD_MAP", "--map 3000:9999: 9999 is not a port of shop/web (ports: http 80→8080)"]);
  });

  it("resolves Deployment and StatefulSet owners of a shared selector, sorted", async () => {
    const c = cluster();
    c.addDeployment("shop", "web", 2, { app: "web" });
    c.addStatefulSet("shop", "web-cache", 1, { app: "web" });
    const plan = await resolveExpose(c, "shop", "web", [], "alice.laptop", "scale");
    expect(plan.workloads.map((w) => `${w.ref.kind}/${w.ref.name}=${w.replicas}`)).toEqual(["Deployment/web=2", "StatefulSet/web-cache=1"]);
  });
});
