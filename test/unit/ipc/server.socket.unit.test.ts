import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { DaemonCore } from "../../../src/daemon/core.js";
import type { DaemonResponse, DaemonStatus } from "../../../src/ipc/protocol.js";
import { requestStatus, watchStatus } from "../../../src/ipc/client.js";
import { serveDaemon } from "../../../src/ipc/server.js";
import { acquireDaemonLock } from "../../../src/daemon/single-instance.js";
import { LocError } from "../../../src/errors.js";
import { runAsNobody } from "../../helpers/as-other-user.js";
import { finished, ROOT } from "../../helpers/loc-process.js";
import { tempDir } from "../../helpers/temp.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sampleStatus(overrides: Partial<DaemonStatus> = {}): DaemonStatus {
  return { pid: 4242, startedAt: 1_000, scope: "all namespaces", hostsFile: "/etc/hosts", tunnels: [], skipped: [], watchProblems: [], exposes: [], ...overrides };
}

/** A DaemonCore whose status the test sets; counts subscribers to prove watches end. */
function fakeCore(initial = sampleStatus()) {
  let status = initial;
  const listeners = new Set<() => void>();
  const core: DaemonCore = {
    status: () => status,
    onChange: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const set = (next: DaemonStatus) => {
    status = next;
    listeners.forEach((listener) => listener());
  };
  return { core, set, watchers: () => listeners.size };
}

async function serve(stateDir: string, core: DaemonCore) {
  const server = await serveDaemon(core, stateDir);
  cleanups.push(() => server.close());
  return server;
}

/** A hand-driven client speaking raw lines, to send what the real client never would. */
async function rawClient(path: string) {
  const socket = net.createConnection({ path });
  cleanups.push(() => void socket.destroy());
  await once(socket, "connect");
  const lines: DaemonResponse[] = [];
  let buffered = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    lines.push(...parts.map((line) => JSON.parse(line) as DaemonResponse));
  });
  let read = 0;
  const next = async () => {
    await vi.waitFor(() => expect(lines.length).toBeGreaterThan(read));
    return lines[read++] as DaemonResponse;
  };
  return { socket, send: (text: string) => socket.write(text), next };
}

/** A pid that surely belonged to a process and surely is dead now. */
function deadPid(): number {
  const pid = spawnSync(process.execPath, ["-e", ""]).pid;
  if (pid === undefined) throw new Error("could not spawn node");
  return pid;
}

