// The whole download path of the spdy transport in one process, as the daemon runs it: our own
// upgrade (raw-upgrade.ts) read with onread into slabs, the WebSocket tunnel, the SPDY session and a
// connection writing straight to a local socket (forwardTo). The far side writes DATA split at
// every odd boundary, with control frames between, and the local reader stalls now and then: the
// bytes must arrive exactly, while the slabs they were read into are read into again.
import { createHash } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import net, { type AddressInfo, type Socket } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { dialSession, SPDY_TUNNEL_PROTOCOL } from "../../../../src/transports/spdy/dial-session.js";
import { encodeFrame, FLAG_FIN } from "../../../../src/transports/spdy/frames.js";
import { SLAB_BYTES } from "../../../../src/transports/spdy/read-slabs.js";
import { SpdySession } from "../../../../src/transports/spdy/session.js";
import { localKubeConfig } from "../../../helpers/local-kubeconfig.js";

const closers: (() => void)[] = [];
afterEach(() => {
  closers.splice(0).forEach((close) => close());
  vi.restoreAllMocks();
});

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % below;
  };
}

/** An unmasked binary WebSocket frame, as a server sends. */
function serverFrame(payload: Buffer): Buffer {
  const head = payload.length < 126 ? Buffer.of(0x82, payload.length) : payload.length <= 0xffff ? Buffer.of(0x82, 126, payload.length >> 8, payload.length & 0xff) : undefined;
  if (!head) throw new Error("message too long for this test");
  return Buffer.concat([head, payload]);
}

/** What the API server's tunnel would carry for one download on streams 1 (error) and 3 (data). */
function spdyBytes(content: Buffer, next: (below: number) => number): Buffer {
  const frames: Buffer[] = [encodeFrame({ type: "data", streamId: 1, flags: FLAG_FIN, data: Buffer.alloc(0) })];
  for (let at = 0, n = 0; at < content.length; n += 1) {
    const size = next(4) === 0 ? 1 + next(300) : 16 * 1024 - next(3);
    frames.push(encodeFrame({ type: "data", streamId: 3, flags: 0, data: content.subarray(at, at + size) }));
    at += size;
    if (n % 97 === 0) frames.push(encodeFrame({ type: "ping", id: 2 * (n + 1) })); // control bytes between
  }
  frames.push(encodeFrame({ type: "data", streamId: 3, flags: FLAG_FIN, data: Buffer.alloc(0) }));
  return Buffer.concat(frames);
}

async function tunnelServer(wire: Buffer, next: (below: number) => number) {
  const server = http.createServer();
  const sockets: Socket[] = [];
  server.on("upgrade", (request: http.IncomingMessage, socket: Socket) => {
    sockets.push(socket);
    const accept = createHash("sha1").update(`${String(request.headers["sec-websocket-key"])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${SPDY_TUNNEL_PROTOCOL}\r\n\r\n`);
    // Once the client's SYN_STREAMs are in: messages of any size, written in pieces of any size.
    socket.once("data", async () => {
      for (let at = 0; at < wire.length; ) {
        const size = 1 + next(24 * 1024);
        const message = serverFrame(wire.subarray(at, at + size));
        at += size;
        for (let cut = 0; cut < message.length; ) {
          const piece = 1 + next(9000);
          if (!socket.write(message.subarray(cut, cut + piece))) await once(socket, "drain");
          cut += piece;
        }
      }
    });
    socket.on("error", () => undefined);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  closers.push(() => (sockets.forEach((s) => s.destroy()), server.close()));
  return localKubeConfig(server, "t");
}

/** The daemon's accepted socket and the user's program on the other end. */
async function localPair(): Promise<{ local: Socket; client: Socket }> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const accepted = once(server, "connection") as Promise<[Socket]>;
  const client = net.connect((server.address() as AddressInfo).port, "127.0.0.1");
  const [local] = await accepted;
  closers.push(() => (local.destroy(), client.destroy(), server.close()));
  return { local, client };
}

describe("the spdy download path, slabs read into again", () => {
  it("delivers 24 MB byte for byte through split messages, control frames and a stalling reader, in a fraction of the slabs", async () => {
    const next = random(14);
    const content = Buffer.alloc(24 * 1024 * 1024);
    for (let i = 0; i < content.length; i += 4) content.writeUInt32LE(Math.imul(i, 2654435761) >>> 0, i);
    const config = await tunnelServer(spdyBytes(content, next), next);
    const slabs = vi.spyOn(Buffer, "allocUnsafeSlow");
    const { socket, path } = await dialSession(config, { namespace: "ns", pod: "bulk" });
    expect(path).toBe("websocket");
    const session = new SpdySession(socket);
    closers.push(() => session.close());
    const { local, client } = await localPair();
    const connection = session.openConnection(9000);
    const forwarded = connection.forwardTo(local);
    const hash = createHash("sha256");
    let received = 0;
    client.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      received += chunk.length;
      // The user's program stops reading for a moment now and then: pieces queue at the socket.
      if (next(40) === 0) {
        client.pause();
        setTimeout(() => client.resume(), 2);
      }
    });
    await Promise.all([forwarded, once(client, "end")]);
    expect(received).toBe(content.length);
    expect(hash.digest("hex")).toBe(createHash("sha256").update(content).digest("hex"));
    // Without reuse: one new 64 KiB slab per 64 KiB read, 384 here. With it, new ones only while
    // the stalled reader holds more than the spares (29 in one run).
    const fresh = slabs.mock.calls.filter(([size]) => size === SLAB_BYTES).length;
    expect(fresh).toBeGreaterThan(0);
    expect(fresh).toBeLessThan(384 / 8);
  });
});
