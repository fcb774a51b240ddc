import { describe, expect, it } from "vitest";
import { doctorCommand } from "../../../src/cli/commands/doctor.js";
import type { DaemonCore } from "../../../src/daemon/core.js";
import type { DaemonStatus } from "../../../src/ipc/protocol.js";
import { serveDaemon } from "../../../src/ipc/server.js";
import type { ClusterProbe } from "../../../src/doctor/cluster-probe.js";
import type { DoctorDeps } from "../../../src/doctor/doctor.js";
import { checkImage } from "../../../src/doctor/local-checks.js";
import { nodeSystem, userNameFrom, type LocalSystem } from "../../../src/doctor/local-system.js";
import { canIHint, permissionLabel, type Permission } from "../../../src/doctor/permissions.js";
import { LocError } from "../../../src/errors.js";
import { tempDir } from "../../helpers/temp.js";

const STATE = "/home/me/.local/state/loc";
const NOW = Date.parse("2025-06-01T12:00:00Z");

/** A cluster where everything is allowed except the `verb resource@namespace` keys in `denied`. */
function fakeProbe(options: { denied?: string[]; versionError?: unknown } = {}): ClusterProbe & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    identity: { source: "/home/me/.kube/config", context: "kind-dev", cluster: "kind-dev", server: "https://127.0.0.1:6443", user: "admin" },
    version: async () => {
      if (options.versionError) throw options.versionError;
      return "v1.36.3";
    },
    canI: async (permission: Permission, namespace: string) => {
      const key = `${permissionLabel(permission)}@${namespace}`;
      asked.push(key);
      return !(options.denied ?? []).includes(key);
    },
  };
}

function errorWith(fields: Record<string, unknown>, message = "request failed"): Error {
  return Object.assign(new Error(message), fields);
}

const RUNNING: DaemonStatus = {
  pid: 4242, startedAt: NOW - 90 * 60_000, scope: "all namespaces", hostsFile: "/etc/hosts",
  tunnels: [], skipped: [], watchProblems: [], exposes: [],
};

function tunnelRow(name: string, state: string, reason = ""): DaemonStatus["tunnels"][number] {
  return { key: `shop/${name}`, namespace: "shop", name, state, reason, pod: "", ip: "127.1.0.1", ports: [], names: [], connections: 0, bytesIn: 0, bytesOut: 0, since: NOW };
}

/** A healthy machine: owner-only state dir and log, a daemon answering; `files` overrides stat. */
function fakeSystem(overrides: Partial<LocalSystem> & { files?: Record<string, { uid: number; mode: number } | undefined> } = {}): LocalSystem {
  const files: Record<string, { uid: number; mode: number } | undefined> = {
    [STATE]: { uid: 1000, mode: 0o700 },
    [`${STATE}/events.db`]: { uid: 1000, mode: 0o600 },
    [`${STATE}/daemon.sock`]: { uid: 1000, mode: 0o600 },
    ...overrides.files,
  };
  return {
    uid: 1000,
    canWrite: async () => undefined,
    stat: async (path) => files[path] ?? Promise.reject(errorWith({ code: "ENOENT" })),
    userName: async (uid) => ({ 0: "root", 1000: "me", 1001: "bob" })[uid] ?? `uid ${uid}`,
    daemonStatus: async () => ({ ...RUNNING, tunnels: ["web", "api", "db"].map((name) => tunnelRow(name, "forwarding")) }),
    ...overrides,
  };
}

async function doctor(args: { namespace?: string[]; json?: boolean; image?: string } = {}, deps: Partial<DoctorDeps> = {}) {
  let stdout = "";
  let stderr = "";
  const io = { stdout: (t: string) => void (stdout += t), stderr: (t: string) => void (stderr += t), env: {}, signal: new AbortController().signal };
  const probe = fakeProbe();
  const code = await doctorCommand({ stateDir: STATE, ...args }, io, { openCluster: async () => probe, system: fakeSystem(), now: () => NOW, ...deps });
  return { code, stdout, stderr, lines: stdout.trimEnd().split("\n") };
}

