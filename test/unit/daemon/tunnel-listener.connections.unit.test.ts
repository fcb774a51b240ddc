import net from "node:net";
import { Duplex, PassThrough } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TunnelListener } from "../../../src/daemon/tunnel-listener.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An in-process "pod": each connect() gets an echo stream; the Nth can be made to fail. */
function echoConnector(failOn: Set<number> = new Set()) {
  let count = 0;
  const remotes: Duplex[] = [];
  const connect = async (): Promise<Duplex> => {
    count += 1;
    if (failOn.has(count)) throw new Error(`pod refused connection ${count}`);
    const echo = new PassThrough();
    remotes.push(echo);
    return echo;
  };
  return { connect, remotes };
}

async function listen(connect: () => Promise<Duplex>, onError?: (e: Error) => void) {
  const listener = new TunnelListener("127.0.0.1", 0, connect, onError);
  // Port 0 is resolved by the OS; read the real one back from the server.
  await listener.listen();
  cleanups.push(() => listener.close());
  const port = (listener as unknown as { server: net.Server }).server.address() as net.AddressInfo;
  return { listener, port: port.port };
}

function roundTrip(port: number, payload: string): Promise<{ socket: net.Socket; reply: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(payload));
    let reply = "";
    socket.on("data", (d) => {
      reply += d.toString();
      if (reply.length >= payload.length) resolve({ socket, reply });
    });
    socket.on("error", reject);
  });
}

describe("TunnelListener", () => {
  it("refuses to listen on anything but loopback", async () => {
    const listener = new TunnelListener("0.0.0.0", 0, echoConnector().connect);
    await expect(listener.listen()).rejects.toThrow(/loopback addresses only/);
  });

  it("a reset on one connection leaves the listener and the other connections working", async () => {
    const errors: Error[] = [];
    const { connect, remotes } = echoConnector(new Set([2]));
    const { listener, port } = await listen(connect, (e) => errors.push(e));
    const first = await roundTrip(port, "first");
    expect(first.reply).toBe("first");

    // Connection 2 fails to open; connection 3's pod side is destroyed mid-stream.
    const refused = net.connect(port, "127.0.0.1");
    await new Promise((resolve) => refused.on("close", resolve));
    const third = await roundTrip(port, "third");
    remotes[1]?.destroy(new Error("connection reset by peer"));
    await new Promise((resolve) => third.socket.on("close", resolve));

    first.socket.write("still alive");
    await vi.waitFor(() => expect(listener.stats.bytesOut).toBe("first".length + "third".length + "still alive".length));
    const fourth = await roundTrip(port, "fourth");
    expect(fourth.reply).toBe("fourth");
    expect(errors.map((e) => e.message)).toEqual(["pod refused connection 2", "connection reset by peer"]);
    expect(listener.stats).toMatchObject({ totalConnections: 4, failedConnections: 2, openConnections: 2 });
    first.socket.destroy();
    fourth.socket.resetAndDestroy();
    await vi.waitFor(() => expect(listener.stats.openConnections).toBe(0));
    // Clients that hang up or reset once they have their answer are not failures of the tunnel.
    expect(listener.stats.failedConnections).toBe(2);
    expect(errors).toHaveLength(2);
  });
});
