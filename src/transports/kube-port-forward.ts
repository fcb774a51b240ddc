import type { KubeConfig } from "@kubernetes/client-node";
import { Duplex } from "node:stream";
import WebSocket from "ws";
import { PermanentConnectError } from "./connect-errors.js";
import { awaitDialVerdict, serverReportedError } from "./dial-verdict.js";
import type { ForwardTransport, PodTarget } from "./transport.js";

/** Port-forward's legacy WebSocket subprotocol: the API server proxies it to the kubelet unchanged. */
export const PORT_FORWARD_PROTOCOL = "v4.channel.k8s.io";
const DATA_CHANNEL = 0;
const ERROR_CHANNEL = 1;
const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * One pod connection over one WebSocket. Writes resolve only once `ws` has handed the frame to the
 * socket, and reads pause the WebSocket while the consumer is full: a slow reader on either side
 * holds the other back instead of growing buffers.
 */
export class PortForwardStream extends Duplex {
  // The server prefixes the first frame of each channel with the port (uint16 LE); strip it once.
  private readonly portPrefixPending = [true, true];

  constructor(private readonly ws: WebSocket) {
    super({ allowHalfOpen: false });
    ws.on("message", (data: Buffer, isBinary: boolean) => this.onFrame(isBinary ? data : Buffer.from(data)));
    ws.on("close", () => this.push(null));
    ws.on("error", (error) => this.destroy(error));
  }

  private onFrame(frame: Buffer): void {
    const channel = frame[0];
    if (channel !== DATA_CHANNEL && channel !== ERROR_CHANNEL) return;
    let payload = frame.subarray(1);
    if (this.portPrefixPending[channel]) {
      this.portPrefixPending[channel] = false;
      payload = payload.subarray(2);
    }
    if (payload.length === 0) return;
    if (channel === ERROR_CHANNEL) {
      this.destroy(serverReportedError(payload.toString("utf8").trim()));
    } else if (!this.push(payload)) {
      this.ws.pause();
    }
  }

  override _read(): void {
    if (this.ws.isPaused) this.ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) return callback(new Error("port-forward connection closed"));
    this.ws.send(Buffer.concat([Buffer.of(DATA_CHANNEL), chunk]), { binary: true }, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    // v4 has no half-close: the local side finishing ends the pod connection too.
    this.ws.close(1000);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.terminate();
    callback(error);
  }
}

/** Port-forward through the API server over WebSocket, one WebSocket per connection. */
export class KubePortForwardTransport implements ForwardTransport {
  readonly kind = "forward";
  readonly name = "websocket";

  constructor(private readonly config: KubeConfig) {}

  async open(target: PodTarget, signal?: AbortSignal): Promise<Duplex> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    const base = cluster.server.replace(/^http/, "ws").replace(/\/$/, "");
    const path = `/api/v1/namespaces/${encodeURIComponent(target.namespace)}/pods/${encodeURIComponent(target.pod)}/portforward`;
    const options: WebSocket.ClientOptions & Record<string, unknown> = { handshakeTimeout: HANDSHAKE_TIMEOUT_MS };
    await this.config.applyToHTTPSOptions(options);
    const ws = new WebSocket(`${base}${path}?ports=${target.port}`, [PORT_FORWARD_PROTOCOL], options);
    // Attach the stream before the handshake completes: the port prefixes can arrive in the same
    // packet as the upgrade response, and a frame with no listener yet would be lost.
    const stream = new PortForwardStream(ws);
    try {
      await new Promise<void>((resolve, reject) => {
        const abort = () => reject(new Error("port-forward aborted"));
        signal?.addEventListener("abort", abort, { once: true });
        const settle = () => signal?.removeEventListener("abort", abort);
        ws.once("open", () => (settle(), resolve()));
        ws.once("unexpected-response", (_request, response) => {
          settle();
          reject(refusal(`port-forward to ${target.namespace}/${target.pod}:${target.port} refused`, response.statusCode ?? 0));
        });
        stream.once("error", (error) => (settle(), reject(error)));
      });
    } catch (error) {
      stream.destroy();
      throw error;
    }
    return stream;
  }

  async probe(target: PodTarget, signal?: AbortSignal): Promise<void> {
    await awaitDialVerdict(await this.open(target, signal), { halfClose: false, signal });
  }
}

/**
 * The API server's answer to the upgrade. 401/403 are the credentials or RBAC saying no, and say it
 * again on every retry; 404 (the pod not known yet, or being replaced) and 5xx heal by themselves.
 */
export function refusal(what: string, status: number): Error {
  const message = `${what}: HTTP ${status}`;
  if (status === 401) return new PermanentConnectError(message, "the kubeconfig's credentials were not accepted; log in to the cluster again", "PORT_FORWARD_UNAUTHORIZED", "forbidden");
  if (status === 403) return new PermanentConnectError(message, "your user may not create pods/portforward in this namespace; ask for that RBAC permission", "PORT_FORWARD_FORBIDDEN", "forbidden");
  return Object.assign(new Error(message), { status });
}
