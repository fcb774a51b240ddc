import { once } from "node:events";
import http from "node:http";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { PermanentConnectError } from "../../../../src/transports/connect-errors.js";
import { dialSession, SPDY_TUNNEL_PROTOCOL } from "../../../../src/transports/spdy/dial-session.js";
import { SpdySession } from "../../../../src/transports/spdy/session.js";
import { FakeSpdyServer } from "../../../helpers/fake-spdy-server.js";
import { localKubeConfig } from "../../../helpers/local-kubeconfig.js";

const closers: (() => void)[] = [];
afterEach(() => closers.splice(0).forEach((close) => close()));

interface Seen {
  method: string;
  upgrade: string;
  protocol: string;
  authorization: string;
}

/** An API server stand-in: answers the WebSocket tunnel with `webSocketStatus`, the SPDY upgrade with `upgradeStatus`. */
async function apiServer(webSocketStatus: number, upgradeStatus: number) {
  const seen: Seen[] = [];
  const server = http.createServer();
  const sockets: Socket[] = [];
  server.on("upgrade", (request: http.IncomingMessage, socket: Socket) => {
    sockets.push(socket);
    const h = request.headers;
    seen.push({ method: request.method ?? "", upgrade: h.upgrade ?? "", protocol: String(h["sec-websocket-protocol"] ?? ""), authorization: h.authorization ?? "" });
    const status = h.upgrade === "websocket" ? webSocketStatus : upgradeStatus;
    if (status !== 101) return socket.end(`HTTP/1.1 ${status} No\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno`);
    socket.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n");
    new FakeSpdyServer(socket);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  closers.push(() => (sockets.forEach((s) => s.destroy()), server.close()));
  return { config: localKubeConfig(server, "secret-token"), seen };
}

describe("opening a pod's SPDY session through the API server", () => {
  it("offers the SPDY-over-WebSocket tunnel first, then falls back to a direct SPDY/3.1 upgrade on a non-101", async () => {
    const { config, seen } = await apiServer(400, 101);
    const { socket, path } = await dialSession(config, { namespace: "ns", pod: "web-0" });
    const session = new SpdySession(socket);
    closers.push(() => session.close());
    expect(path).toBe("upgrade");
    expect(seen.map((s) => [s.method, s.upgrade])).toEqual([["GET", "websocket"], ["POST", "SPDY/3.1"]]);
    expect(seen[0]?.protocol).toBe(SPDY_TUNNEL_PROTOCOL);
    expect(seen.every((s) => s.authorization === "Bearer secret-token")).toBe(true);
    const connection = session.openConnection(8080);
    connection.on("error", () => undefined); // it is still open when the session closes after the test
    connection.write("through the fallback");
    const [echoed] = (await once(connection, "data")) as [Buffer];
    expect(echoed.toString()).toBe("through the fallback");
  });

  it("reports RBAC refusing both ways in as a permanent error, without retrying forever", async () => {
    const { config, seen } = await apiServer(403, 403);
    const error = await dialSession(config, { namespace: "ns", pod: "web-0" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentConnectError);
    expect((error as Error).message).toMatch(/HTTP 403/);
    expect(seen).toHaveLength(2);
  });

  it("can skip the WebSocket attempt", async () => {
    const { config, seen } = await apiServer(101, 101);
    const { socket, path } = await dialSession(config, { namespace: "ns", pod: "web-0" }, { only: "upgrade" });
    socket.destroy();
    expect(path).toBe("upgrade");
    expect(seen.map((s) => s.method)).toEqual(["POST"]);
  });
});
