// The pure resolver against the kubelet's own behaviour (pkg/kubelet/kubelet_pods.go
// makeEnvironmentVariables, third_party/forked/golang/expansion and its expand_test.go cases,
// pkg/api/v1/resource for resourceFieldRef rounding).
import { describe, expect, it } from "vitest";
import { expand } from "../../../src/env/expand.js";
import type { ContainerSpec, EnvInput, PodFacts, SourceLookup } from "../../../src/env/model.js";
import { resolveEnvironment } from "../../../src/env/resolve.js";
import { forbiddenSecretsError } from "../../../src/env/report.js";

const running: PodFacts = {
  running: true, namespace: "shop", name: "web-7d4b9-x2x", uid: "u-1", labels: { app: "web", "pod-template-hash": "7d4b9" },
  annotations: { team: "pay" }, nodeName: "node-1", serviceAccountName: "web-sa", podIPs: ["10.0.0.7", "fd00::7"], hostIPs: ["192.168.1.2"],
};
const template: PodFacts = { running: false, namespace: "shop", labels: { app: "web" }, annotations: {}, podIPs: [], hostIPs: [], why: "no pod of Deployment shop/web is running" };

function input(container: Partial<ContainerSpec>, more: Partial<EnvInput> = {}): EnvInput {
  const spec: ContainerSpec = { name: "app", ...container };
  const found = (entries: Record<string, Record<string, string>>) => new Map<string, SourceLookup>(Object.entries(entries).map(([k, data]) => [k, { state: "found", data }]));
  return {
    namespace: "shop", container: spec, pod: { containers: [spec] }, facts: running,
    configMaps: found({ cfg: { MODE: "prod", "log.level": "debug", URL: "http://db" }, other: { MODE: "dev", EXTRA: "1" } }),
    secrets: found({ db: { password: "s3cr3t", user: "admin" } }),
    ...more,
  };
}
const env = (i: EnvInput) => Object.fromEntries(resolveEnvironment(i).vars);

describe("$(VAR) expansion (the kubelet's expand_test.go cases)", () => {
  const vars: Record<string, string> = { VAR_A: "A", VAR_B: "B", VAR_C: "C", VAR_REF: "$(VAR_A)", VAR_EMPTY: "" };
  const lookup = (name: string) => vars[name];
  it.each([
    ["$(VAR_A)", "A"], ["___$(VAR_B)___", "___B___"], ["$(VAR_A)-$(VAR_A)", "A-A"], ["$(VAR_A)-1", "A-1"],
    ["$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"], ["$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"], ["$$(VAR_A)", "$(VAR_A)"],
    ["$$$(VAR_A)", "$A"], ["$$$$(VAR_A)", "$$(VAR_A)"], ["$(VAR_DNE)", "$(VAR_DNE)"], ["$(VAR_A", "$(VAR_A"],
    ["$VAR_A", "$VAR_A"], ["$(VAR_A)$", "A$"], ["$$", "$"], ["$", "$"], ["$()", "$()"], ["$(VAR_REF)", "$(VAR_A)"],
    ["$(VAR_EMPTY)", ""], ["f000-$$VAR_A", "f000-$VAR_A"], ["$(VAR_A))", "A)"], ["$((VAR_A))", "$((VAR_A))"],
    ["$$$$$$$(VAR_B)", "$$$B"], ["foo\\$(VAR_C)bar", "foo\\Cbar"], ["$(VAR_A)$(VAR_B)", "AB"], ["plain", "plain"],
  ])("%s → %s", (text, expected) => {
    expect(expand(text, lookup)).toBe(expected);
  });
});

