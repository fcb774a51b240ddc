import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import type { DaemonCore } from "../../../src/daemon/core.js";
import type { DaemonStatus } from "../../../src/ipc/protocol.js";
import { serveDaemon } from "../../../src/ipc/server.js";
import { finished, ROOT } from "../../helpers/loc-process.js";
import { tempDir } from "../../helpers/temp.js";

// The CLI's start-up cost is the modules it loads (issue 19, ADR 0010): these packages cost hundreds
// of milliseconds and tens of MB, and only the commands that talk to the cluster or the log need them.
const HEAVY = ["@kubernetes/client-node", "ssh2", "better-sqlite3", "xstate"] as const;
const RECORDER = join(ROOT, "test/helpers/record-modules.mjs");
const MAIN = join(ROOT, "src/cli/main.ts");

/** Runs the real entry point (from source, as spawnLoc does) and lists every module it loaded. */
async function locLoading(args: string[], stateDir: string) {
  const log = join(tempDir(), "modules.log");
  const child = spawn(process.execPath, ["--import", "tsx", "--import", RECORDER, MAIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, LOC_STATE_DIR: stateDir, LOC_MODULE_LOG: log },
  });
  const result = await finished(child);
  const modules = readFileSync(log, "utf8").split("\n").filter(Boolean);
  const heavy = HEAVY.filter((name) => modules.some((module) => module.includes(`/node_modules/${name}/`)));
  return { ...result, modules, heavy };
}

const STATUS: DaemonStatus = {
  pid: 4242, startedAt: Date.now(), scope: "all namespaces except kube-system", hostsFile: "/etc/hosts",
  tunnels: [{
    key: "shop/web", namespace: "shop", name: "web", state: "forwarding", reason: "", pod: "web-1", ip: "127.1.0.3",
    ports: ["80->8080/tcp"], names: ["web.shop"], connections: 0, bytesIn: 0, bytesOut: 0, since: Date.now(),
  }],
  skipped: [], watchProblems: [], exposes: [],
};

/** A state dir whose daemon socket answers with STATUS. */
async function fakeDaemonStateDir(): Promise<string> {
  const stateDir = tempDir();
  const core: DaemonCore = { status: () => STATUS, onChange: () => () => undefined };
  const server = await serveDaemon(core, stateDir);
  onTestFinished(() => server.close());
  return stateDir;
}

describe("the CLI loads only what the command uses", { timeout: 60_000 }, () => {
  it("--version and --help load no Kubernetes client, ssh2, SQLite or XState", async () => {
    for (const flag of ["--version", "--help"]) {
      const run = await locLoading([flag], tempDir());
      expect(run.code).toBe(0);
      expect(run.heavy).toEqual([]);
    }
  });

  it("loc list against a running daemon prints its tunnels without loading any of them", async () => {
    const run = await locLoading(["list"], await fakeDaemonStateDir());
    expect(run.stderr).toBe("");
    expect(run.stdout).toContain("web-1");
    // The recorder sees the command's own module, so an empty `heavy` is not an empty log.
    expect(run.modules.some((module) => module.endsWith("/src/cli/commands/list.ts"))).toBe(true);
    expect(run.heavy).toEqual([]);
  });

  it("loc expose and expose --stop, as clients of the daemon, load none of them", async () => {
    for (const args of [["expose", "shop/web"], ["expose", "--stop", "shop/web"]]) {
      const run = await locLoading(args, tempDir()); // no daemon: the client's "not running" error
      expect(run.stderr).toMatch(/daemon/);
      expect(run.modules.some((module) => module.endsWith("/src/cli/commands/expose.ts"))).toBe(true);
      expect(run.heavy).toEqual([]);
    }
  });

  it("loc history loads SQLite but no Kubernetes client, ssh2 or XState", async () => {
    const run = await locLoading(["history", "--limit", "1"], tempDir()); // no log yet: "no history"
    expect(run.stderr).toMatch(/no history yet/);
    expect(run.heavy).toEqual(["better-sqlite3"]);
  });
});