describe("loc doctor: all well", () => {
  it("prints one ✓ line per check and exits 0", async () => {
    const { code, lines, stderr } = await doctor();
    expect(stderr).toBe("");
    expect(lines).toEqual([
      "✓ kubeconfig: /home/me/.kube/config, context kind-dev (cluster kind-dev at https://127.0.0.1:6443, user admin)",
      expect.stringMatching(/^✓ api server: https:\/\/127\.0\.0\.1:6443 answered in \d+ ms \(Kubernetes v1\.36\.3\)$/),
      "✓ daemon: has the 5 permissions it needs in all namespaces",
      "✓ expose: has the 18 permissions it needs in all namespaces",
      "✓ hosts file: /etc/hosts is writable",
      `✓ state dir: ${STATE} (owner me, mode 0700)`,
      "✓ socket: daemon running as me (pid 4242, since 2025-06-01T10:30:00.000Z, up 1h30m), 3 tunnels, 0 exposes",
      "✓ tunnels: 3 forwarding",
      "✓ proxy image: lscr.io/linuxserver/openssh-server:latest (default; --image replaces it)",
    ]);
    expect(code).toBe(0);
  });

  it("--json prints { ok, checks } with name, ok, detail (and hint only where something is wrong)", async () => {
    const { code, stdout } = await doctor({ json: true });
    const report = JSON.parse(stdout) as { ok: boolean; checks: { name: string; ok: boolean | string; detail: string; hint?: string }[] };
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual(["kubeconfig", "api server", "daemon", "expose", "hosts file", "state dir", "socket", "tunnels", "proxy image"]);
    for (const check of report.checks) {
      expect(check).toEqual({ name: expect.any(String), ok: true, detail: expect.any(String) });
    }
  });
});

describe("loc doctor: the daemon's tunnels", () => {
  const withTunnels = (tunnels: DaemonStatus["tunnels"]) => fakeSystem({ daemonStatus: async () => ({ ...RUNNING, tunnels }) });

  it("names the tunnels that cannot serve with loc list's reasons, and the first one's fix; a warning, exit 0", async () => {
    const system = withTunnels([
      tunnelRow("web", "forwarding"),
      tunnelRow("deaf", "backingOff", "port-forward: nothing listens on the pod's port 9 (connection refused)"),
      tunnelRow("idle", "waitingForEndpoints", "no ready endpoints"),
      tunnelRow("api", "connecting"),
    ]);
    const { code, lines } = await doctor({}, { system });
    expect(lines).toContain(
      "! tunnels: 2 of 4 not forwarding: shop/deaf cannot reach a pod: port-forward: nothing listens on the pod's port 9 (connection refused); shop/idle has no ready pods " +
        "(hint: the Service's targetPort must be a port the pod listens on: kubectl -n shop describe service deaf)",
    );
    expect(code).toBe(0);
  });

  it("a Service with no ready pods points at its EndpointSlices; past three, the rest are counted", async () => {
    const system = withTunnels(["a", "b", "c", "d", "e"].map((name) => tunnelRow(name, "waitingForEndpoints")));
    const { lines } = await doctor({}, { system });
    expect(lines).toContain(
      "! tunnels: 5 of 5 not forwarding: shop/a has no ready pods; shop/b has no ready pods; shop/c has no ready pods; and 2 more (loc list) " +
        "(hint: see why its pods are not ready: kubectl -n shop get endpointslices -l kubernetes.io/service-name=a)",
    );
  });

  it("says nothing about tunnels while the daemon has none, or is not running", async () => {
    expect((await doctor({}, { system: withTunnels([]) })).lines.some((line) => line.includes("tunnels:"))).toBe(false);
    const down = fakeSystem({ files: { [`${STATE}/daemon.sock`]: undefined } });
    expect((await doctor({}, { system: down })).lines.some((line) => line.includes("tunnels:"))).toBe(false);
  });
});

