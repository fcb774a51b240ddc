import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { PodDialError } from "../../../src/transports/dial-verdict.js";
import { KubePortForwardTransport, PORT_FORWARD_PROTOCOL, PortForwardStream } from "../../../src/transports/kube-port-forward.js";
import { localKubeConfig } from "../../helpers/local-kubeconfig.js";

const FRAME = 64 * 1024;
const FRAMES = 256;
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((cleanup) => cleanup()));

/** A kubelet-like peer speaking v4.channel.k8s.io: port prefixes first, then `FRAMES` data frames. */
async function blastingPeer(onMessage?: (data: Buffer) => void) {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  cleanups.push(() => server.close());
  await once(server, "listening");
  const sent = { frames: 0, buffered: 0 };
  server.on("connection", (peer) => {
    peer.on("message", (data: Buffer) => onMessage?.(data));
    const port = Buffer.of(0x50, 0x00);
    peer.send(Buffer.concat([Buffer.of(0), port]));
    peer.send(Buffer.concat([Buffer.of(1), port]));
    const pump = () => {
      // Send only what the socket accepts, like a well-behaved kubelet: our pausing holds it back.
      while (sent.frames < FRAMES && peer.bufferedAmount < 4 * FRAME) {
        peer.send(Buffer.concat([Buffer.of(0), Buffer.alloc(FRAME, sent.frames % 251)]));
        sent.frames += 1;
      }
      sent.buffered = peer.bufferedAmount;
      if (sent.frames < FRAMES) setTimeout(pump, 5);
    };
    pump();
  });
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, [PORT_FORWARD_PROTOCOL]);
  const stream = new PortForwardStream(client);
  await once(client, "open");
  cleanups.push(() => client.terminate());
  return { stream, sent, client };
}

describe("PortForwardStream", () => {
  it("holds a fast pod back while the local reader is slow, then delivers every byte in order", async () => {
    const { stream, sent, client } = await blastingPeer();
    // Nobody reads for a while: the stream must pause the WebSocket instead of buffering 16 MB.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(client.isPaused).toBe(true);
    expect(stream.readableLength).toBeLessThanOrEqual(stream.readableHighWaterMark + FRAME);
    expect(sent.frames).toBeLessThan(FRAMES);

    let received = 0;
    let ordered = true;
    stream.on("data", (chunk: Buffer) => {
      const frame = Math.floor(received / FRAME);
      if (chunk[0] !== frame % 251 && received % FRAME === 0) ordered = false;
      received += chunk.length;
    });
    await vi.waitFor(() => expect(received).toBe(FRAME * FRAMES), { timeout: 10_000 });
    expect(ordered).toBe(true);
  });

  it("strips the port prefix, frames writes on the data channel, and fails on the error channel", async () => {
    const got: Buffer[] = [];
    const { stream } = await blastingPeer((data) => got.push(data));
    stream.write("hello");
    await vi.waitFor(() => expect(got).toHaveLength(1));
    expect(got[0]).toEqual(Buffer.concat([Buffer.of(0), Buffer.from("hello")]));
    const failed = once(stream, "error");
    (stream as unknown as { onFrame(frame: Buffer): void }).onFrame(Buffer.concat([Buffer.of(1), Buffer.from("connection refused")]));
    const [error] = (await failed) as [Error];
    expect(error.message).toBe("port-forward: connection refused");
  });
});

describe("KubePortForwardTransport.probe", () => {
  /** An API server stand-in: port 1's dial fails (text on the error channel); others take the connection. */
  async function kubeletPeer() {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    cleanups.push(() => server.close());
    await once(server, "listening");
    server.on("connection", (peer, request) => {
      const port = Number(new URL(request.url ?? "/", "http://x").searchParams.get("ports"));
      const prefix = Buffer.of(port & 0xff, port >> 8);
      peer.send(Buffer.concat([Buffer.of(0), prefix]));
      peer.send(Buffer.concat([Buffer.of(1), prefix]));
      if (port === 1) setTimeout(() => peer.send(Buffer.concat([Buffer.of(1), Buffer.from("error forwarding port 1 to pod web-0: connection refused")])), 20);
    });
    return new KubePortForwardTransport(localKubeConfig(server));
  }

  it("waits for the kubelet's dial verdict: its error rejects, silence accepts", async () => {
    const transport = await kubeletPeer();
    const target = { namespace: "ns", pod: "web-0" };
    const refused = transport.probe({ ...target, port: 1 });
    await expect(refused).rejects.toThrow(PodDialError);
    await expect(refused).rejects.toThrow(/connection refused/);
    await expect(transport.probe({ ...target, port: 8080 })).resolves.toBeUndefined();
  });
});
