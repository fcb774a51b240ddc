// `loc doctor` on the real cluster: all ✓ for the admin with a daemon running, the exact missing
// verbs for an RBAC-limited ServiceAccount, and "no loc daemon is running" once the daemon is down.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, createNamespace, deleteNamespace, NotYet, waitFor, type Kube } from "../../../cluster/helpers.js";
import { createLimitedKubeconfig } from "../../../cluster/rbac.js";
import { finished, spawnLoc } from "../../../helpers/loc-process.js";
import { scratchDir } from "../../../helpers/temp.js";
import { startDaemonProcess, type DaemonProcess } from "../../fixtures/daemon-process.js";

interface Report {
  ok: boolean;
  checks: { name: string; ok: boolean | "warn"; detail: string; hint?: string; missing?: string[] }[];
}

/** Runs the real `loc doctor` process; returns its exit code, text and (with --json) report. */
async function doctor(args: string[], stateDir: string): Promise<{ code: number | null; stdout: string; report?: Report }> {
  const result = await finished(spawnLoc(["doctor", ...args], { LOC_STATE_DIR: stateDir }));
  return { code: result.code, stdout: result.stdout, report: args.includes("--json") ? (JSON.parse(result.stdout) as Report) : undefined };
}

describe("loc doctor on a real cluster", () => {
  let kube: Kube;
  let namespace: string;
  let daemon: DaemonProcess;

  beforeAll(async () => {
    kube = connect(inject("kubeconfig"));
    namespace = await createNamespace(kube, "doctor");
    daemon = await startDaemonProcess(["-n", namespace, "--ip-range", "127.43.0.0/24"], inject("kubeconfig"));
  }, 120_000);

  afterAll(async () => {
    await daemon?.stop();
    if (namespace) await deleteNamespace(kube, namespace);
  });

  it("is all ✓ for the admin with the daemon running, and exits 0", async () => {
    const { code, stdout } = await doctor(["--kubeconfig", inject("kubeconfig"), "--hosts-file", daemon.hostsFile], daemon.stateDir);
    const lines = stdout.trimEnd().split("\n");
    expect(lines.filter((line) => !line.startsWith("✓ ")), stdout).toEqual([]);
    expect(lines.map((line) => line.split(":")[0])).toEqual([
      "✓ kubeconfig", "✓ api server", "✓ daemon", "✓ expose", "✓ hosts file", "✓ state dir", "✓ socket", "✓ proxy image",
    ]);
    expect(stdout).toMatch(/✓ api server: https:\/\/\S+ answered in \d+ ms \(Kubernetes v1\.\d+/);
    expect(stdout).toContain("✓ expose: has the 18 permissions it needs in all namespaces");
    expect(stdout).toMatch(/✓ socket: daemon running as \S+ \(pid \d+, since .*\), 0 tunnels, 0 exposes/);
    expect(code).toBe(0);
  });

  it("names exactly the verbs an RBAC-limited ServiceAccount is missing, and exits 1", async () => {
    // What the daemon needs in one namespace, and only reads for expose.
    const limited = await createLimitedKubeconfig(
      kube,
      namespace,
      [
        { apiGroups: [""], resources: ["services"], verbs: ["get", "list", "watch"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
        { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] },
        { apiGroups: [""], resources: ["pods/portforward"], verbs: ["create"] },
      ],
      scratchDir("loc-doctor-rbac-"),
    );
    const args = ["--kubeconfig", limited, "--hosts-file", daemon.hostsFile, "-n", namespace, "--json"];
    // The authorizer learns of the new Role through a watch: wait until the daemon's part applies.
    const { code, report } = await waitFor(
      "the limited identity's Role to apply",
      async () => {
        const result = await doctor(args, daemon.stateDir);
        const check = result.report?.checks.find((c) => c.name === "daemon");
        if (check?.ok !== true) throw new NotYet(check?.detail ?? result.stdout);
        return result;
      },
      { timeoutMs: 30_000 },
    );
    const rbac = report?.checks.filter((c) => c.name === "daemon" || c.name === "expose");
    expect(rbac).toEqual([
      { name: "daemon", ok: true, detail: `has the 5 permissions it needs in ${namespace}` },
      {
        name: "expose",
        ok: false,
        detail:
          "cannot patch services, create/delete pods, get/create/delete secrets, get replicasets, get/patch deployments, update deployments/scale, " +
          `get/patch statefulsets, update statefulsets/scale, get namespaces in ${namespace}`,
        hint: `kubectl auth can-i patch services -n ${namespace} (and 13 more)`,
        missing: [
          "patch services", "create pods", "delete pods", "get secrets", "create secrets", "delete secrets", "get replicasets", "get deployments",
          "patch deployments", "update deployments/scale", "get statefulsets", "patch statefulsets", "update statefulsets/scale", "get namespaces",
        ],
      },
    ]);
    expect(report?.ok).toBe(false);
    expect(code).toBe(1);

    // Across all namespaces the namespaced Role grants nothing: the daemon's verbs are named too.
    const everywhere = await doctor(["--kubeconfig", limited, "--hosts-file", daemon.hostsFile], daemon.stateDir);
    expect(everywhere.stdout).toContain(
      "✗ daemon: cannot list/watch services, list/watch endpointslices, create pods/portforward in all namespaces (hint: kubectl auth can-i list services -A (and 4 more))",
    );
    expect(everywhere.code).toBe(1);
  });

  it("with the daemon down it says so, and exits 1", async () => {
    expect(await daemon.stop()).toBe(0);
    const { code, stdout } = await doctor(["--kubeconfig", inject("kubeconfig"), "--hosts-file", daemon.hostsFile], daemon.stateDir);
    expect(stdout).toContain(`✗ socket: no loc daemon is running (no socket at ${daemon.stateDir}/daemon.sock) (hint: start one: sudo loc daemon)`);
    expect(stdout).not.toContain("running as");
    // Everything else still passes: the daemon is the one thing wrong.
    expect(stdout.trimEnd().split("\n").filter((line) => !line.startsWith("✓ "))).toHaveLength(1);
    expect(code).toBe(1);
  });
});