describe("loc doctor: the cluster checks", () => {
  it("a missing kubeconfig fails with its hint and skips the API and RBAC checks", async () => {
    const openCluster = async () => {
      throw new LocError("no kubeconfig at /home/me/.kube/config", "pass --kubeconfig PATH, or set KUBECONFIG", "NO_KUBECONFIG");
    };
    const { code, lines } = await doctor({}, { openCluster });
    expect(lines[0]).toBe("✗ kubeconfig: no kubeconfig at /home/me/.kube/config (hint: pass --kubeconfig PATH, or set KUBECONFIG)");
    expect(lines.some((line) => /api server|expose:/.test(line))).toBe(false);
    expect(code).toBe(1);
  });

  it.each([
    [errorWith({ code: "ECONNREFUSED" }), "https://127.0.0.1:6443 refused the connection (ECONNREFUSED)", "is the cluster running?"],
    [errorWith({ code: "DEPTH_ZERO_SELF_SIGNED_CERT" }, "self-signed certificate"), "TLS with https://127.0.0.1:6443 failed (DEPTH_ZERO_SELF_SIGNED_CERT): self-signed certificate", "certificate-authority"],
    [errorWith({ statusCode: 401 }), "https://127.0.0.1:6443 rejected the credentials (401 Unauthorized)", "log in again"],
    [errorWith({ name: "AbortError" }), "https://127.0.0.1:6443 did not answer within 5 s", "VPN"],
    [errorWith({ code: "ENOTFOUND" }), "cannot resolve the host of https://127.0.0.1:6443 (ENOTFOUND)", "server address"],
  ])("an unreachable API server says why (%s), and no permission is asked", async (error, detail, hint) => {
    const probe = fakeProbe({ versionError: error });
    const { code, lines } = await doctor({}, { openCluster: async () => probe });
    const line = lines.find((l) => l.includes("api server")) ?? "";
    expect(line.startsWith(`✗ api server: ${detail} (hint: `)).toBe(true);
    expect(line).toContain(hint);
    expect(probe.asked).toEqual([]);
    expect(code).toBe(1);
  });

  it("names exactly the missing verbs per command and namespace, with a kubectl auth can-i hint", async () => {
    const probe = fakeProbe({ denied: ["patch services@shop", "update deployments/scale@shop", "patch deployments@shop", "list endpointslices@pay"] });
    const { code, lines, stdout } = await doctor({ namespace: ["shop", "pay"], json: false }, { openCluster: async () => probe });
    expect(lines.filter((l) => /^. (daemon|expose): (has|cannot)/.test(l))).toEqual([
      "✓ daemon: has the 5 permissions it needs in shop",
      "✗ daemon: cannot list endpointslices in pay (hint: kubectl auth can-i list endpointslices.discovery.k8s.io -n pay)",
      "✗ expose: cannot patch services, patch deployments, update deployments/scale in shop (hint: kubectl auth can-i patch services -n shop (and 2 more))",
      "✓ expose: has the 18 permissions it needs in pay",
    ]);
    expect(stdout).not.toContain("all namespaces");
    expect(new Set(probe.asked.map((key) => key.split("@")[1]))).toEqual(new Set(["shop", "pay"]));
    expect(code).toBe(1);
  });

  it("--json lists the missing permissions of a failed RBAC check", async () => {
    const probe = fakeProbe({ denied: ["create pods/portforward@", "delete secrets@"] });
    const { stdout } = await doctor({ json: true }, { openCluster: async () => probe });
    const report = JSON.parse(stdout) as { ok: boolean; checks: { name: string; ok: unknown; missing?: string[] }[] };
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => c.missing)).toEqual([
      expect.objectContaining({ name: "daemon", ok: false, missing: ["create pods/portforward"] }),
      expect.objectContaining({ name: "expose", ok: false, missing: ["create pods/portforward", "delete secrets"] }),
    ]);
  });

  it("a missing optional permission (get namespaces) only warns and the exit code stays 0", async () => {
    const probe = fakeProbe({ denied: ["get namespaces@shop"] });
    const { code, lines } = await doctor({ namespace: ["shop"] }, { openCluster: async () => probe });
    expect(lines).toContain("! expose: cannot get namespaces in shop (optional: loc works without it) (hint: kubectl auth can-i get namespaces -n shop)");
    expect(code).toBe(0);
  });

  it("a subresource goes to --subresource in the hint (pods/portforward would name a pod), all namespaces is -A", () => {
    expect(canIHint({ verb: "create", resource: "pods", group: "", subresource: "portforward" }, "")).toBe("kubectl auth can-i create pods --subresource=portforward -A");
    expect(canIHint({ verb: "update", resource: "statefulsets", group: "apps", subresource: "scale" }, "shop")).toBe(
      "kubectl auth can-i update statefulsets.apps --subresource=scale -n shop",
    );
  });

  it("refuses a namespace that is not a name before asking anything", async () => {
    await expect(doctor({ namespace: ["Shop!"] })).rejects.toThrow(/not a namespace name/);
  });
});