/** Leaves a socket file nobody listens on, as a daemon killed mid-run would. */
function staleSocket(path: string): void {
  spawnSync(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`]);
  expect(statSync(path).isSocket()).toBe(true);
}

async function rejection(promise: Promise<unknown>): Promise<LocError> {
  const error: unknown = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(LocError);
  return error as LocError;
}

describe("daemon lock: one daemon per state dir", () => {
  it("holds our pid owner-only, refuses a second daemon, and lets go on release", async () => {
    const dir = tempDir();
    const lock = await acquireDaemonLock(dir);
    expect(readFileSync(lock.path, "utf8")).toBe(`${process.pid}\n`);
    expect(statSync(lock.path).mode & 0o777).toBe(0o600);
    const error = await rejection(acquireDaemonLock(dir));
    expect(error.toLine()).toBe(`loc: a loc daemon is already running (pid ${process.pid}) (hint: stop it with kill ${process.pid}, or use it: loc list)`);
    expect(error.code).toBe("DAEMON_RUNNING");
    lock.release();
    expect(existsSync(lock.path)).toBe(false);
    (await acquireDaemonLock(dir)).release();
  });

  it("takes over a stale lock from a dead pid and removes the dead daemon's socket", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "daemon.lock"), `${deadPid()}\n`);
    staleSocket(join(dir, "daemon.sock"));
    const lock = await acquireDaemonLock(dir);
    expect(readFileSync(lock.path, "utf8")).toBe(`${process.pid}\n`);
    expect(existsSync(join(dir, "daemon.sock"))).toBe(false);
    lock.release();
  });

  it("treats an unreadable lock as stale", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "daemon.lock"), "garbage");
    (await acquireDaemonLock(dir)).release();
  });

  it("release leaves alone a lock that another process now holds", async () => {
    const dir = tempDir();
    const lock = await acquireDaemonLock(dir);
    writeFileSync(lock.path, "1\n");
    lock.release();
    expect(readFileSync(lock.path, "utf8")).toBe("1\n");
  });

  it.each([["a fresh dir", false], ["a stale lock", true]])("lets exactly one of five concurrent starters win over %s", async (_, stale) => {
    const dir = tempDir();
    if (stale) writeFileSync(join(dir, "daemon.lock"), `${deadPid()}\n`);
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => acquireDaemonLock(dir)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results) if (r.status === "rejected") expect((r.reason as LocError).code).toBe("DAEMON_RUNNING");
  });

  it("lets exactly one of eight racing processes take over a stale lock", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "daemon.lock"), `${deadPid()}\n`);
    const module = fileURLToPath(new URL("../../../src/daemon/single-instance.ts", import.meta.url));
    // All spin until one start time so their attempts overlap; the winner then holds the lock a
    // while so every loser finds it alive. A plain read-then-unlink takeover fails this often.
    const script = `const { acquireDaemonLock } = await import(${JSON.stringify(module)});
      const start = Number(process.argv[2]); while (Date.now() < start) {}
      try { await acquireDaemonLock(process.argv[1]); console.log("won"); await new Promise((r) => setTimeout(r, 1000)); }
      catch (error) { console.log(error.code); }`;
    const start = String(Date.now() + 1500);
    const children = Array.from({ length: 8 }, () =>
      spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script, dir, start], { cwd: ROOT }),
    );
    const outputs = (await Promise.all(children.map(finished))).map((r) => r.stdout.trim());
    expect(outputs.sort()).toEqual([...Array<string>(7).fill("DAEMON_RUNNING"), "won"]);
  }, 20_000);
});

describe("daemon socket server", () => {
  it("creates the socket owner-only, leaves the umask as it was, and removes the socket on close", async () => {
    const dir = tempDir();
    const umask = process.umask();
    const server = await serveDaemon(fakeCore().core, dir);
    expect(process.umask()).toBe(umask);
    expect(server.path).toBe(join(dir, "daemon.sock"));
    expect(statSync(server.path).isSocket()).toBe(true);
    expect(statSync(server.path).mode & 0o777).toBe(0o600);
    await server.close();
    expect(existsSync(server.path)).toBe(false);
  });

  it("answers status with the core's status", async () => {
    const dir = tempDir();
    const status = sampleStatus({ skipped: [{ namespace: "shop", name: "ext", reason: "ExternalName" }] });
    await serve(dir, fakeCore(status).core);
    expect(await requestStatus(dir)).toEqual(status);
  });

  it("streams a status now and after changes, throttled, and unsubscribes when the watcher leaves", async () => {
    const dir = tempDir();
    const fake = fakeCore(sampleStatus({ pid: 0 }));
    await serve(dir, fake.core);
    const seen: number[] = [];
    const stop = new AbortController();
    const watching = watchStatus(dir, (status) => seen.push(status.pid), stop.signal);
    await vi.waitFor(() => expect(seen).toEqual([0]));
    for (let pid = 1; pid <= 20; pid++) fake.set(sampleStatus({ pid }));
    await vi.waitFor(() => expect(seen.at(-1)).toBe(20));
    // Twenty changes in a burst collapse into at most two messages (the window edge, then the newest).
    expect(seen.length).toBeLessThanOrEqual(3);
    stop.abort();
    await watching;
    await vi.waitFor(() => expect(fake.watchers()).toBe(0));
  });

  it("ends a watch when the client disconnects", async () => {
    const dir = tempDir();
    const fake = fakeCore();
    const server = await serve(dir, fake.core);
    const client = await rawClient(server.path);
    client.send(`{"v":1,"id":3,"method":"watchStatus"}\n`);
    expect(await client.next()).toMatchObject({ id: 3, ok: true });
    expect(fake.watchers()).toBe(1);
    client.socket.destroy();
    await vi.waitFor(() => expect(fake.watchers()).toBe(0));
  });

  it("answers bad requests with an error and keeps the connection usable", async () => {
    const dir = tempDir();
    const server = await serve(dir, fakeCore().core);
    const client = await rawClient(server.path);
    client.send("this is not json\n");
    expect(await client.next()).toMatchObject({ id: 0, ok: false, error: { code: "BAD_REQUEST" } });
    client.send(`{"id":7,"method":"shutdown"}\n[]\n`);
    expect(await client.next()).toMatchObject({ id: 7, ok: false, error: { code: "UNKNOWN_METHOD", message: 'unknown method "shutdown"' } });
    expect(await client.next()).toMatchObject({ id: 0, ok: false, error: { code: "UNKNOWN_METHOD" } });
    client.send(`{"v":1,"id":8,"method":"st`);
    client.send(`atus"}\n`);
    expect(await client.next()).toMatchObject({ id: 8, ok: true, status: { pid: 4242 } });
  });

  it("survives a core that throws, answering with an error", async () => {
    const dir = tempDir();
    const core: DaemonCore = { status: () => { throw new Error("projection broke"); }, onChange: () => () => undefined };
    await serve(dir, core);
    const error = await rejection(requestStatus(dir));
    expect(error.message).toBe("the daemon could not build its status: projection broke");
    expect(error.code).toBe("INTERNAL");
  });

  it("close ends open watches", async () => {
    const dir = tempDir();
    const server = await serveDaemon(fakeCore().core, dir);
    let answers = 0;
    const watching = watchStatus(dir, () => answers++, new AbortController().signal);
    await vi.waitFor(() => expect(answers).toBe(1));
    await server.close();
    expect((await rejection(watching)).code).toBe("DAEMON_GONE");
    expect(existsSync(server.path)).toBe(false);
  });

  it("replaces a stale socket file but refuses a path a live server answers on", async () => {
    const dir = tempDir();
    staleSocket(join(dir, "daemon.sock"));
    await serve(dir, fakeCore().core);
    expect(await requestStatus(dir)).toMatchObject({ pid: 4242 });
    expect((await rejection(serveDaemon(fakeCore().core, dir))).code).toBe("DAEMON_RUNNING");
  });
});

