import { describe, expect, it, vi } from "vitest";
import { listCommand, type ListFlags } from "../../../../src/cli/commands/list.js";
import { formatAge, formatBytes, formatListTable } from "../../../../src/cli/format-list.js";
import type { DaemonCore } from "../../../../src/daemon/core.js";
import type { DaemonStatus } from "../../../../src/ipc/protocol.js";
import { serveDaemon } from "../../../../src/ipc/server.js";
import type { TunnelStatus } from "../../../../src/daemon/service-tunnel.js";
import { LocError } from "../../../../src/errors.js";
import { tempDir } from "../../../helpers/temp.js";

const NOW = 10_000_000;

function tunnel(namespace: string, name: string, overrides: Partial<TunnelStatus> = {}): TunnelStatus {
  return {
    key: `${namespace}/${name}`, namespace, name, state: "forwarding", reason: "", pod: `${name}-7d9f-abcde`, ip: "127.1.0.3",
    ports: ["80->8080/tcp"], names: [`${name}.${namespace}`], connections: 0, bytesIn: 0, bytesOut: 0, since: NOW - 5_000, ...overrides,
  };
}

const STATUS: DaemonStatus = {
  pid: 4242,
  startedAt: NOW - 2 * 3600_000,
  scope: "all namespaces except kube-system",
  hostsFile: "/etc/hosts",
  transport: "spdy",
  tunnels: [
    tunnel("shop", "web", { connections: 3, bytesIn: 1_234_567, bytesOut: 2_048, ports: ["80->8080/tcp", "443->8443/tcp"], session: "up" }),
    tunnel("billing", "api", { state: "waitingForEndpoints", reason: "no ready endpoints", pod: "", ports: ["8080->?/tcp"], since: NOW - 180_000 }),
    tunnel("shop", "cart", { state: "backingOff", reason: "pod cart-1 refused", ip: "127.1.0.4", since: NOW - 30_000, session: "none" }),
    tunnel("shop", "db", { state: "connecting", ip: "127.1.0.5", session: "opening" }),
  ],
  skipped: [{ namespace: "shop", name: "legacy", reason: "ExternalName" }],
  watchProblems: [],
  exposes: [],
};

/** An in-process CLI io capturing output; `abort` plays Ctrl-C. */
function captureIO(env: NodeJS.ProcessEnv = {}, stdoutIsTTY = false) {
  const controller = new AbortController();
  const out = { stdout: "", stderr: "" };
  const io = {
    stdout: (t: string) => void (out.stdout += t),
    stderr: (t: string) => void (out.stderr += t),
    env,
    signal: controller.signal,
    stdoutIsTTY,
  };
  return { io, out, abort: () => controller.abort() };
}

/** A daemon socket in a temp dir, served from a fake core the test can change. */
async function daemonWith(initial: DaemonStatus) {
  const stateDir = tempDir();
  let status = initial;
  const listeners = new Set<() => void>();
  const core: DaemonCore = { status: () => status, onChange: (l) => (listeners.add(l), () => listeners.delete(l)) };
  const server = await serveDaemon(core, stateDir);
  const set = (next: DaemonStatus) => {
    status = next;
    listeners.forEach((l) => l());
  };
  return { stateDir, server, set };
}

async function list(flags: ListFlags, capture = captureIO()) {
  const code = await listCommand(flags, capture.io, { now: () => NOW });
  return { code, ...capture.out };
}

describe("loc list formatting", () => {
  it("prints the daemon line and one aligned table sorted by namespace then name, skipped services included", async () => {
    const daemon = await daemonWith(STATUS);
    const { code, stdout, stderr } = await list({ stateDir: daemon.stateDir });
    await daemon.server.close();
    expect(code).toBe(0);
    expect(stderr).toBe("");
    expect(stdout.split("\n")).toEqual([
      "daemon pid 4242, up 2h, watching all namespaces except kube-system, hosts file /etc/hosts",
      "NAMESPACE  NAME    STATE                REASON              ENDPOINT         IP         PORTS                       TRANSPORT     CONN  IN      OUT     SINCE",
      "billing    api     waitingForEndpoints  no ready endpoints  -                127.1.0.3  8080->?/tcp                 spdy          0     0 B     0 B     3m",
      "shop       cart    backingOff           pod cart-1 refused  cart-7d9f-abcde  127.1.0.4  80->8080/tcp                spdy:idle     0     0 B     0 B     30s",
      "shop       db      connecting           -                   db-7d9f-abcde    127.1.0.5  80->8080/tcp                spdy:opening  0     0 B     0 B     5s",
      "shop       legacy  skipped              ExternalName        -                -          -                           -             -     -       -       -",
      "shop       web     forwarding           -                   web-7d9f-abcde   127.1.0.3  80->8080/tcp,443->8443/tcp  spdy:up       3     1.2 MB  2.0 kB  5s",
      "",
    ]);
  });

  it("shows only the header for a daemon with nothing in scope", () => {
    expect(formatListTable({ ...STATUS, tunnels: [], skipped: [] }, NOW)).toEqual([
      "NAMESPACE  NAME  STATE  REASON  ENDPOINT  IP  PORTS  TRANSPORT  CONN  IN  OUT  SINCE",
    ]);
  });

  it("names the per-connection transport alone, and nothing for a daemon too old to say", () => {
    const one = (status: DaemonStatus) => formatListTable(status, NOW)[1]?.split(/\s+/)[7];
    expect(one({ ...STATUS, transport: "websocket", tunnels: [tunnel("shop", "web")], skipped: [] })).toBe("websocket");
    expect(one({ ...STATUS, transport: undefined, tunnels: [tunnel("shop", "web", { session: "up" })], skipped: [] })).toBe("-");
  });

  it("prints watch problems as warnings on stderr", async () => {
    const problem = { resource: "services", message: "connection refused", since: NOW - 120_000 };
    const daemon = await daemonWith({ ...STATUS, watchProblems: [problem] });
    const { code, stderr } = await list({ stateDir: daemon.stateDir });
    await daemon.server.close();
    expect(code).toBe(0);
    expect(stderr).toBe("loc: watch of services failing: connection refused (for 2m; the daemon keeps retrying, the list may be out of date)\n");
  });

  it.each([
    [0, "0 B"], [999, "999 B"], [1000, "1.0 kB"], [1_234_567, "1.2 MB"], [999_960, "1.0 MB"], [5.5e12, "5.5 TB"],
  ])("formats %d bytes as %s", (bytes, text) => expect(formatBytes(bytes)).toBe(text));

  it.each([
    [-5_000, "0s"], [5_400, "5s"], [59_999, "59s"], [180_000, "3m"], [7_200_000, "2h"], [47 * 3600_000, "47h"], [3 * 86_400_000, "3d"],
  ])("formats an age of %d ms as %s", (ms, text) => expect(formatAge(ms)).toBe(text));
});