describe("resolveEnvironment: the kubelet's order and overrides", () => {
  it("envFrom first (later sources win, prefix prepended, keys kept as they are), then env in order", () => {
    const result = resolveEnvironment(input({
      envFrom: [{ configMapRef: { name: "cfg" } }, { configMapRef: { name: "other" } }, { prefix: "DB_", secretRef: { name: "db" } }],
      env: [{ name: "MODE", value: "stage" }, { name: "GREETING", value: "hi $(DB_user) in $(MODE), $(LATER) $$(MODE)" }, { name: "LATER", value: "x" }],
    }));
    expect(Object.fromEntries(result.vars)).toEqual({
      MODE: "stage", "log.level": "debug", URL: "http://db", EXTRA: "1", DB_password: "s3cr3t", DB_user: "admin",
      GREETING: "hi admin in stage, $(LATER) $(MODE)", LATER: "x",
    });
    // First definition fixes the position; the value is the last one.
    expect([...result.vars.keys()].slice(0, 3)).toEqual(["MODE", "log.level", "URL"]);
    expect(result.origins.get("DB_user")).toEqual({ from: "secret", name: "db", key: "user", via: "envFrom" });
    expect(result.origins.get("MODE")).toEqual({ from: "literal" });
  });

  it("a value may refer to the variable's own earlier definition", () => {
    expect(env(input({ envFrom: [{ configMapRef: { name: "cfg" } }], env: [{ name: "URL", value: "$(URL)/app" }] })).URL).toBe("http://db/app");
  });

  it("an empty value without valueFrom is the empty string", () => {
    expect(env(input({ env: [{ name: "EMPTY" }, { name: "E2", value: "" }] }))).toEqual({ EMPTY: "", E2: "" });
  });

  it("optional references to what is missing are skipped, leaving an earlier value in place", () => {
    const vars = env(input({
      envFrom: [{ configMapRef: { name: "cfg" } }, { configMapRef: { name: "nope", optional: true } }, { secretRef: { name: "gone", optional: true } }],
      env: [
        { name: "MODE", valueFrom: { configMapKeyRef: { name: "cfg", key: "absent", optional: true } } },
        { name: "X", valueFrom: { configMapKeyRef: { name: "nope", key: "k", optional: true } } },
        { name: "P", valueFrom: { secretKeyRef: { name: "db", key: "absent", optional: true } } },
      ],
    }));
    expect(vars).toEqual({ MODE: "prod", "log.level": "debug", URL: "http://db" });
  });

  it.each([
    [{ envFrom: [{ configMapRef: { name: "nope" } }] }, "ConfigMap shop/nope does not exist (needed by envFrom of container app)"],
    [{ envFrom: [{ secretRef: { name: "nope" } }] }, "Secret shop/nope does not exist (needed by envFrom of container app)"],
    [{ env: [{ name: "X", valueFrom: { configMapKeyRef: { name: "cfg", key: "absent" } } }] }, 'ConfigMap shop/cfg has no key "absent" (needed by env X of container app)'],
    [{ env: [{ name: "X", valueFrom: { secretKeyRef: { name: "db", key: "absent" } } }] }, 'Secret shop/db has no key "absent" (needed by env X of container app)'],
    [{ env: [{ name: "X", valueFrom: { secretKeyRef: { name: "nope", key: "k" } } }] }, "Secret shop/nope does not exist (needed by env X of container app)"],
  ])("a missing non-optional reference is an error naming it: %j", (container, message) => {
    expect(() => resolveEnvironment(input(container))).toThrow(expect.objectContaining({ message, name: "LocError" }));
  });
});

