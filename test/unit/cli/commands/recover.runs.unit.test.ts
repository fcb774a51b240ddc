import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LOCK_FILE } from "../../../../src/daemon/single-instance.js";
import { SOCKET_FILE } from "../../../../src/ipc/socket-path.js";
import { parseHostsFile, renderHostsFile } from "../../../../src/hosts/block.js";
import type { NewEvent, StoredEvent } from "../../../../src/store/events.js";
import { openStateStore } from "../../../../src/store/open-store.js";
import { loc } from "../../../helpers/run-cli.js";
import { tempDir } from "../../../helpers/temp.js";

const OWNER = "alice.laptop";
const ENV = { LOC_OWNER: OWNER };
const USER_HOSTS = "127.0.0.1 localhost\n# my own line, kept byte for byte\n::1 ip6-localhost\t# tab\n";
const DEAD_PID = spawnSync("true").pid ?? 999_999;

/**
 * Every file under `dir` with its content hash (sockets by type). A read-only SQLite open leaves an
 * empty -wal and an -shm index beside the database: not data, so skipped (an event written anywhere
 * would change events.db or make the -wal non-empty).
 */
function snapshot(dir: string): string {
  const lines: string[] = [];
  const walk = (path: string, name: string) => {
    const info = lstatSync(path);
    if (info.isDirectory()) for (const entry of readdirSync(path).sort()) walk(join(path, entry), `${name}/${entry}`);
    else if (info.isSocket()) lines.push(`${name}:socket`);
    else if (name.endsWith(".db-shm") || (name.endsWith(".db-wal") && info.size === 0)) return;
    else lines.push(`${name}:${createHash("sha256").update(readFileSync(path)).digest("hex")}`);
  };
  walk(dir, ".");
  return lines.join("\n");
}

function seed(stateDir: string, events: [string, NewEvent][]): void {
  const store = openStateStore(stateDir, "write", {});
  for (const [stream, event] of events) store.append(stream, [event], -1);
  store.close();
}

function readLog(stateDir: string, stream: string): StoredEvent[] {
  const store = openStateStore(stateDir, "read", {});
  try {
    return store.read({ stream });
  } finally {
    store.close();
  }
}

/** A socket file nobody listens on: bound through a hard link, so closing the server leaves it. */
async function staleSocket(path: string): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(`${path}.tmp`, resolve));
  linkSync(`${path}.tmp`, path);
  await new Promise((resolve) => server.close(resolve));
}

/** A daemon run that died with its block in the hosts file, leaving its lock and socket behind. */
async function deadRun() {
  const dir = tempDir();
  const stateDir = join(dir, "state");
  const hostsFile = join(dir, "hosts");
  writeFileSync(hostsFile, renderHostsFile(parseHostsFile(USER_HOSTS), [{ ip: "127.1.0.1", names: ["web", "web.default"] }]));
  seed(stateDir, [
    ["daemon", { type: "daemon.started", data: { pid: DEAD_PID, version: "0.1.0", scope: "all", hostsFile } }],
    ["daemon", { type: "hosts.written", data: { path: hostsFile, names: 2 } }],
  ]);
  writeFileSync(join(stateDir, LOCK_FILE), `${DEAD_PID}\n`);
  await staleSocket(join(stateDir, SOCKET_FILE));
  return { dir, stateDir, hostsFile, args: ["recover", "--state-dir", stateDir] };
}

/** One stderr line `loc: … (hint: …)`, a non-zero exit, nothing printed on stdout. */
function expectRefusal(result: { code: number; stdout: string; stderr: string }, message: RegExp, code = 1): void {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe("");
  expect(result.stderr).toMatch(/^loc: [^\n]+ \(hint: [^\n]+\)\n$/);
  expect(result.stderr).toMatch(message);
}

