import Database from "better-sqlite3";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { NewEvent } from "../../../../src/store/events.js";
import { openStateStore } from "../../../../src/store/open-store.js";
import { finished, spawnLoc, spawnScript, waitForOutput } from "../../../helpers/loc-process.js";
import { loc } from "../../../helpers/run-cli.js";
import { tempDir } from "../../../helpers/temp.js";

/** Content hash plus the dir listing: proves a failed command left the state dir as it was. */
function snapshot(dir: string, only?: string): string {
  const files = readdirSync(dir)
    .filter((f) => only === undefined || f === only)
    .sort();
  const hashes = files.map((f) => `${f}:${createHash("sha256").update(readFileSync(join(dir, f))).digest("hex")}`);
  return hashes.join("\n");
}

function seed(stateDir: string, events: [string, NewEvent][]): void {
  const store = openStateStore(stateDir, "write", {});
  for (const [stream, event] of events) store.append(stream, [event], -1);
  store.close();
}

const web = (pod: string): NewEvent => ({ type: "tunnel.connecting", data: { service: "shop/web", pod, ip: "127.1.0.3" } });

describe("loc history errors: one line, a hint, non-zero, nothing changed", () => {
  it("says there is no history yet, without creating the state dir", async () => {
    const stateDir = join(tempDir(), "state");
    const { code, stderr } = await loc(["history", "--state-dir", stateDir]);
    expect(code).toBe(1);
    expect(stderr).toBe(`loc: no history yet at ${stateDir}/events.db (hint: run \`loc daemon\` or \`loc expose\` first; they record events there)\n`);
    expect(existsSync(stateDir)).toBe(false);
  });

  it("refuses a file that is not a SQLite database", async () => {
    const stateDir = tempDir();
    writeFileSync(join(stateDir, "events.db"), "this is a text file, not a database\n".repeat(40));
    const before = snapshot(stateDir);
    const { code, stderr } = await loc(["history"], { LOC_STATE_DIR: stateDir });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^loc: .*events\.db is not a loc database \(not an SQLite file\) \(hint: move the file aside.*\)\n$/);
    expect(snapshot(stateDir)).toBe(before);
  });

  it("reports a corrupt database with an integrity-check hint", async () => {
    const stateDir = tempDir();
    seed(stateDir, [["tunnel:shop/web", web("p1")]]);
    const path = join(stateDir, "events.db");
    const bytes = readFileSync(path);
    // Keep the 100-byte header, scramble the schema page behind it.
    bytes.fill(0xa5, 100, 4096);
    writeFileSync(path, bytes);
    const before = snapshot(stateDir, "events.db");
    const { code, stderr } = await loc(["history"], { LOC_STATE_DIR: stateDir });
    expect(code).toBe(1);
    // SQLite had to open this one to find the damage, which creates its empty -wal/-shm side files.
    expect(stderr).toMatch(/^loc: .*events\.db (is corrupt|is not a loc database).*\(hint: .*\)\n$/);
    expect(snapshot(stateDir, "events.db")).toBe(before);
  });

  it("gives up on a database locked past the busy timeout", async () => {
    const stateDir = tempDir();
    seed(stateDir, [["tunnel:shop/web", web("p1")]]);
    const holder = spawnScript(fileURLToPath(new URL("../../../scripts/hold-lock.ts", import.meta.url)), [join(stateDir, "events.db")]);
    let before = "";
    try {
      await waitForOutput(holder, /locked/);
      before = snapshot(stateDir);
      const started = Date.now();
      const { code, stderr } = await loc(["history"], { LOC_STATE_DIR: stateDir, LOC_DB_BUSY_TIMEOUT_MS: "300" });
      expect(code).toBe(1);
      expect(stderr).toMatch(/^loc: .*events\.db is locked by another process \(waited 300 ms\) \(hint: retry in a moment.*\)\n$/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    } finally {
      holder.kill("SIGKILL");
      await finished(holder);
    }
    expect(snapshot(stateDir)).toBe(before);
  });

  it("refuses a schema newer than this build", async () => {
    const stateDir = tempDir();
    seed(stateDir, [["tunnel:shop/web", web("p1")]]);
    const db = new Database(join(stateDir, "events.db"));
    db.pragma("user_version = 99");
    db.close();
    const before = snapshot(stateDir);
    const { code, stderr } = await loc(["history"], { LOC_STATE_DIR: stateDir });
    expect(code).toBe(1);
    expect(stderr).toMatch(/has schema v99, newer than this loc understands \(v2\) \(hint: upgrade loc/);
    expect(snapshot(stateDir)).toBe(before);
  });

  it.each([
    [["--since", "yesterday"], /--since "yesterday" is neither a duration nor an ISO time/],
    [["--until", "2026-13-45"], /--until "2026-13-45" is neither a duration nor an ISO time/],
    [["--since", "1h", "--until", "2h"], /--since is not before --until/],
    [["--limit", "0"], /--limit "0" is not a positive whole number/],
    [["--limit", "2.5"], /--limit "2.5" is not a positive whole number/],
    [["--service", "web"], /"web" is not a service reference \(hint: write it as namespace\/service/],
    [["--service", "Shop/Web"], /"Shop\/Web" is not a service reference/],
    [["--type", "tunnel.teleported"], /unknown event type "tunnel.teleported" \(hint: use a type like tunnel.forwarding or a family: daemon\.\*/],
  ])("rejects bad filter %j before opening the database", async (args, message) => {
    const stateDir = tempDir();
    seed(stateDir, [["tunnel:shop/web", web("p1")]]);
    const before = snapshot(stateDir);
    const { code, stderr, stdout } = await loc(["history", ...args], { LOC_STATE_DIR: stateDir });
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr.split("\n")).toHaveLength(2);
    expect(stderr).toMatch(message);
    expect(snapshot(stateDir)).toBe(before);
  });

  it("reports an unknown flag as a usage error", async () => {
    const { code, stderr } = await loc(["history", "--colour"]);
    expect(code).toBe(2);
    expect(stderr).toBe("loc: Unknown option `--colour` (hint: see loc --help)\n");
  });
});

describe("loc history output", () => {
  it("creates the state dir 0700 and the database 0600", () => {
    const stateDir = join(tempDir(), "nested", "state");
    seed(stateDir, [["daemon", { type: "daemon.stopped", data: { pid: 1, reason: "test" } }]]);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(stateDir, "events.db")).mode & 0o777).toBe(0o600);
  });

  it("prints a table, filters by service and type, and keeps the newest N oldest first", async () => {
    const stateDir = tempDir();
    seed(stateDir, [
      ["tunnel:shop/web", web("p1")],
      ["tunnel:shop/db", { type: "tunnel.connecting", data: { service: "shop/db", pod: "db-0", ip: "127.1.0.4" } }],
      ["tunnel:shop/web", web("p2")],
      ["tunnel:shop/web", { type: "tunnel.stopped", data: { service: "shop/web", reason: "service deleted" } }],
    ]);
    const table = await loc(["history", "--service", "shop/web", "--type", "tunnel.connecting", "--limit", "1"], { LOC_STATE_DIR: stateDir });
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^TIME +STREAM +TYPE +SUMMARY$/);
    expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} +tunnel:shop\/web +tunnel\.connecting +shop\/web → pod p2 on 127\.1\.0\.3$/);

    const json = await loc(["history", "--json", "--type", "tunnel.*", "--since", "1h"], { LOC_STATE_DIR: stateDir });
    const parsed = json.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as { seq: number; type: string });
    expect(parsed.map((e) => [e.seq, e.type])).toEqual([
      [1, "tunnel.connecting"],
      [2, "tunnel.connecting"],
      [3, "tunnel.connecting"],
      [4, "tunnel.stopped"],
    ]);
    const future = await loc(["history", "--since", "2999-01-01"], { LOC_STATE_DIR: stateDir });
    expect([future.code, future.stdout, future.stderr]).toEqual([0, "", "no events match\n"]);
  });

  it("--follow prints events another process appends, and Ctrl-C exits 0", async () => {
    const stateDir = tempDir();
    seed(stateDir, [["tunnel:shop/web", web("p1")]]);
    const follower = spawnLoc(["history", "--follow", "--json", "--service", "shop/web"], { LOC_STATE_DIR: stateDir });
    const done = finished(follower);
    await waitForOutput(follower, /"pod":"p1"/);
    seed(stateDir, [
      ["tunnel:shop/db", { type: "tunnel.connecting", data: { service: "shop/db", pod: "db-0", ip: "127.1.0.4" } }],
      ["tunnel:shop/web", web("p2")],
    ]);
    const output = await waitForOutput(follower, /"pod":"p2"/);
    expect(output).not.toContain("db-0");
    follower.kill("SIGINT");
    const { code, stderr } = await done;
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });
});
