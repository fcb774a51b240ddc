// `loc expose --env-file`: the environment is read in the CLI before the daemon changes anything,
// written (0600) when the expose turns active, and no secret value reaches the daemon's events.
import { mkdirSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "dotenv";
import { afterEach, describe, expect, it } from "vitest";
import { exposeCommand, type EnvFileReader } from "../../../../src/cli/commands/expose.js";
import type { DaemonCore } from "../../../../src/daemon/core.js";
import type { DaemonStatus } from "../../../../src/ipc/protocol.js";
import { ExposeManager } from "../../../../src/daemon/expose-manager.js";
import { serveDaemon } from "../../../../src/ipc/server.js";
import { formatEnvironment } from "../../../../src/env/format.js";
import { gatherInput } from "../../../../src/env/gather.js";
import { locate } from "../../../../src/env/locate.js";
import { MemoryEnvCluster } from "../../../support/memory-env-cluster.js";
import { resolveEnvironment } from "../../../../src/env/resolve.js";
import { parseEnvTarget } from "../../../../src/env/target.js";
import { LocError } from "../../../../src/errors.js";
import { MemoryExposeCluster } from "../../../support/memory-expose-cluster.js";
import type { NewEvent } from "../../../../src/store/events.js";
import { TransportRegistry } from "../../../../src/transports/registry.js";
import { FakeReverseTransport } from "../../../helpers/fake-reverse.js";
import { tempDir } from "../../../helpers/temp.js";

const SECRET = "hunter2-$(x)'\"";
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The Service's workload in the env twin: a Deployment with a literal and a Secret reference. */
function envCluster(): MemoryEnvCluster {
  const cluster = new MemoryEnvCluster();
  cluster.services.set("shop/web", { metadata: { name: "web", namespace: "shop" }, spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: 8080 }] } });
  const container = { name: "app", env: [{ name: "MODE", value: "prod" }, { name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db", key: "password" } } }] };
  cluster.workloads.push({ kind: "Deployment", namespace: "shop", name: "web", uid: "d1", matchLabels: { app: "web" }, template: { labels: { app: "web" }, annotations: {}, spec: { containers: [container] } } });
  cluster.secrets.set("shop/db", { password: SECRET });
  return cluster;
}

function readerOver(cluster: MemoryEnvCluster, calls: string[], replicasNow: () => Promise<number | undefined>): EnvFileReader {
  return async (service) => {
    calls.push(`${service} read at ${await replicasNow()} replicas`);
    const where = await locate(cluster, parseEnvTarget(service), undefined);
    const result = resolveEnvironment(await gatherInput(cluster, where, { skipSecrets: false }));
    return { text: formatEnvironment(result.vars, "dotenv").text, summary: `${result.vars.size} variables` };
  };
}

async function daemon() {
  const stateDir = join(tempDir(), "s");
  const cluster = new MemoryExposeCluster();
  cluster.addNamespace("shop");
  cluster.addService({ metadata: { namespace: "shop", name: "web" }, spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } });
  cluster.addDeployment("shop", "web", 2, { app: "web" });
  const recorded: { stream: string; event: NewEvent }[] = [];
  const exposes = new ExposeManager({ cluster, transports: new TransportRegistry().register(new FakeReverseTransport()), owner: "alice.laptop", record: (stream, event) => recorded.push({ stream, event }), pollMs: 5 });
  const core: DaemonCore = {
    status: (): DaemonStatus => ({ pid: 1, startedAt: 0, scope: "all", hostsFile: "/etc/hosts", tunnels: [], skipped: [], watchProblems: [], exposes: exposes.statuses() }),
    onChange: (l) => exposes.onChange(l),
    exposes,
  };
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const server = await serveDaemon(core, stateDir);
  cleanups.push(async () => {
    await exposes.stopAll("test over");
    await server.close();
  });
  return { stateDir, cluster, recorded };
}

function io() {
  const out = { stdout: "", stderr: "" };
  return { out, io: { stdout: (t: string) => (out.stdout += t), stderr: (t: string) => (out.stderr += t), env: {}, signal: new AbortController().signal } };
}

describe("loc expose --env-file", () => {
  it("writes the environment read before scaling, 0600, once active; no secret value in the daemon's events or the output", async () => {
    const { stateDir, cluster, recorded } = await daemon();
    const envFile = join(tempDir(), ".env");
    const calls: string[] = [];
    const { out, io: cli } = io();
    const code = await exposeCommand("shop/web", { stateDir, detach: true, envFile, transport: "fake" }, cli, readerOver(envCluster(), calls, async () => (await cluster.readWorkload({ kind: "Deployment", namespace: "shop", name: "web" }))?.replicas));
    expect(code).toBe(0);
    expect(calls).toEqual(["shop/web read at 2 replicas"]);
    expect(parse(await readFile(envFile, "utf8"))).toEqual({ MODE: "prod", DB_PASSWORD: SECRET });
    expect((await stat(envFile)).mode & 0o777).toBe(0o600);
    expect(out.stderr).toContain(`loc: wrote ${envFile} (0600): 2 variables`);
    expect((await cluster.readWorkload({ kind: "Deployment", namespace: "shop", name: "web" }))?.replicas).toBe(0);
    expect(recorded.some(({ event }) => event.type === "expose.active")).toBe(true);
    expect(JSON.stringify(recorded) + out.stdout + out.stderr).not.toContain("hunter2");
  });

  it("an environment that cannot be read stops the expose before the daemon is asked for anything", async () => {
    const { stateDir, cluster, recorded } = await daemon();
    const envFile = join(tempDir(), ".env");
    const refusing: EnvFileReader = async () => {
      throw new LocError("not allowed to read Secret shop/db (password for DB_PASSWORD)", "pass --skip-secrets", "ENV_SECRETS_FORBIDDEN");
    };
    const { io: cli } = io();
    await expect(exposeCommand("shop/web", { stateDir, detach: true, envFile, transport: "fake" }, cli, refusing)).rejects.toThrow("not allowed to read Secret shop/db");
    expect(recorded).toEqual([]);
    expect((await cluster.readWorkload({ kind: "Deployment", namespace: "shop", name: "web" }))?.replicas).toBe(2);
    await expect(stat(envFile)).rejects.toThrow(/ENOENT/);
  });

  it("is refused with --stop", async () => {
    const { io: cli } = io();
    await expect(exposeCommand("shop/web", { stop: true, envFile: ".env" }, cli)).rejects.toThrow("--env-file goes with an expose, not --stop");
  });
});
