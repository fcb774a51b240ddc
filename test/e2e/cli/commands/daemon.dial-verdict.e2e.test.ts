// Ready is not listening. A pod can be Ready while its port takes no connection (kwok with no
// forward rule for it, a process that crashed before its readiness probe noticed); port-forward then
// opens fine and fails only when the kubelet dials. A real `loc daemon` must not call such a tunnel
// forwarding, must say why, and must move to a pod that answers. Once per forward transport.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  connect,
  createDeployment,
  createNamespace,
  createPodPortForward,
  createService,
  deleteNamespace,
  deletePodPortForward,
  NotYet,
  waitFor,
  waitForReadyPods,
  type Kube,
} from "../../../cluster/helpers.js";
import { FORWARD_TRANSPORTS } from "../../../../src/transports/forward-names.js";
import { ask } from "../../../helpers/ask.js";
import { finished, spawnLoc } from "../../../helpers/loc-process.js";
import { startDaemonProcess, type DaemonProcess } from "../../fixtures/daemon-process.js";
import { startTaggedBackend, type TaggedBackend } from "../../fixtures/tagged-backends.js";

const LATE_PORT = 8701;
const PAIR_PORT = 8702;

describe.each(FORWARD_TRANSPORTS.map((transport, index) => ({ transport, index })))("loc daemon, ready pods that do not listen, --transport $transport", ({ transport, index }) => {
  let kube: Kube;
  let namespace: string;
  let daemon: DaemonProcess;
  const backends = new Map<string, TaggedBackend>();
  let latePod = "";
  let pairPods: string[] = [];
  const tunnel = async (name: string) => (await daemon.list()).tunnels.find((t) => t.key === `${namespace}/${name}`);

  /** The pod's process listens: kwok forwards its port to a backend that answers `<pod>|…`. */
  const listen = async (pod: string, port: number) => {
    const backend = await startTaggedBackend(pod);
    backends.set(pod, backend);
    await createPodPortForward(kube, namespace, pod, [{ ports: [port], target: { address: "127.0.0.1", port: backend.port } }]);
  };

  beforeAll(async () => {
    kube = connect(inject("kubeconfig"));
    namespace = await createNamespace(kube, "loc-deaf");
    await createDeployment(kube, namespace, "late", 1, { labels: { app: "late" }, ports: [{ containerPort: LATE_PORT }] });
    await createService(kube, namespace, "late", { app: "late" }, [{ port: 80, targetPort: LATE_PORT }]);
    await createDeployment(kube, namespace, "pair", 2, { labels: { app: "pair" }, ports: [{ containerPort: PAIR_PORT }] });
    await createService(kube, namespace, "pair", { app: "pair" }, [{ port: 80, targetPort: PAIR_PORT }]);
    latePod = (await waitForReadyPods(kube, namespace, { app: "late" }, 1))[0]?.metadata?.name ?? "";
    pairPods = (await waitForReadyPods(kube, namespace, { app: "pair" }, 2)).map((p) => p.metadata?.name ?? "");
    for (const pod of pairPods) await listen(pod, PAIR_PORT);
    daemon = await startDaemonProcess(["-n", namespace, "--ip-range", `127.48.${index}.0/24`, "--transport", transport], inject("kubeconfig"));
  }, 120_000);

  afterAll(async () => {
    if (daemon) await daemon.stop();
    if (namespace) await deleteNamespace(kube, namespace);
    await Promise.all([...backends.values()].map((backend) => backend.close()));
  });

  it("a ready pod whose port takes no connection: backing off with kwok's reason, never forwarding, until it listens", async () => {
    const deaf = await waitFor(
      "late backing off with a reason",
      async () => {
        const t = await tunnel("late");
        if (t?.state === "backingOff" && t.reason) return t;
        throw new NotYet(`late: ${t?.state ?? "no tunnel"} ${t?.reason ?? ""}`);
      },
      { timeoutMs: 30_000 },
    );
    expect(deaf.reason).toBe(`port-forward: no forward found for port ${LATE_PORT}`);
    const before = await daemon.history(["--service", `${namespace}/late`, "--type", "tunnel.*"]);
    expect(before.map((e) => e.type)).not.toContain("tunnel.forwarding");
    // loc doctor names it, with the fix, and still exits 0 (loc works; the pod is what needs a look).
    const doctor = await finished(spawnLoc(["doctor", "--kubeconfig", inject("kubeconfig"), "--hosts-file", daemon.hostsFile, "-n", namespace], { LOC_STATE_DIR: daemon.stateDir }));
    expect(doctor.stdout).toContain(
      `! tunnels: 1 of 2 not forwarding: ${namespace}/late cannot reach a pod: port-forward: no forward found for port ${LATE_PORT} ` +
        `(hint: the Service's targetPort must be a port the pod listens on: kubectl -n ${namespace} describe service late)`,
    );
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);

    await listen(latePod, LATE_PORT);
    const healed = await waitFor(
      "late forwarding once its pod listens",
      async () => {
        const t = await tunnel("late");
        if (t?.state === "forwarding") return t;
        throw new NotYet(`late: ${t?.state ?? "no tunnel"} ${t?.reason ?? ""}`);
      },
      { timeoutMs: 60_000 },
    );
    // Forwarding now means a connection gets through, the first one included.
    expect(await ask(healed.ip, 80, "first")).toBe(`${latePod}|first`);
  });

  it("the serving pod stops listening: the failed connection moves the tunnel to the pod that answers", async () => {
    const serving = await waitFor("pair forwarding", async () => ((await tunnel("pair"))?.state === "forwarding" ? tunnel("pair") : undefined), { timeoutMs: 30_000 });
    const gone = serving?.pod ?? "";
    const other = pairPods.find((pod) => pod !== gone) ?? "";
    const ip = serving?.ip ?? "";
    expect(await ask(ip, 80, "before")).toBe(`${gone}|before`);

    await deletePodPortForward(kube, namespace, gone);
    // kwok learns of the deleted rule through its informer: until then the pod still answers.
    const failure = await waitFor(
      "a connection to the deaf pod failing",
      async () => {
        const reply = await ask(ip, 80, "probe", 5_000).then(
          (text) => ({ text }),
          (error: Error) => ({ error: error.message }),
        );
        if ("error" in reply) return reply.error;
        throw new NotYet(`still answered: ${reply.text}`);
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(failure).toBeTruthy();
    const moved = await waitFor(
      "pair forwarding from the other pod",
      async () => {
        const t = await tunnel("pair");
        if (t?.state === "forwarding" && t.pod === other) return t;
        throw new NotYet(`pair: ${t?.state ?? "no tunnel"} ${t?.pod ?? ""} ${t?.reason ?? ""}`);
      },
      { timeoutMs: 30_000 },
    );
    expect(moved.pod).toBe(other);
    expect(await ask(ip, 80, "after")).toBe(`${other}|after`);
    const story = await daemon.history(["--service", `${namespace}/pair`, "--type", "tunnel.*"]);
    const said = story.map((e) => `${e.type} ${String(e.data.pod ?? e.data.error ?? "")}`);
    expect(said).toEqual(expect.arrayContaining([`tunnel.forwarding ${gone}`, `tunnel.forwarding ${other}`]));
    expect(said.some((line) => /^tunnel\.backingOff port-forward: .*no forward found/.test(line))).toBe(true);
    // The failure is in the daemon's log too, once, with the address and the reason.
    // Short first, then kwok's whole text.
    expect(daemon.stderr()).toMatch(
      new RegExp(`loc daemon: ${namespace}/pair: a connection to ${ip.replace(/\./g, "\\.")}:80 failed: port-forward: no forward found for port ${PAIR_PORT} — the server said: port-forward: .*no forward found for port ${PAIR_PORT} in pod "${namespace}/${gone}"`),
    );
  });
});
