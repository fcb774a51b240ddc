// `loc daemon` against the real cluster: 20 Services over 3 namespaces reachable by every name loc
// writes, healing when the serving pod goes, isolating a reset connection, and surviving an API
// server restart without being restarted itself. Once per forward transport: spdy (the default, one
// shared session per pod) and websocket (one upgrade per connection).
import { readFileSync } from "node:fs";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, createDeployment, createService, NotYet, restartApiServer, waitFor, type Kube } from "../../../cluster/helpers.js";
import { FORWARD_TRANSPORTS } from "../../../../src/transports/forward-names.js";
import { ask } from "../../../helpers/ask.js";
import { locEntries, startDaemonProcess, USER_HOSTS, type DaemonProcess } from "../../fixtures/daemon-process.js";
import { createTwentyServices, type PortExpectation, type TwentyServices } from "../../fixtures/twenty-services.js";

/** What a hosts name must reach, by parsing it back to service (or pod) and namespace. */
function expectationFor(name: string, world: TwentyServices): PortExpectation[] | undefined {
  const base = name.replace(/\.svc\.cluster\.local$/, "").replace(/\.svc$/, "");
  const parts = base.split(".");
  if (parts.length === 3) return world.pods.get(base);
  if (parts.length === 2) return world.services.get(`${parts[1]}/${parts[0]}`);
  // A short name belongs to the first listed namespace that has the service.
  const ns = world.namespaces.find((n) => world.services.has(`${n}/${base}`));
  return ns ? world.services.get(`${ns}/${base}`) : undefined;
}

