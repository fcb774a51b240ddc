// The real node's life cycle (ADR 0012): it joins the test cluster as a Ready node that only
// opted-in pods land on, `cluster.sh status` reports it, and `real-node down` leaves nothing on
// this machine: no processes, iptables chains, bridge, network namespaces, mounts or cgroups, and
// ip_forward as it was. Checked here from /proc and /sys, and by the script's own check-clean.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, type Kube } from "../../cluster/helpers.js";
import { ensureRealNode, realNode } from "../fixtures/real-node.js";

const cacheRoot = process.env.LOC_CLUSTER_CACHE ?? `${process.env.XDG_CACHE_HOME ?? `${process.env.HOME ?? ""}/.cache`}/loc-test-cluster`;
const NODE_PROGRAMS = new Set(["kubelet", "kube-proxy", "containerd", "containerd-shim", "containerd-shim-runc-v2", "pause"]);

/** A process killed but not yet reaped by its adoptive parent holds nothing but its pid. */
function isZombie(stat: string): boolean {
  return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
}

/** What `down` must leave behind, seen without root: processes, bridge, netns, mounts, cgroups, ip_forward. */
function leftovers(): string[] {
  const left: string[] = [];
  for (const pid of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    let comm = "";
    let cmdline = "";
    try {
      // Orphans go to PID 1, which in a CI sandbox may reap late (CI saw a killed kubelet and three
      // shims as zombies right after down); the script's check-clean skips them the same way.
      if (isZombie(readFileSync(`/proc/${pid}/stat`, "utf8"))) continue;
      comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      continue; // gone meanwhile
    }
    if (NODE_PROGRAMS.has(comm) && cmdline.includes(`${cacheRoot}/`)) left.push(`process ${pid} ${comm}`);
    if (comm.startsWith("containerd-shim") || comm === "kubelet" || comm === "kube-proxy") left.push(`process ${pid} ${comm}`);
  }
  if (existsSync("/sys/class/net/loc-cni0")) left.push("bridge loc-cni0");
  for (const mount of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const point = mount.split(" ")[4] ?? "";
    if (point.startsWith(`${cacheRoot}/real-node/`) || point.startsWith("/run/netns/cni-")) left.push(`mount ${point}`);
  }
  for (const hierarchy of readdirSync("/sys/fs/cgroup")) {
    if (existsSync(`/sys/fs/cgroup/${hierarchy}/loc-real-node`)) left.push(`cgroup ${hierarchy}/loc-real-node`);
  }
  const baseline = readFileSync(`${cacheRoot}/real-node/sysctl.baseline`, "utf8");
  const forwardWas = /^net\.ipv4\.ip_forward (\d)$/m.exec(baseline)?.[1];
  const forwardNow = readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim();
  if (forwardWas !== forwardNow) left.push(`ip_forward ${forwardNow} (was ${forwardWas})`);
  return [...new Set(left)];
}

describe("the real node's life cycle", () => {
  let kube: Kube;

  beforeAll(async () => {
    await ensureRealNode();
    kube = connect(inject("kubeconfig"));
  }, 300_000);

  // Later files reuse the node; bring it back if a test below took it down.
  afterAll(async () => {
    await ensureRealNode();
  }, 300_000);

  it("is a Ready node next to kwok's, tainted so only opted-in pods land on it, and status reports it", async () => {
    const node = await kube.core.readNode({ name: "real" });
    expect(node.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(node.metadata?.labels).toMatchObject({ type: "real" });
    expect(node.spec?.taints).toEqual([{ key: "loc.test/real-node", value: "true", effect: "NoSchedule" }]);
    expect(node.status?.nodeInfo).toMatchObject({ kubeletVersion: "v1.36.3", containerRuntimeVersion: expect.stringMatching(/^containerd:\/\//) });
    expect(node.status?.addresses).toContainEqual({ type: "InternalIP", address: "10.244.0.1" });
    expect((await kube.core.readNode({ name: "fake" })).metadata?.annotations?.["kwok.x-k8s.io/node"]).toBe("fake");
    expect(await realNode("status")).toMatch(/real node real of cluster .* is healthy/);
  });

  it("down leaves nothing behind, and up again is warm", async () => {
    const downStarted = Date.now();
    await realNode("down");
    const downMs = Date.now() - downStarted;
    expect(leftovers()).toEqual([]);
    expect(await realNode("check-clean")).toMatch(/nothing of the real node is left/);
    await expect(kube.core.readNode({ name: "real" })).rejects.toMatchObject({ code: 404 });

    const upStarted = Date.now();
    await realNode("up");
    console.info(`[real-node] down ${downMs} ms, warm up ${Date.now() - upStarted} ms`);
    expect(leftovers().some((what) => what.startsWith("bridge"))).toBe(true);
  }, 300_000);
});