describe("daemon client errors", () => {
  it("says no daemon is running when there is no socket", async () => {
    const dir = tempDir();
    const error = await rejection(requestStatus(dir));
    expect(error.toLine()).toBe(`loc: no loc daemon is running (no socket at ${dir}/daemon.sock) (hint: start one with: sudo loc daemon)`);
    expect(error.code).toBe("DAEMON_NOT_RUNNING");
  });

  it("says no daemon is running when a dead daemon's socket is left", async () => {
    const dir = tempDir();
    staleSocket(join(dir, "daemon.sock"));
    const error = await rejection(requestStatus(dir));
    expect(error.message).toBe(`no loc daemon is running (nothing answers at ${dir}/daemon.sock)`);
    expect(error.code).toBe("DAEMON_NOT_RUNNING");
  });

  it("gives up when the daemon does not answer in time", async () => {
    const dir = tempDir();
    const mute = net.createServer(() => undefined).listen(join(dir, "daemon.sock"));
    cleanups.push(() => void mute.close());
    await once(mute, "listening");
    const error = await rejection(requestStatus(dir, undefined, { answerTimeoutMs: 100 }));
    expect(error.message).toBe(`the loc daemon at ${dir}/daemon.sock did not answer within 0.1 s`);
    expect(error.code).toBe("DAEMON_NO_ANSWER");
  });

  it("rejects an answer it cannot read", async () => {
    const dir = tempDir();
    const odd = net.createServer((socket) => socket.end(`{"id":1,"ok":true,"status":{"tunnels":"nope"}}\n`)).listen(join(dir, "daemon.sock"));
    cleanups.push(() => void odd.close());
    await once(odd, "listening");
    expect((await rejection(requestStatus(dir))).code).toBe("DAEMON_PROTOCOL");
  });

  it("refuses a state dir too long for a unix socket path instead of binding a truncated one", async () => {
    const dir = join(tempDir(), "x".repeat(120));
    expect((await rejection(requestStatus(dir))).code).toBe("SOCKET_PATH_TOO_LONG");
    expect((await rejection(serveDaemon(fakeCore().core, dir))).code).toBe("SOCKET_PATH_TOO_LONG");
  });

  it("explains a socket owned by someone else", async () => {
    const dir = tempDir();
    const server = await serve(dir, fakeCore().core);
    // The socket is 0600 and owned by us; as root, ask from a child running as nobody (uid 65534).
    chmodSync(dir, 0o755);
    if (process.getuid?.() !== 0) chmodSync(server.path, 0o000);
    const child = runAsNobody(fileURLToPath(new URL("../../scripts/request-status.ts", import.meta.url)), [dir]);
    expect(child.stdout.trim(), child.stderr).toMatch(/^DAEMON_PERMISSION .*sudo/);
  });
});
