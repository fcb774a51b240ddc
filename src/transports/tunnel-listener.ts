import net from "node:net";
import { pipeline } from "node:stream/promises";
import type { Duplex } from "node:stream";
import { isLoopbackIPv4 } from "../hosts/host-entry.js";

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
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly connect: () => Promise<Duplex>,
    private readonly onConnectionError: (error: Error) => void = () => undefined,
  ) {
    this.server = net.createServer({ pauseOnConnect: true }, (socket) => void this.serve(socket));
  }

  listen(): Promise<void> {
    if (!isLoopback(this.host)) return Promise.reject(new Error(`refusing to listen on ${this.host}: loopback addresses only`));
    return new Promise((resolve, reject) => {
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
    try {
      remote = await this.connect();
      remote.on("data", (chunk: Buffer) => (this.stats.bytesOut += chunk.length));
      socket.on("data", (chunk: Buffer) => (this.stats.bytesIn += chunk.length));
      // Both directions at once; whichever side fails or ends first tears down this pair only.
      await Promise.all([pipeline(socket, remote), pipeline(remote, socket)]);
    } catch (error) {
      this.stats.failedConnections += 1;
      this.stats.lastError = (error as Error).message;
      this.onConnectionError(error as Error);
      socket.destroy();
      remote?.destroy();
    } finally {
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