describe("loc doctor: the local checks", () => {
  it("a hosts file this user cannot write is a warning (the daemon's helper writes it), not a failure", async () => {
    const system = fakeSystem({ canWrite: () => Promise.reject(errorWith({ code: "EACCES" })) });
    const { code, lines } = await doctor({}, { system });
    expect(lines).toContain("! hosts file: /etc/hosts is not writable by me (hint: needs root: sudo loc daemon writes it through its helper)");
    expect(code).toBe(0);
  });

  it("a hosts file root cannot write, or one that does not exist, fails", async () => {
    const asRoot = fakeSystem({ uid: 0, canWrite: () => Promise.reject(errorWith({ code: "EROFS" })), files: { [STATE]: { uid: 0, mode: 0o700 }, [`${STATE}/events.db`]: { uid: 0, mode: 0o600 } } });
    expect((await doctor({}, { system: asRoot })).lines).toContain("✗ hosts file: /etc/hosts is on a read-only file system (hint: pass a writable file with --hosts-file)");
    const missing = fakeSystem({ canWrite: () => Promise.reject(errorWith({ code: "ENOENT" })) });
    const result = await doctor({}, { system: missing });
    expect(result.lines).toContain("✗ hosts file: /etc/hosts does not exist (hint: pass the file loc should keep its block in with --hosts-file)");
    expect(result.code).toBe(1);
  });

  it.each([
    [{ [STATE]: { uid: 1001, mode: 0o700 } }, `✗ state dir: ${STATE} belongs to bob, not me (hint: loc run as bob made it; take it back with: sudo chown -R me ${STATE})`],
    [{ [STATE]: { uid: 1000, mode: 0o755 } }, `✗ state dir: ${STATE} has mode 0755, not 0700 (hint: chmod 700 ${STATE})`],
    [{ [`${STATE}/events.db`]: { uid: 1000, mode: 0o644 } }, `✗ state dir: ${STATE}/events.db has mode 0644, not 0600 (hint: chmod 600 ${STATE}/events.db)`],
    [{ [`${STATE}/events.db`]: { uid: 0, mode: 0o600 } }, `✗ state dir: ${STATE}/events.db belongs to root, not me (hint: loc run as root made it; take it back with: sudo chown -R me ${STATE}/events.db)`],
  ])("a state dir or log of another owner or with loose modes fails: %j", async (files, line) => {
    const { code, lines } = await doctor({}, { system: fakeSystem({ files }) });
    expect(lines).toContain(line);
    expect(code).toBe(1);
  });

  it("a state dir that does not exist yet passes: loc creates it", async () => {
    const system = fakeSystem({ files: { [STATE]: undefined, [`${STATE}/events.db`]: undefined, [`${STATE}/daemon.sock`]: undefined } });
    const { lines } = await doctor({}, { system });
    expect(lines).toContain(`✓ state dir: ${STATE} does not exist yet (loc creates it, mode 0700, on first use)`);
  });

  it("with the daemon down it says so: no socket, or a stale one", async () => {
    const noSocket = fakeSystem({ files: { [`${STATE}/daemon.sock`]: undefined } });
    const down = await doctor({}, { system: noSocket });
    expect(down.lines).toContain(`✗ socket: no loc daemon is running (no socket at ${STATE}/daemon.sock) (hint: start one: sudo loc daemon)`);
    expect(down.code).toBe(1);
    const stale = fakeSystem({ daemonStatus: () => Promise.reject(new LocError("no loc daemon is running", "x", "DAEMON_NOT_RUNNING")) });
    expect((await doctor({}, { system: stale })).lines).toContain(
      `✗ socket: no loc daemon is running (a stale socket of me at ${STATE}/daemon.sock) (hint: start one: sudo loc daemon)`,
    );
  });

  it("a daemon of another user is named", async () => {
    const system = fakeSystem({
      files: { [`${STATE}/daemon.sock`]: { uid: 1001, mode: 0o600 } },
      daemonStatus: () => Promise.reject(new LocError("no permission", "x", "DAEMON_PERMISSION")),
    });
    const { lines } = await doctor({}, { system });
    expect(lines).toContain(`✗ socket: the daemon's socket ${STATE}/daemon.sock belongs to bob, and me may not talk to it (hint: run loc as bob, or start your own: sudo loc daemon)`);
    const readable = fakeSystem({ files: { [`${STATE}/daemon.sock`]: { uid: 1001, mode: 0o600 } } });
    expect((await doctor({}, { system: readable })).stdout).toContain("✓ socket: daemon running as bob (pid 4242");
  });

  it("asks a real daemon socket for its status", async () => {
    const stateDir = tempDir();
    const core: DaemonCore = { status: () => ({ ...RUNNING, pid: 777 }), onChange: () => () => undefined };
    const server = await serveDaemon(core, stateDir);
    try {
      let out = "";
      const io = { stdout: (t: string) => void (out += t), stderr: () => undefined, env: {}, signal: new AbortController().signal };
      await doctorCommand({ stateDir }, io, { openCluster: async () => fakeProbe(), system: nodeSystem });
      expect(out).toMatch(/✓ socket: daemon running as \S+ \(pid 777, since/);
      expect(out).toMatch(/✓ state dir: .* \(owner \S+, mode 0700\)/);
    } finally {
      await server.close();
    }
  });

  it.each([
    "lscr.io/linuxserver/openssh-server:latest",
    "alpine",
    "localhost:5000/team/sshd:1.2.3",
    `ghcr.io/me/sshd@sha256:${"a".repeat(64)}`,
    `registry.example.com/sshd:v1@sha256:${"0".repeat(64)}`,
  ])("accepts the image reference %s", (reference) => {
    expect(checkImage(reference, false)).toEqual({ name: "proxy image", ok: true, detail: reference });
  });

  it.each(["Bad Image", "web/UPPER", "sshd:", "sshd@sha256:abc", "-leading/dash", ""])("refuses the image reference %j", async (reference) => {
    const { code, lines } = await doctor({ image: reference });
    expect(lines).toContain(`✗ proxy image: "${reference}" is not an image reference (hint: use [registry/]repository[:tag][@sha256:digest], e.g. lscr.io/linuxserver/openssh-server:latest)`);
    expect(code).toBe(1);
  });

  it("looks a uid up in passwd text", () => {
    const passwd = "root:x:0:0:root:/root:/bin/bash\ndev:x:1000:1000::/home/dev:/bin/sh\n";
    expect(userNameFrom(passwd, 1000)).toBe("dev");
    expect(userNameFrom(passwd, 4242)).toBe("uid 4242");
  });
});
