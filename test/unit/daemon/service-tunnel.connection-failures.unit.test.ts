import net from "node:net";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ServiceTunnel } from "../../../src/daemon/service-tunnel.js";
import { PodDialError } from "../../../src/transports/dial-verdict.js";
import type { ForwardTransport, PodTarget } from "../../../src/transports/transport.js";
import { freeLoopbackPort } from "../../cluster/sshd.js";

const tunnels: ServiceTunnel[] = [];
afterEach(async () => {
  for (const tunnel of tunnels.splice(0)) await tunnel.stop("test over");
});

/** Pods in `deaf` take the probe but refuse every connection, as a crashed process behind a Ready pod. */
function transport(deaf: Set<string>): ForwardTransport & { opened: PodTarget[] } {
  return {
    kind: "forward",
    name: "twin",
    opened: [],
    async open(target) {
      this.opened.push(target);
      if (deaf.has(target.pod)) throw new PodDialError(`port-forward: error forwarding port ${target.port} to pod ${target.pod}: connection refused`);
      return new PassThrough();
    },
    async probe() {},
  };
}

/** Connects and resolves with the first reply, or with "closed" when the tunnel hangs up. */
function ask(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(text));
    socket.once("data", (data) => (resolve(data.toString()), socket.destroy()));
    socket.once("close", () => resolve("closed"));
    socket.on("error", () => undefined);
  });
}

async function startTunnel(forward: ForwardTransport, now: () => number) {
  const port = await freeLoopbackPort();
  const log: string[] = [];
  const tunnel = new ServiceTunnel(
    { key: "shop/web", namespace: "shop", service: "web", ip: "127.0.0.1", ports: [{ name: "http", port }], names: ["web"] },
    { transport: forward, record: () => undefined, backoff: { baseMs: 5, capMs: 5, resetAfterMs: 60_000 }, now, log: (line) => log.push(line) },
  );
  tunnels.push(tunnel);
  await tunnel.start();
  tunnel.setEndpoints(["web-a", "web-b"].map((pod) => ({ pod, hostname: pod, podPorts: { http: 8080 } })));
  await vi.waitFor(() => expect(tunnel.status().state).toBe("forwarding"));
  return { tunnel, port, log };
}

describe("ServiceTunnel, connections the pod refuses", () => {
  it("moves to the next ready pod after one refused connection, and says it in the log", async () => {
    const forward = transport(new Set(["web-a"]));
    const { tunnel, port, log } = await startTunnel(forward, Date.now);
    expect(tunnel.status().pod).toBe("web-a");
    expect(await ask(port, "first")).toBe("closed");
    await vi.waitFor(() => expect(tunnel.status()).toMatchObject({ state: "forwarding", pod: "web-b" }));
    expect(await ask(port, "second")).toBe("second");
    expect(log).toEqual([`loc daemon: shop/web: a connection to 127.0.0.1:${port} failed: port-forward: error forwarding port 8080 to pod web-a: connection refused`]);
  });

  it("says the first failure, then at most one line per 30 s with how many it did not say", async () => {
    let now = 1_000_000;
    const forward = transport(new Set(["web-a", "web-b"]));
    const { port, log } = await startTunnel(forward, () => now);
    for (let i = 0; i < 5; i++) expect(await ask(port, `try ${i}`)).toBe("closed");
    expect(log).toHaveLength(1);
    now += 30_000;
    expect(await ask(port, "later")).toBe("closed");
    expect(log).toHaveLength(2);
    expect(log[1]).toMatch(/failed: port-forward: .*connection refused \(and 4 more failed since last said\)$/);
  });
});
