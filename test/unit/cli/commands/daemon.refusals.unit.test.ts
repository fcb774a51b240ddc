import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { acquireDaemonLock } from "../../../../src/daemon/single-instance.js";
import { loc } from "../../../helpers/run-cli.js";
import { tempDir } from "../../../helpers/temp.js";

/** A state dir, a hosts file and a kubeconfig pointing at nothing (no command here gets that far). */
function setup() {
  const dir = tempDir();
  const hostsFile = join(dir, "hosts");
  writeFileSync(hostsFile, "127.0.0.1 localhost\n");
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(
    kubeconfig,
    "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n" +
      "users: [{name: u, user: {token: t}}]\ncontexts: [{name: ctx, context: {cluster: c, user: u}}]\ncurrent-context: ctx\n",
  );
  const stateDir = join(dir, "state");
  return { dir, hostsFile, kubeconfig, stateDir, args: ["--state-dir", stateDir, "--hosts-file", hostsFile, "--kubeconfig", kubeconfig] };
}

describe("loc daemon refuses bad input with one line, a hint and a non-zero exit, changing nothing", () => {
  it.each([
    [["-n", "Bad_NS"], /"Bad_NS" is not a namespace name/],
    [["--ip-range", "10.0.0.0/8"], /--ip-range "10.0.0.0\/8" is not a loopback range \(hint: use a CIDR inside 127.0.0.0\/8/],
    [["--cluster-domain", "bad_domain"], /--cluster-domain "bad_domain" is not a domain/],
    [["--context", "nope"], /no context "nope" in the kubeconfig \(hint: contexts: ctx\)/],
    [["--transport", "port-forward"], /^loc: unknown transport "port-forward" \(hint: available: spdy, websocket\)$/m],
  ])("%j", async (extra, message) => {
    const { args, hostsFile, stateDir } = setup();
    const { code, stderr } = await loc(["daemon", ...args, ...extra]);
    expect(code).toBe(1);
    expect(stderr).toMatch(message);
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(readFileSync(hostsFile, "utf8")).toBe("127.0.0.1 localhost\n");
    expect(existsSync(stateDir)).toBe(false);
  });

  it("a label selector the API server would refuse, before anything starts", async () => {
    const { args, hostsFile, stateDir } = setup();
    const { code, stderr } = await loc(["daemon", ...args, "-l", "a in (b"]);
    expect(code).toBe(1);
    expect(stderr).toBe('loc: --selector "a in (b": expected "," or ")" after "b" at position 7 (hint: e.g. -l app=web,tier in (front,back) or -l \'!canary\' (the kubectl -l syntax))\n');
    expect(readFileSync(hostsFile, "utf8")).toBe("127.0.0.1 localhost\n");
    expect(existsSync(stateDir)).toBe(false);
  });

  it.each([
    ["an empty kubeconfig", "", /^loc: the kubeconfig .* has no contexts \(hint: /],
    ["no current context", "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: ctx, context: {cluster: c, user: u}}]\n", /^loc: the kubeconfig .* has no current context \(hint: pass --context NAME \(one of: ctx\), or run kubectl config use-context NAME\)$/],
  ])("%s: one line, never the client library's localhost:8080", async (_what, content, message) => {
    const { args, kubeconfig, stateDir } = setup();
    writeFileSync(kubeconfig, content);
    const { code, stderr } = await loc(["daemon", ...args]);
    expect(code).toBe(1);
    expect(stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(message)]);
    expect(existsSync(stateDir)).toBe(false);
  });

  it("no kubeconfig at all: names the file it looked for in $HOME", async () => {
    const { dir, hostsFile, stateDir } = setup();
    const { code, stderr } = await loc(["daemon", "--state-dir", stateDir, "--hosts-file", hostsFile], { HOME: dir });
    expect(code).toBe(1);
    expect(stderr).toBe(`loc: kubeconfig ${dir}/.kube/config does not exist (hint: pass --kubeconfig PATH, or set KUBECONFIG)\n`);
    expect(existsSync(stateDir)).toBe(false);
  });

  it("a hosts file that cannot be written is found by writing it, not by access() (root passes access on /proc)", async () => {
    const { kubeconfig, stateDir } = setup();
    const { code, stderr } = await loc(["daemon", "--state-dir", stateDir, "--kubeconfig", kubeconfig, "--hosts-file", "/proc/version"]);
    expect(code).toBe(1);
    // As root the write itself fails (EIO); as a user, opening it does (EACCES). Never "does not exist".
    expect(stderr).toMatch(process.getuid?.() === 0 ? /^loc: cannot write the hosts file \/proc\/version: EIO: i\/o error, write \(hint: / : /^loc: cannot write the hosts file \/proc\/version \(EACCES\)/);
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(existsSync(stateDir)).toBe(false);
  });

  it("a missing hosts file or kubeconfig", async () => {
    const { args, dir } = setup();
    const noHosts = await loc(["daemon", ...args, "--hosts-file", join(dir, "missing")]);
    expect([noHosts.code, noHosts.stderr]).toEqual([1, expect.stringMatching(/^loc: .*missing.*\(hint: .*\)\n$/)]);
    const noConfig = await loc(["daemon", ...args, "--kubeconfig", join(dir, "nokube")]);
    expect(noConfig.stderr).toMatch(/kubeconfig .*nokube does not exist \(hint: pass --kubeconfig PATH, or set KUBECONFIG\)/);
  });

  it("a second daemon on the same state dir, leaving the running one's hosts block alone", async () => {
    const { args, stateDir, hostsFile } = setup();
    // The running daemon's block: proving the file writable must not wipe it.
    const running = "127.0.0.1 localhost\n# BEGIN loc managed block (written by loc daemon; do not edit)\n127.1.0.1 web web.shop # loc\n# END loc managed block\n";
    writeFileSync(hostsFile, running);
    const lock = await acquireDaemonLock(stateDir);
    try {
      const { code, stderr } = await loc(["daemon", ...args]);
      expect(code).toBe(1);
      expect(stderr).toBe(`loc: a loc daemon is already running (pid ${process.pid}) (hint: stop it with kill ${process.pid}, or use it: loc list)\n`);
      expect(readFileSync(hostsFile, "utf8")).toBe(running);
    } finally {
      lock.release();
    }
  });

  it("loc list without a daemon", async () => {
    const { stateDir } = setup();
    const { code, stderr } = await loc(["list", "--state-dir", stateDir]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^loc: no loc daemon is running \(no socket at .*daemon\.sock\) \(hint: start one with: sudo loc daemon\)\n$/);
  });
});
