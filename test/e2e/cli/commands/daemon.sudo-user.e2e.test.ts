// `sudo loc daemon` typed by a real unprivileged user, on the real test cluster: the daemon drops to
// that user (only a small helper keeps root, for the hosts file), so `loc list`, `loc history` and
// `loc expose` work without sudo, the state is the user's, and the recorded owner is the user.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync, existsSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { DaemonStatus } from "../../../../src/ipc/protocol.js";
import { labelValue } from "../../../../src/expose/identity.js";
import {
  connect,
  createClusterPortForward,
  createDeployment,
  createNamespace,
  createService,
  deleteClusterPortForward,
  deleteNamespace,
  NotYet,
  waitFor,
  waitForReadyEndpoints,
  type Kube,
} from "../../../cluster/helpers.js";
import { ask } from "../../../helpers/ask.js";
import { finished } from "../../../helpers/loc-process.js";
import { locEntries, USER_HOSTS } from "../../fixtures/daemon-process.js";
import { playProxyPod, readScaled, standInArgs, startLaptopServer, httpGet } from "../../fixtures/expose-fixture.js";
import {
  childrenOf,
  createOsUser,
  execCredential,
  flattenedKubeconfig,
  installForEveryone,
  locAsUser,
  processUid,
  requireRootAndSudo,
  sudoLocAsUser,
  writeUserFile,
  type OsUser,
} from "../../fixtures/os-user.js";
import { startTaggedBackend, type TaggedBackend } from "../../fixtures/tagged-backends.js";

const RANGE = "127.44.0.0/24";
let kube: Kube;
let namespace: string;
let user: OsUser;
let install: { main: string; remove(): void };
let backend: TaggedBackend;
let hostsFile: string;

/** Runs `loc ARGS` as the user (no sudo) and returns what it printed. */
async function asUser(args: string[]) {
  return finished(locAsUser(user, install.main, args));
}

async function listAsUser(): Promise<DaemonStatus> {
  const result = await asUser(["list", "--json"]);
  if (result.code !== 0) throw new NotYet(`loc list as ${user.name}: ${result.stderr.trim()}`);
  return JSON.parse(result.stdout) as DaemonStatus;
}

