import net from "node:net";
import { pipeline } from "node:stream/promises";
import type { Duplex } from "node:stream";
import { isLoopbackIPv4 } from "../hosts/host-entry.js";
import { canForwardTo } from "../transports/transport.js";

/** Binds a listening server on host:port for this process (e.g. through a privileged helper). */
export type PortBinder = (host: string, port: number) => Promise<net.Server>;

/** Traffic counters of one listener, read by `loc list`. */
export interface ListenerStats {
  openConnections: number;
  totalConnections: number;
  bytesIn: number;
  bytesOut: number;
  failedConnections: number;
  lastError: string | undefined;
}

/**
 * Accepts local connections on one loopback address and hands each to `connect`, which opens that
 * connection's own stream to the cluster. A failure is that connection's alone: it is counted and
 * reported, and the listener goes on accepting.
 */
export class TunnelListener {
  readonly stats: ListenerStats = {
    openConnections: 0,
    totalConnections: 0,
    bytesIn: 0,
    bytesOut: 0,
    failedConnections: 0,
    lastError: undefined,
  };
  private server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly connect: () => Promise<Duplex>,
    private readonly onConnectionError: (error: Error) => void = () => undefined,
    /** Who binds ports below 1024 when this process may not (the daemon's root helper). */
    private readonly bindPrivileged?: PortBinder,
  ) {
    this.server = net.createServer({ pauseOnConnect: true }, (socket) => void this.serve(socket));
  }

  async listen(): Promise<void> {
    if (!isLoopback(this.host)) throw new Error(`refusing to listen on ${this.host}: loopback addresses only`);
    if (this.bindPrivileged && this.port > 0 && this.port < 1024) {
      // Bound elsewhere and handed over: accepted here like any other, paused until piped.
      this.server = await this.bindPrivileged(this.host, this.port);
      // What createServer({ pauseOnConnect }) sets: net reads it for every accepted socket.
      (this.server as net.Server & { pauseOnConnect: boolean }).pauseOnConnect = true;
      this.server.on("connection", (socket: net.Socket) => void this.serve(socket));
      return;
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ host: this.host, port: this.port, exclusive: true }, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
  }

  private async serve(socket: net.Socket): Promise<void> {
    this.sockets.add(socket);
    this.stats.openConnections += 1;
    this.stats.totalConnections += 1;
    socket.setNoDelay(true);
    let remote: Duplex | undefined;
    // What failed on the cluster's side. A client closing or resetting early (most do, once they
    // have their answer) is its own business, and not a failure of the tunnel.
    let failure: Error | undefined;
    // Registered before the pipelines: the client's own reset or close is seen here first, and
    // what the pipelines then pass on to the cluster's side is not that side failing.
    let clientGone = false;
    socket.once("error", () => (clientGone = true)).once("close", () => (clientGone = true));
    try {
      const opened = await this.connect().catch((error: Error) => Promise.reject((failure = error)));
      remote = opened;
      opened.on("error", (error: NodeJS.ErrnoException) => {
        if (!clientGone && error.code !== "ERR_STREAM_PREMATURE_CLOSE") failure ??= error;
      });
      const countOut = (bytes: number) => (this.stats.bytesOut += bytes);
      socket.on("data", (chunk: Buffer) => (this.stats.bytesIn += chunk.length));
      // Both directions at once; whichever side fails or ends first tears down this pair only.
      // A transport that can write to the socket itself does (no copy joining its pieces).
      const toClient = canForwardTo(opened) ? opened.forwardTo(socket, countOut) : (opened.on("data", (chunk: Buffer) => countOut(chunk.length)), pipeline(opened, socket));
      await Promise.all([pipeline(socket, opened), toClient]);
    } catch {
      socket.destroy();
      remote?.destroy();
    } finally {
      if (failure) {
        this.stats.failedConnections += 1;
        this.stats.lastError = failure.message;
        this.onConnectionError(failure);
      }
      this.sockets.delete(socket);
      this.stats.openConnections -= 1;
    }
  }

  /** Stops accepting and closes every open connection. */
  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function isLoopback(host: string): boolean {
  return isLoopbackIPv4(host) || host === "::1";
}