describe("resolveEnvironment: downward API", () => {
  const fields = ["metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels['app']", "metadata.labels['missing']", "metadata.annotations['team']",
    "status.podIP", "status.podIPs", "status.hostIP", "spec.nodeName", "spec.serviceAccountName"];
  const container = { env: fields.map((fieldPath, i) => ({ name: `F${i}`, valueFrom: { fieldRef: { fieldPath } } })) };

  it("reads every fieldRef from a running pod", () => {
    expect(Object.values(env(input(container)))).toEqual(["web-7d4b9-x2x", "shop", "u-1", "web", "", "pay", "10.0.0.7", "10.0.0.7,fd00::7", "192.168.1.2", "node-1", "web-sa"]);
  });

  it("from a template, knows namespace, its labels and the service account, and marks the pod-only fields unavailable", () => {
    const result = resolveEnvironment(input(container, { facts: template }));
    expect(Object.fromEntries(result.vars)).toEqual({ F1: "shop", F3: "web", F10: "default" });
    expect(result.unavailable.map((u) => u.name)).toEqual(["F0", "F2", "F4", "F5", "F6", "F7", "F8", "F9"]);
    expect(result.unavailable[0]?.reason).toBe("metadata.name is only known for a running pod (no pod of Deployment shop/web is running)");
  });

  it("an unavailable value is not expanded: the reference stays as written", () => {
    const vars = env(input({ env: [{ name: "IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } }, { name: "URL", value: "http://$(IP):80" }] }, { facts: template }));
    expect(vars).toEqual({ URL: "http://$(IP):80" });
  });

  const resources = { limits: { cpu: "250m", memory: "64Mi" }, requests: { memory: "100M" } };
  it.each([
    ["limits.cpu", undefined, "1"], ["limits.cpu", "1m", "250"], ["limits.cpu", "100m", "3"], ["requests.cpu", "1m", "250"],
    ["limits.memory", undefined, "67108864"], ["limits.memory", "1Mi", "64"], ["limits.memory", "1M", "68"], ["requests.memory", "1Mi", "96"],
    ["requests.memory", "1k", "100000"], ["limits.memory", "1Gi", "1"], ["limits.ephemeral-storage", "1Gi", "50"], ["requests.ephemeral-storage", undefined, "0"],
  ])("resourceFieldRef %s / %s = %s (ceil, requests default to limits, an unset limit is the node's allocatable)", (resource, divisor, expected) => {
    const vars = env(input(
      { resources, env: [{ name: "R", valueFrom: { resourceFieldRef: { resource, ...(divisor ? { divisor } : {}) } } }] },
      { nodeAllocatable: { "ephemeral-storage": "50Gi", cpu: "4" } },
    ));
    expect(vars.R).toBe(expected);
  });

  it("a limit left unset with the node unreadable is unavailable, naming why", () => {
    const result = resolveEnvironment(input({ env: [{ name: "R", valueFrom: { resourceFieldRef: { resource: "limits.cpu" } } }] }));
    expect(result.unavailable).toEqual([{ name: "R", reason: "limits.cpu is not set, so the kubelet uses the node's allocatable cpu, which loc could not read" }]);
  });

  it("resourceFieldRef may name another container of the pod", () => {
    const sidecar: ContainerSpec = { name: "side", resources: { limits: { memory: "1Gi" } } };
    const i = input({ env: [{ name: "R", valueFrom: { resourceFieldRef: { containerName: "side", resource: "limits.memory", divisor: "1Mi" } } }] });
    expect(env({ ...i, pod: { containers: [i.container, sidecar] } }).R).toBe("1024");
  });
});

describe("resolveEnvironment: Secrets that cannot be read", () => {
  const container = {
    envFrom: [{ secretRef: { name: "all" } }],
    env: [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db", key: "password" } } }, { name: "MODE", value: "x" }],
  };
  it("names every Secret and key it could not read, in one error, and resolves the rest", () => {
    const forbidden = new Map<string, SourceLookup>([["all", { state: "forbidden" }], ["db", { state: "forbidden" }]]);
    const result = resolveEnvironment(input(container, { secrets: forbidden }));
    expect(Object.fromEntries(result.vars)).toEqual({ MODE: "x" });
    const error = forbiddenSecretsError(result, "shop");
    expect(error?.message).toBe("not allowed to read Secret shop/all (every key (envFrom)); shop/db (password for DB_PASSWORD)");
    expect(error?.hint).toContain("--skip-secrets");
  });

  it("--skip-secrets leaves them out without an error", () => {
    const skipped = new Map<string, SourceLookup>([["all", { state: "skipped" }], ["db", { state: "skipped" }]]);
    const result = resolveEnvironment(input(container, { secrets: skipped }));
    expect(forbiddenSecretsError(result, "shop")).toBeUndefined();
    expect(result.unreadSecrets.map((u) => u.state)).toEqual(["skipped", "skipped"]);
  });
});