/** `sudo loc daemon` as the user; resolves once `loc list` (as the user) shows `web` forwarding. */
async function startSudoDaemon(extra: string[] = []) {
  const child = sudoLocAsUser(user, install.main, ["daemon", "--hosts-file", hostsFile, "-n", namespace, "--ip-range", RANGE, ...extra]);
  const exit = finished(child);
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const stop = async () => (child.kill("SIGTERM"), await exit);
  const died = exit.then(({ code }) => Promise.reject(new Error(`sudo loc daemon exited ${code}: ${stderr}`)));
  const forwarding = waitFor(
    "web forwarding, seen by the user's loc list",
    async () => {
      const now = await listAsUser();
      const web = now.tunnels.find((t) => t.key === `${namespace}/web`);
      if (web?.state !== "forwarding") throw new NotYet(`web: ${web?.state ?? "no tunnel"}; ${stderr}`);
      return now;
    },
    { timeoutMs: 60_000 },
  );
  try {
    const status = await Promise.race([forwarding, died]);
    return { child, exit, status, stderr: () => stderr, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

beforeAll(async () => {
  requireRootAndSudo();
  kube = connect(inject("kubeconfig"));
  namespace = await createNamespace(kube, "sudo");
  backend = await startTaggedBackend("web-backend");
  await createDeployment(kube, namespace, "web", 1, { labels: { app: "web" }, ports: [{ containerPort: 8080 }] });
  await createService(kube, namespace, "web", { app: "web" }, [{ port: 80, targetPort: 8080 }]);
  await createClusterPortForward(kube, `loc-sudo-${namespace}`, { matchNamespaces: [namespace] }, [{ ports: [8080], target: { address: "127.0.0.1", port: backend.port } }]);
  await waitForReadyEndpoints(kube, namespace, "web", 1);
  user = createOsUser();
  install = installForEveryone();
  // A hosts file only root can write, in a directory only root can write.
  const dir = mkdtempSync(join(tmpdir(), "loc-sudo-hosts-"));
  chmodSync(dir, 0o755);
  hostsFile = join(dir, "hosts");
  writeFileSync(hostsFile, USER_HOSTS, { mode: 0o644 });
}, 300_000);

afterAll(async () => {
  user?.remove();
  install?.remove();
  if (hostsFile) rmSync(dirname(hostsFile), { recursive: true, force: true });
  await backend?.close();
  if (namespace) {
    await deleteClusterPortForward(kube, `loc-sudo-${namespace}`).catch(() => undefined);
    await deleteNamespace(kube, namespace);
  }
});

describe("sudo loc daemon serves the user who typed it", () => {
  it("without a kubeconfig: one line, exit 1, nothing created (never localhost:8080)", async () => {
    const result = await finished(sudoLocAsUser(user, install.main, ["daemon", "--hosts-file", hostsFile]));
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`loc: kubeconfig ${user.home}/.kube/config does not exist (hint: pass --kubeconfig PATH, or set KUBECONFIG; sudo drops $KUBECONFIG: pass --kubeconfig PATH)\n`);
    expect(existsSync(join(user.home, ".local"))).toBe(false);
    expect(readFileSync(hostsFile, "utf8")).toBe(USER_HOSTS);
  });

  it("as the user without sudo, a hosts file it cannot write: the exact sudo command", async () => {
    const result = await asUser(["daemon", "--hosts-file", hostsFile, "-n", namespace]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `loc: cannot write the hosts file ${hostsFile} (EACCES) (hint: only root can write it: sudo loc daemon --hosts-file ${hostsFile} -n ${namespace} (only a small helper keeps root), or pass --hosts-file PATH)\n`,
    );
  });

  it("runs as the user (only the helper as root); loc list, history and names work without sudo; the state is the user's", async () => {
    writeUserFile(user, ".kube/config", flattenedKubeconfig(inject("kubeconfig")));
    const daemon = await startSudoDaemon();
    try {
      // ps: the daemon is the user's process; its one child, the hosts helper, is root's.
      const { pid } = daemon.status;
      expect(processUid(pid)).toBe(user.uid);
      const children = childrenOf(pid);
      expect(children.map((c) => c.cmdline)).toEqual([expect.stringContaining("helper-main.js")]);
      expect(processUid(children[0]!.pid)).toBe(0);
      expect(daemon.stderr()).toMatch(new RegExp(`running as ${user.name} \\(uid ${user.uid}\\), hosts file through root helper pid ${children[0]!.pid}; owner ${labelValue(`${user.name}.${hostname()}`)}`));

      // A name from the block answers through its tunnel. The block is written through the helper
      // after a coalescing window, so "forwarding" in loc list can come first.
      const [ip, names] = await waitFor("web's names in the hosts block", async () => [...locEntries(hostsFile)].find(([, n]) => n.includes(`web.${namespace}`)), { timeoutMs: 10_000, intervalMs: 50 });
      expect(names).toEqual(["web", `web.${namespace}`, `web.${namespace}.svc`, `web.${namespace}.svc.cluster.local`]);
      expect(await ask(ip!, 80, "hello")).toBe("web-backend|hello");
      expect(readFileSync(hostsFile, "utf8").startsWith(USER_HOSTS)).toBe(true);

      // The state dir, database and socket are the user's, with loc's modes.
      const stateDir = join(user.home, ".local", "state", "loc");
      for (const [file, mode] of [[stateDir, 0o700], [join(stateDir, "events.db"), 0o600], [join(stateDir, "daemon.sock"), 0o600]] as const) {
        const info = statSync(file);
        expect({ file, uid: info.uid, gid: info.gid, mode: info.mode & 0o777 }).toEqual({ file, uid: user.uid, gid: user.gid, mode });
      }
      const history = await asUser(["history", "--json", "--type", "daemon.started"]);
      expect(history.code).toBe(0);
      expect(JSON.parse(history.stdout.trim().split("\n").at(-1)!)).toMatchObject({ data: { pid, hostsFile } });

      // sudo loc list still finds the user's daemon.
      const sudoList = await finished(sudoLocAsUser(user, install.main, ["list", "--json"]));
      expect(JSON.parse(sudoList.stdout)).toMatchObject({ pid });
    } finally {
      expect((await daemon.stop()).code).toBe(0);
    }
    expect(readFileSync(hostsFile, "utf8")).toBe(USER_HOSTS);
  });

  it("loc expose as the user works, and the recorded owner is that user", async () => {
    const daemon = await startSudoDaemon();
    const laptop = await startLaptopServer("hello from the user's laptop");
    try {
      const expose = locAsUser(user, install.main, ["expose", `${namespace}/web`, "--map", `${laptop.port}:8080`, "--detach", ...standInArgs()]);
      const exposed = finished(expose);
      const proxy = await playProxyPod(kube, namespace, "web", [8080]);
      try {
        const result = await exposed;
        expect(result.code, result.stderr).toBe(0);
        const owner = labelValue(`${user.name}.${hostname()}`);
        const deployment = await readScaled(kube, namespace, "Deployment", "web");
        expect(deployment.metadata?.annotations).toMatchObject({ "loc.dev/owner": owner, "loc.dev/session": proxy.session });
        const pod = await kube.core.readNamespacedPod({ namespace, name: proxy.pod });
        expect(pod.metadata?.labels?.["loc.dev/owner"]).toBe(owner);
        const status = await listAsUser();
        expect(status.exposes.map((e) => e.state)).toEqual(["active"]);
        expect(await httpGet(laptop.port, "hello from the user's laptop")).toContain("hello from the user's laptop");
        const stop = await asUser(["expose", "--stop", `${namespace}/web`]);
        expect(stop.code, stop.stderr).toBe(0);
        expect((await readScaled(kube, namespace, "Deployment", "web")).spec?.replicas).toBe(1);
        const requested = await asUser(["history", "--json", "--type", "expose.requested"]);
        expect(JSON.parse(requested.stdout.trim().split("\n").at(-1)!)).toMatchObject({ data: { owner } });
      } finally {
        await proxy.stop();
      }
    } finally {
      await laptop.stop();
      await daemon.stop();
    }
  });

  it("SIGKILL of the unprivileged daemon: the root helper removes loc's block within 2 s", async () => {
    const daemon = await startSudoDaemon();
    expect(locEntries(hostsFile).size).toBeGreaterThan(0);
    const [helper] = childrenOf(daemon.status.pid);
    const killedAt = Date.now();
    process.kill(daemon.status.pid, "SIGKILL");
    const cleanedMs = await waitFor("loc's block gone", async () => (locEntries(hostsFile).size === 0 ? Date.now() - killedAt : undefined), { timeoutMs: 5_000, intervalMs: 20 });
    expect(cleanedMs).toBeLessThan(2_000);
    expect(readFileSync(hostsFile, "utf8")).toBe(USER_HOSTS);
    await waitFor("the helper gone", async () => (existsSync(`/proc/${helper!.pid}`) ? undefined : true), { timeoutMs: 5_000 });
    await daemon.exit;
    console.info(`[sudo e2e] block removed ${cleanedMs} ms after SIGKILL of the daemon`);
  });

  it("SIGKILL of the helper: the daemon says so and exits non-zero", async () => {
    const daemon = await startSudoDaemon();
    const [helper] = childrenOf(daemon.status.pid);
    process.kill(helper!.pid, "SIGKILL");
    const result = await daemon.exit;
    expect(result.code).not.toBe(0);
    expect(daemon.stderr()).toMatch(/loc: loc's privileged hosts helper died \(killed by SIGKILL\) \(hint: restart it: sudo loc daemon/);
    // The next start (root again, through its helper) removes the block the dead helper could not.
    const next = await startSudoDaemon();
    await next.stop();
    expect(readFileSync(hostsFile, "utf8")).toBe(USER_HOSTS);
  });

  it("an exec credential plugin runs as the user, with the user's HOME", async () => {
    const record = join(user.home, "plugin-ran-as");
    const credential = writeUserFile(user, ".kube/credential.json", execCredential(inject("kubeconfig")));
    const plugin = writeUserFile(user, ".kube/plugin.sh", `#!/bin/sh\necho "$(id -u) $HOME" >> ${record}\ncat ${credential}\n`, 0o700);
    writeUserFile(user, ".kube/config", flattenedKubeconfig(inject("kubeconfig"), { command: plugin }));
    const daemon = await startSudoDaemon();
    await daemon.stop();
    const runs = readFileSync(record, "utf8").trim().split("\n");
    expect(runs.length).toBeGreaterThan(0);
    expect(new Set(runs)).toEqual(new Set([`${user.uid} ${user.home}`]));
    expect(statSync(record).uid).toBe(user.uid);
    execFileSync("rm", ["-f", record]);
  });
});