describe.each(FORWARD_TRANSPORTS)("loc daemon on a real cluster, --transport %s", (transport) => {
  const multiplexed = transport === "spdy";
  let kube: Kube;
  let world: TwentyServices;
  let daemon: DaemonProcess;

  beforeAll(async () => {
    kube = connect(inject("kubeconfig"));
    world = await createTwentyServices(kube);
    const scope = world.namespaces.flatMap((ns) => ["-n", ns]);
    daemon = await startDaemonProcess([...scope, "--ip-range", "127.42.0.0/24", "--transport", transport], inject("kubeconfig"));
    await waitFor(
      "22 tunnels forwarding",
      async () => {
        const status = await daemon.list();
        const notYet = status.tunnels.filter((t) => t.state !== "forwarding").map((t) => `${t.key}: ${t.state} ${t.reason}`);
        if (status.tunnels.length === 22 && notYet.length === 0) return status;
        throw new NotYet(`${status.tunnels.length} tunnels; not forwarding: ${notYet.join("; ")}`);
      },
      { timeoutMs: 60_000 },
    );
  }, 300_000);

  afterAll(async () => {
    if (daemon) await daemon.stop();
    await world?.cleanup();
  });

  it("answers on every name it wrote, each at the right backend", async () => {
    const entries = locEntries(daemon.hostsFile);
    const names = [...entries.values()].flat();
    expect(names.length).toBeGreaterThanOrEqual(20 * 3 + 2 * 3);
    const [a, b, c] = world.namespaces;
    expect(names).toContain(`web0`);
    expect(names).toContain(`web0.${c}.svc.cluster.local`);
    expect(names).toContain(`db-1.db.${b}.svc.cluster.local`);
    expect(names).toContain(`manual.${b}`);
    expect(names.filter((n) => n.startsWith("ext."))).toEqual([]);
    expect(readFileSync(daemon.hostsFile, "latin1").startsWith(USER_HOSTS)).toBe(true);

    let checked = 0;
    for (const [ip, hostNames] of entries) {
      for (const name of hostNames) {
        const expected = expectationFor(name, world);
        expect(expected, `nothing expected for ${name}`).toBeDefined();
        for (const { port, tags } of expected ?? []) {
          const reply = await ask(ip, port, `hello ${name}`);
          expect(tags.map((tag) => `${tag}|hello ${name}`), `${name} (${ip}:${port}) answered ${reply}`).toContain(reply);
          checked += 1;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(70);
    const status = await daemon.list();
    expect(status.skipped).toEqual([{ namespace: c, name: "ext", reason: expect.stringMatching(/^ExternalName/) }]);
    expect(status.tunnels.find((t) => t.key === `${a}/multi`)?.ports).toEqual(["80->8301/tcp", "9090->8302/tcp"]);
    expect(status.tunnels.find((t) => t.key === `${a}/named`)?.ports).toEqual(["8080->8200/tcp"]);
    expect(status.transport).toBe(transport);
    // Every tunnel was just used: with spdy each pod's shared session is up; websocket keeps none.
    const sessions = new Set(status.tunnels.map((t) => t.session));
    expect([...sessions]).toEqual(multiplexed ? ["up"] : [undefined]);
    // One session per pod, not per connection: over 70 connections, one live session per pod. A
    // pod's probe-only session may have closed idle before the first connection (then one more).
    const opened = await daemon.history(["--type", "session.opened"]);
    const idle = await daemon.history(["--type", "session.closed"]);
    const pods = new Set(status.tunnels.map((t) => `${t.namespace}/${t.pod}`));
    if (!multiplexed) expect(opened).toEqual([]);
    for (const pod of multiplexed ? pods : []) {
      const count = (events: typeof opened) => events.filter((e) => e.data.pod === pod).length;
      expect(count(opened) - count(idle), `sessions of ${pod} opened minus closed idle`).toBe(1);
    }
    if (multiplexed) expect(new Set(opened.map((e) => e.data.pod))).toEqual(pods);
  });

  it("serves from another pod within 5 s of the serving pod's deletion, visible in history", async () => {
    const [a] = world.namespaces;
    const key = `${a}/web0`;
    const before = (await daemon.list()).tunnels.find((t) => t.key === key);
    expect(before?.state).toBe("forwarding");
    const deletedAt = Date.now();
    await kube.core.deleteNamespacedPod({ namespace: a, name: before?.pod ?? "", gracePeriodSeconds: 0 });
    const after = await waitFor(
      "web0 forwarding from another pod",
      async () => {
        const tunnel = (await daemon.list()).tunnels.find((t) => t.key === key);
        return tunnel?.state === "forwarding" && tunnel.pod !== before?.pod ? tunnel : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    const healedMs = Date.now() - deletedAt;
    expect(healedMs).toBeLessThan(5_000);
    expect(await ask(after.ip, 80, "after move")).toBe(`${key}|after move`);
    const story = await daemon.history(["--service", key, "--type", "tunnel.*"]);
    expect(story.map((e) => `${e.type} ${String(e.data.pod ?? "")}`.trim())).toEqual(
      expect.arrayContaining([`tunnel.forwarding ${before?.pod}`, `tunnel.connecting ${after.pod}`, `tunnel.forwarding ${after.pod}`]),
    );
    if (multiplexed) {
      const sessions = await daemon.history(["--stream", `session:${a}/${after.pod}`]);
      expect(sessions.map((e) => e.type)).toContain("session.opened");
      expect((await daemon.list()).tunnels.find((t) => t.key === key)?.session).toBe("up");
    }
    console.info(`[daemon e2e] healed ${key} in ${healedMs} ms`);
  });

  it("a reset on one connection leaves the tunnel and the other connections working", async () => {
    const [, b] = world.namespaces;
    const tunnel = (await daemon.list()).tunnels.find((t) => t.key === `${b}/api1`);
    const ip = tunnel?.ip ?? "";
    const open = () =>
      new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect({ host: ip, port: 80 }, () => resolve(socket));
        socket.once("error", reject);
      });
    const roundTrip = (socket: net.Socket, text: string) =>
      new Promise<string>((resolve) => {
        socket.once("data", (data) => resolve(data.toString()));
        socket.write(text);
      });
    const [victim, bystander, resetter] = [await open(), await open(), await open()];
    expect(await roundTrip(bystander, "one")).toBe(`${b}/api1|one`);
    // The pod side resets one connection. kwok's kubelet stand-in only notices on the next write
    // (its tunnel waits for both copy directions, where containerd's returns on the first), so
    // the victim writes once more; then its connection, and only it, must close.
    const victimClosed = new Promise((resolve) => victim.once("close", resolve));
    victim.on("error", () => undefined);
    victim.write("RESET");
    setTimeout(() => victim.writable && victim.write("anyone there?"), 300);
    await victimClosed;
    // The laptop side resets another one.
    expect(await roundTrip(resetter, "three")).toBe(`${b}/api1|three`);
    resetter.resetAndDestroy();
    expect(await roundTrip(bystander, "two")).toBe(`${b}/api1|two`);
    expect(await ask(ip, 80, "fresh")).toBe(`${b}/api1|fresh`);
    bystander.destroy();
    expect((await daemon.list()).tunnels.find((t) => t.key === `${b}/api1`)?.state).toBe("forwarding");
  });

  it("recovers from a kube-apiserver restart without being restarted", async () => {
    const [a, , c] = world.namespaces;
    const { downMs } = await restartApiServer();
    // Existing tunnels work through the new API server process...
    const web1 = (await daemon.list()).tunnels.find((t) => t.key === `${a}/web1`);
    await waitFor("web1 answering after the restart", () => ask(web1?.ip ?? "", 80, "after restart").catch(() => undefined), { timeoutMs: 30_000 });
    // ...and the watches resumed: a Service created now gets a tunnel and names.
    const backend = world.backends.get(`${c}/svc1`);
    expect(backend).toBeDefined();
    await createDeployment(kube, c, "late", 1, { labels: { app: "late" }, ports: [{ containerPort: 8601 }] });
    await createService(kube, c, "late", { app: "late" }, [{ port: 80, targetPort: 8601 as never }]);
    const late = await waitFor(
      "a tunnel for the Service created after the restart",
      async () => (await daemon.list()).tunnels.find((t) => t.key === `${c}/late` && t.state === "forwarding"),
      { timeoutMs: 60_000 },
    );
    expect(await ask(late.ip, 80, "late")).toBe(`${c}/svc1|late`);
    if (multiplexed) {
      // The sessions through the old apiserver process were lost; the next connection replaced web1's.
      const replaced = await daemon.history(["--type", "session.replaced"]);
      expect(replaced.map((e) => e.data.pod)).toContain(`${a}/${web1?.pod}`);
      expect(replaced.every((e) => typeof e.data.lost === "string" && e.data.lost.length > 0)).toBe(true);
    }
    await waitFor("late in the hosts file", async () => ([...locEntries(daemon.hostsFile).values()].flat().includes(`late.${c}`) ? true : undefined));
    console.info(`[daemon e2e] API server was down ${downMs} ms`);
  });

  it("shuts down cleanly on SIGTERM: block removed, user lines byte-identical, stop recorded", async () => {
    const code = await daemon.stop();
    expect(code).toBe(0);
    expect(readFileSync(daemon.hostsFile, "latin1")).toBe(USER_HOSTS);
    const stops = await daemon.history(["--type", "daemon.stopped"]);
    expect(stops).toHaveLength(1);
    const tunnelsStopped = await daemon.history(["--type", "tunnel.stopped"]);
    expect(tunnelsStopped.length).toBeGreaterThanOrEqual(23);
    const closed = await daemon.history(["--type", "session.closed"]);
    if (multiplexed) expect(closed.map((e) => e.data.reason)).toContain("daemon shut down");
    else expect(closed).toEqual([]);
  });
});