describe("loc recover refuses bad input with one line and a hint, changing nothing", () => {
  it.each([[[]], [["--dry-run"]]])("a live daemon holds the lock %j", async (extra) => {
    const { dir, stateDir, args } = await deadRun();
    writeFileSync(join(stateDir, LOCK_FILE), `${process.pid}\n`);
    const before = snapshot(dir);
    expectRefusal(await loc([...args, ...extra], ENV), new RegExp(`a loc daemon is running \\(pid ${process.pid}\\)`));
    expect(snapshot(dir)).toBe(before);
  });

  it("a file that is not a SQLite database", async () => {
    const stateDir = tempDir();
    writeFileSync(join(stateDir, "events.db"), Buffer.alloc(8192, 0x5a));
    const before = snapshot(stateDir);
    expectRefusal(await loc(["recover", "--state-dir", stateDir], ENV), /events\.db is not a loc database/);
    expect(snapshot(stateDir)).toBe(before);
  });

  it.each([
    [["--namespace", "shop"], /--namespace only narrows --from-cluster/, 2],
    [["--from-cluster", "--namespace", "Bad_NS"], /"Bad_NS" is not a namespace name/, 1],
  ])("%j", async (extra, message, code) => {
    const stateDir = join(tempDir(), "state");
    expectRefusal(await loc(["recover", "--state-dir", stateDir, ...extra], ENV), message, code);
    expect(existsSync(stateDir)).toBe(false);
  });

  it("an unfinished session but no kubeconfig to reach its cluster", async () => {
    const { dir, stateDir, args } = await deadRun();
    const service = "shop/web";
    seed(stateDir, [
      ["expose:s1", { type: "expose.requested", data: { service, transport: "ssh", owner: OWNER, ports: [] } }],
      ["expose:s1", { type: "expose.intent", data: { service, action: "annotate", target: "Deployment/web", original: { uid: "u1", annotations: {} } } }],
      ["expose:s1", { type: "expose.intent", data: { service, action: "scale", target: "Deployment/web", original: { replicas: 2, to: 0, uid: "u1" } } }],
    ]);
    const before = snapshot(dir);
    expectRefusal(await loc([...args, "--kubeconfig", join(dir, "nonexistent")], ENV), /kubeconfig .*nonexistent does not exist \(hint: pass --kubeconfig PATH/);
    // The dead run's hosts block and stale files wait for a run that can also reach the cluster.
    expect(snapshot(dir)).toBe(before);
  });
});

describe("loc recover after a daemon died", () => {
  it("without any event log: says so and points at --from-cluster", async () => {
    const stateDir = join(tempDir(), "state");
    const dry = await loc(["recover", "--state-dir", stateDir, "--dry-run"], ENV);
    expect(dry.code).toBe(0);
    expect(dry.stderr).toBe(`loc recover: no event log at ${stateDir}/events.db; if it was deleted, loc recover --from-cluster finds this owner's leftovers by their labels\n`);
    expect(dry.stdout).toContain("nothing to do: no leftovers of this owner");
    expect(existsSync(stateDir)).toBe(false);

    // Without --dry-run too: with nothing to recover it creates nothing (no state dir, no log).
    const real = await loc(["recover", "--state-dir", stateDir], ENV);
    expect(real.code).toBe(0);
    expect(real.stderr).toContain("no event log at");
    expect(existsSync(stateDir)).toBe(false);
  });

  it("removes the hosts block byte-exactly and the stale files, records it all, and a second run has nothing to do", async () => {
    const { stateDir, hostsFile, args } = await deadRun();
    const first = await loc(args, ENV);
    expect(first).toMatchObject({ code: 0, stderr: "" });
    expect(first.stdout).toContain(`done  remove loc's block from ${hostsFile}`);
    expect(first.stdout).toMatch(/loc recover: 3 done, 0 left as they are, 0 failed \(\d+ ms\)\n$/);
    expect(readFileSync(hostsFile, "latin1")).toBe(USER_HOSTS);
    expect(existsSync(join(stateDir, LOCK_FILE))).toBe(false);
    expect(existsSync(join(stateDir, SOCKET_FILE))).toBe(false);

    const recovery = readLog(stateDir, "recovery");
    expect(recovery.map((e) => (e.known && e.type === "recovery.action" ? `${e.data.action}:${e.data.status}` : e.type))).toEqual([
      "recovery.started", "removeStale:done", "removeStale:done", "cleanHosts:done", "recovery.completed",
    ]);
    expect(recovery.at(-1)).toMatchObject({ data: { sessions: 0, done: 3, left: 0, failed: 0 } });
    expect(readLog(stateDir, "daemon").at(-1)).toMatchObject({ type: "daemon.stopped", data: { pid: DEAD_PID } });

    const second = await loc([...args, "--json"], ENV);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ sessions: 0, actions: [], done: 0, failed: 0 });
    expect(readFileSync(hostsFile, "latin1")).toBe(USER_HOSTS);
  });

  it("--dry-run prints the plan and changes nothing, not even the log", async () => {
    const { dir, stateDir, hostsFile, args } = await deadRun();
    const before = snapshot(dir);
    const { code, stdout, stderr } = await loc([...args, "--dry-run"], ENV);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout.split("\n").filter((line) => line.trimStart().startsWith("would"))).toEqual([
      `  would remove stale ${join(stateDir, LOCK_FILE)}`,
      `  would remove stale ${join(stateDir, SOCKET_FILE)}`,
      `  would remove loc's block from ${hostsFile}`,
    ]);
    expect(stdout).toContain("3 planned, nothing changed (dry run)");
    expect(snapshot(dir)).toBe(before);
    expect(readLog(stateDir, "recovery")).toEqual([]);
  });

  it("--json prints one JSON object: the report", async () => {
    const { args, hostsFile } = await deadRun();
    const { code, stdout } = await loc([...args, "--dry-run", "--json"], ENV);
    expect(code).toBe(0);
    expect(stdout.trimEnd().split("\n")).toHaveLength(1);
    const report = JSON.parse(stdout) as Record<string, unknown>;
    expect(Object.keys(report).sort()).toEqual(["actions", "done", "dryRun", "durationMs", "failed", "left", "owner", "sessions", "source"]);
    expect(report).toMatchObject({ source: "store", owner: OWNER, dryRun: true, sessions: 0, done: 0, left: 0, failed: 0 });
    expect(report.actions).toContainEqual({ action: "cleanHosts", target: hostsFile, status: "planned", detail: `remove loc's block from ${hostsFile}` });
  });

  it("a hosts file it cannot write: exit 1, the run stays unfinished, a later run finishes it", async () => {
    const { dir, stateDir, hostsFile, args } = await deadRun();
    // Root ignores file modes; a directory where loc's hosts lock goes makes the write fail even for root.
    mkdirSync(`${hostsFile}.loc.lock`);
    const hostsBefore = readFileSync(hostsFile);
    const failed = await loc(args, ENV);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/FAILED .*hosts/);
    expect(failed.stderr).toMatch(/^loc: recovery incomplete: 1 action failed \(hint: [^\n]+\)\n$/);
    expect(readFileSync(hostsFile)).toEqual(hostsBefore);
    expect(readLog(stateDir, "daemon").map((e) => e.type)).not.toContain("daemon.stopped");
    expect(readLog(stateDir, "recovery").at(-1)).toMatchObject({ type: "recovery.completed", data: { failed: 1 } });

    rmdirSync(`${hostsFile}.loc.lock`);
    expect((await loc(args, ENV)).code).toBe(0);
    expect(readFileSync(hostsFile, "latin1")).toBe(USER_HOSTS);
    expect(readLog(stateDir, "daemon").at(-1)).toMatchObject({ type: "daemon.stopped", data: { pid: DEAD_PID } });
    expect(snapshot(dir)).not.toContain("daemon.lock");
  });
});