describe("loc list --json and --watch", () => {
  it("--json prints the status as one JSON document", async () => {
    const daemon = await daemonWith(STATUS);
    const { code, stdout } = await list({ stateDir: daemon.stateDir, json: true });
    await daemon.server.close();
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual(STATUS);
  });

  it("--watch --json prints one NDJSON line per change and exits 0 on Ctrl-C", async () => {
    const daemon = await daemonWith(STATUS);
    const capture = captureIO({ LOC_STATE_DIR: daemon.stateDir });
    const running = list({ json: true, watch: true }, capture);
    await vi.waitFor(() => expect(capture.out.stdout).toContain("\n"));
    daemon.set({ ...STATUS, pid: 5151 });
    await vi.waitFor(() => expect(capture.out.stdout.split("\n")).toHaveLength(3));
    capture.abort();
    expect((await running).code).toBe(0);
    await daemon.server.close();
    const docs = capture.out.stdout.trim().split("\n").map((line) => JSON.parse(line) as DaemonStatus);
    expect(docs.map((d) => d.pid)).toEqual([4242, 5151]);
  });

  it("--watch reprints the table per change, separated by a blank line off a terminal", async () => {
    const daemon = await daemonWith(STATUS);
    const capture = captureIO();
    const running = list({ stateDir: daemon.stateDir, watch: true }, capture);
    await vi.waitFor(() => expect(capture.out.stdout).toContain("shop       web"));
    daemon.set({ ...STATUS, tunnels: [], skipped: [] });
    await vi.waitFor(() => expect(capture.out.stdout.split("daemon pid")).toHaveLength(3));
    capture.abort();
    expect((await running).code).toBe(0);
    await daemon.server.close();
    const frames = capture.out.stdout.split("\n\n");
    expect(frames).toHaveLength(2);
    expect(frames[1]).toBe("daemon pid 4242, up 2h, watching all namespaces except kube-system, hosts file /etc/hosts\nNAMESPACE  NAME  STATE  REASON  ENDPOINT  IP  PORTS  TRANSPORT  CONN  IN  OUT  SINCE\n");
    expect(capture.out.stdout).not.toContain("\x1b");
  });

  it("--watch clears the screen before each frame on a terminal", async () => {
    const daemon = await daemonWith(STATUS);
    const capture = captureIO({}, true);
    const running = list({ stateDir: daemon.stateDir, watch: true }, capture);
    await vi.waitFor(() => expect(capture.out.stdout.startsWith("\x1b[2J\x1b[Hdaemon pid 4242")).toBe(true));
    capture.abort();
    expect((await running).code).toBe(0);
    await daemon.server.close();
  });

  it("--watch fails with a LocError when the daemon goes away", async () => {
    const daemon = await daemonWith(STATUS);
    const capture = captureIO();
    const running = list({ stateDir: daemon.stateDir, watch: true }, capture);
    await vi.waitFor(() => expect(capture.out.stdout).toContain("daemon pid"));
    await daemon.server.close();
    await expect(running).rejects.toMatchObject({ code: "DAEMON_GONE" });
  });
});

describe("loc list without a daemon", () => {
  it("throws the not-running LocError for the program to print (exit 1)", async () => {
    const stateDir = tempDir();
    const capture = captureIO({ LOC_STATE_DIR: stateDir });
    const error: unknown = await listCommand({}, capture.io).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocError);
    expect((error as LocError).toLine()).toBe(`loc: no loc daemon is running (no socket at ${stateDir}/daemon.sock) (hint: start one with: sudo loc daemon)`);
    expect(capture.out).toEqual({ stdout: "", stderr: "" });
  });

  it("exits 0 when interrupted before the daemon answers", async () => {
    const capture = captureIO();
    capture.abort();
    expect(await listCommand({ stateDir: tempDir(), watch: true }, capture.io)).toBe(0);
  });
});
