import type { KubeConfig } from "@kubernetes/client-node";
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { refusal } from "../kube-port-forward.js";
import { rawUpgrade, type RawUpgradeAnswer } from "./raw-upgrade.js";
import { WebSocketByteStream, webSocketHandshake } from "./websocket-pipe.js";

/** KEP-4006: the API server tunnels the kubelet's SPDY session through a WebSocket with this subprotocol. */
export const SPDY_TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io";
const PORT_FORWARD_PROTOCOL = "portforward.k8s.io";
const HANDSHAKE_TIMEOUT_MS = 10_000;

export type SessionPath = "websocket" | "upgrade";

export interface DialedSession {
  socket: Duplex;
  path: SessionPath;
}

export interface DialOptions {
  signal?: AbortSignal;
  /** Skip the WebSocket attempt (an API server or proxy known to refuse it). */
  only?: SessionPath;
}

/**
 * The byte pipe of one pod's SPDY session, the way kubectl >= 1.31 opens it: SPDY tunnelled over a
 * WebSocket first, and a direct `SPDY/3.1` upgrade when the API server answers that with anything
 * but 101 (older servers, the PortForwardWebsockets gate off, proxies that strip the subprotocol).
 */
export async function dialSession(config: KubeConfig, target: { namespace: string; pod: string }, options: DialOptions = {}): Promise<DialedSession> {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  const path = `/api/v1/namespaces/${encodeURIComponent(target.namespace)}/pods/${encodeURIComponent(target.pod)}/portforward`;
  const url = `${cluster.server.replace(/\/$/, "")}${path}`;
  const what = `port-forward session to ${target.namespace}/${target.pod}`;
  if (options.only !== "upgrade") {
    const answer = await dialWebSocket(config, url, what, options.signal);
    if ("socket" in answer) return { socket: answer.socket, path: "websocket" };
    if (options.only === "websocket") throw refusal(`${what} refused`, answer.status);
  }
  return { socket: await dialUpgrade(config, url, what, options.signal), path: "upgrade" };
}

async function dialWebSocket(config: KubeConfig, url: string, what: string, signal?: AbortSignal): Promise<{ socket: Duplex } | { status: number }> {
  const handshake = webSocketHandshake(SPDY_TUNNEL_PROTOCOL);
  // Through a proxy the kubeconfig's agent has to make the connection: Node's client, stream reads.
  if (!config.getCurrentCluster()?.proxyUrl) return dialWebSocketRaw(config, url, what, handshake, signal);
  const request = await upgradeRequest(config, url, "GET", handshake.headers, signal);
  return new Promise((resolve, reject) => {
    request.once("upgrade", (response, socket: Socket, head: Buffer) => {
      const protocol = response.headers["sec-websocket-protocol"];
      if (response.headers["sec-websocket-accept"] !== handshake.accept || protocol !== SPDY_TUNNEL_PROTOCOL) {
        socket.destroy();
        return resolve({ status: 101 }); // Upgraded, but not to our tunnel: let the direct upgrade try.
      }
      prepare(socket);
      resolve({ socket: new WebSocketByteStream(socket, head) });
    });
    request.once("response", (response) => {
      response.resume();
      resolve({ status: response.statusCode ?? 0 });
    });
    watch(request, what, reject);
  });
}

/** The same over a connection of our own, read with `onread` (ADR 0014). */
async function dialWebSocketRaw(config: KubeConfig, url: string, what: string, handshake: { headers: Record<string, string>; accept: string }, signal?: AbortSignal): Promise<{ socket: Duplex } | { status: number }> {
  const options: https.RequestOptions = { headers: {}, signal };
  await config.applyToHTTPSOptions(options);
  let answer: RawUpgradeAnswer;
  try {
    answer = await rawUpgrade(new URL(url), "GET", handshake.headers, options, HANDSHAKE_TIMEOUT_MS);
  } catch (error) {
    throw new Error(`${what}: ${(error as Error).message}`);
  }
  if (answer.status !== 101) return { status: answer.status };
  if (answer.headers["sec-websocket-accept"] !== handshake.accept || answer.headers["sec-websocket-protocol"] !== SPDY_TUNNEL_PROTOCOL) {
    answer.socket.destroy();
    return { status: 101 }; // Upgraded, but not to our tunnel: let the direct upgrade try.
  }
  prepare(answer.socket);
  return { socket: new WebSocketByteStream(answer.socket, Buffer.alloc(0), answer) };
}

async function dialUpgrade(config: KubeConfig, url: string, what: string, signal?: AbortSignal): Promise<Duplex> {
  const headers = { Connection: "Upgrade", Upgrade: "SPDY/3.1", "X-Stream-Protocol-Version": PORT_FORWARD_PROTOCOL };
  const request = await upgradeRequest(config, url, "POST", headers, signal);
  return new Promise((resolve, reject) => {
    request.once("upgrade", (response, socket: Socket, head: Buffer) => {
      if (response.headers["x-stream-protocol-version"] !== PORT_FORWARD_PROTOCOL) {
        socket.destroy();
        return reject(new Error(`${what}: the server did not agree on ${PORT_FORWARD_PROTOCOL}`));
      }
      prepare(socket);
      if (head.length) socket.unshift(head);
      resolve(socket);
    });
    request.once("response", (response) => {
      response.resume();
      reject(refusal(`${what} refused`, response.statusCode ?? 0));
    });
    watch(request, what, reject);
  });
}

async function upgradeRequest(config: KubeConfig, url: string, method: string, headers: Record<string, string>, signal?: AbortSignal): Promise<http.ClientRequest> {
  const options: https.RequestOptions = { method, headers: { ...headers }, timeout: HANDSHAKE_TIMEOUT_MS, signal };
  await config.applyToHTTPSOptions(options); // credentials, CA, and `auth` (basic), which request() sends itself
  const request = (url.startsWith("https:") ? https : http).request(url, options);
  request.end();
  return request;
}

function watch(request: http.ClientRequest, what: string, reject: (error: Error) => void): void {
  request.once("timeout", () => request.destroy(new Error(`no answer in ${HANDSHAKE_TIMEOUT_MS} ms`)));
  request.once("error", (error) => reject(new Error(`${what}: ${error.message}`)));
}

function prepare(socket: Socket): void {
  socket.setNoDelay(true); // small frames (SYN_STREAMs, first bytes) must not wait for Nagle
  socket.setTimeout(0);
}
