// The live half of the SSH reverse transport (src/transports/ssh-reverse.ts): one SSH connection
// to the proxy pod's sshd, its remote forwards, and each forwarded connection piped to a local port.
import net from "node:net";
import type { Duplex } from "node:stream";
import ssh2, { type AcceptConnection, type ClientChannel, type RejectConnection, type TcpConnectionDetails } from "ssh2";
import { LocError } from "../errors.js";
import { permanentReason, PermanentConnectError } from "./connect-errors.js";
import { sha256Fingerprint } from "./ssh-keys.js";
import { validatePort } from "./sshd-config.js";
import type { ReverseForward, ReverseSession, ReverseStats } from "./transport.js";

type Client = InstanceType<typeof ssh2.Client>;

const KEEPALIVE_COUNT_MAX = 3;
/** How long close() waits for sshd to acknowledge the disconnect before dropping the stream. */
const CLOSE_GRACE_MS = 2_000;
/** The address remote forwards listen on in the pod (sshd has `GatewayPorts clientspecified`). */
export const REMOTE_BIND_ADDRESS = "0.0.0.0";

export interface StartOptions {
  username: string;
  privateKey: string;
  hostBlob: Buffer;
  pinned: string;
  readyTimeout: number;
  keepaliveInterval: number;
}

/**
 * A live SSH connection and its forwards. `lost` resolves when the connection ends by itself;
 * after `close()` it stays pending forever (the caller ended the session, nothing was lost).
 */
export class SshReverseSession implements ReverseSession {
  readonly stats: ReverseStats = { connections: 0, openConnections: 0, bytesIn: 0, bytesOut: 0 };
  readonly lost: Promise<Error>;
  private resolveLost: (reason: Error) => void = () => undefined;
  /** Rejects as soon as the connection fails while `start` is still running. */
  private failStart: ((error: Error) => void) | undefined;
  private readonly drops = new Set<() => void>();
  private lastError: Error | undefined;
  private presentedFingerprint: string | undefined;
  private pinnedFingerprint = "";
  private closing = false;
  private closed = false;
  private closePromise: Promise<void> | undefined;

  constructor(
    private readonly client: Client,
    private readonly sock: Duplex,
    private readonly forwards: Map<number, ReverseForward>,
    private readonly where: string,
  ) {
    this.lost = new Promise<Error>((resolve) => (this.resolveLost = resolve));
    client.on("error", (error) => {
      this.lastError = error;
      this.failStart?.(this.describeFailure(error));
    });
    client.on("close", () => this.onClose());
    client.on("tcp connection", (info, accept, reject) => this.onTcpConnection(info, accept, reject));
  }

  async start(options: StartOptions, signal?: AbortSignal): Promise<void> {
    this.pinnedFingerprint = options.pinned;
    const failed = new Promise<never>((_resolve, reject) => (this.failStart = reject));
    failed.catch(() => undefined);
    const onAbort = () => this.failStart?.(aborted(this.where, signal));
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const ready = new Promise<void>((resolve) => this.client.once("ready", () => resolve()));
      this.client.connect({
        sock: this.sock,
        username: options.username,
        privateKey: options.privateKey,
        authHandler: ["publickey"],
        hostVerifier: (presented: Buffer) => {
          if (presented.equals(options.hostBlob)) return true;
          this.presentedFingerprint = sha256Fingerprint(presented);
          return false;
        },
        readyTimeout: options.readyTimeout,
        keepaliveInterval: options.keepaliveInterval,
        keepaliveCountMax: KEEPALIVE_COUNT_MAX,
      });
      await Promise.race([ready, failed]);
      for (const forward of this.forwards.values()) {
        await Promise.race([this.forwardIn(forward.remotePort), failed]);
      }
    } finally {
      this.failStart = undefined;
      signal?.removeEventListener("abort", onAbort);
    }
  }

  // A refused forward stays transient: after a loss the old sshd child may still hold the port
  // until it notices its client is gone, and the next try gets it.
  private forwardIn(remotePort: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const refused = (reason: string) =>
        reject(
          new LocError(
            `sshd in proxy pod ${this.where} refused to listen on port ${remotePort}: ${reason}`,
            "the proxy pod's log has sshd's reason; a non-root sshd cannot listen below port 1024 unless the pod allows it",
            "SSH_FORWARD_REFUSED",
          ),
        );
      try {
        this.client.forwardIn(REMOTE_BIND_ADDRESS, remotePort, (error) => (error ? refused(error.message) : resolve()));
      } catch (error) {
        refused((error as Error).message);
      }
    });
  }

  /**
   * What a failure before the session was up means to the person running loc, and whether retrying
   * can help: a wrong host key, a refused key or a broken handshake are met again on every try.
   */
  private describeFailure(error: Error): Error {
    if (this.presentedFingerprint !== undefined) {
      return new PermanentConnectError(
        `the host key of proxy pod ${this.where} did not match the pinned one ` +
          `(pinned ${this.pinnedFingerprint}, presented ${this.presentedFingerprint})`,
        "something other than this session's proxy answered; delete the session and expose again",
        "SSH_HOST_KEY_MISMATCH",
        "host-key",
      );
    }
    const reason = permanentReason(error);
    if (reason === "authentication") {
      return new PermanentConnectError(
        `sshd in proxy pod ${this.where} refused this session's key: ${error.message}`,
        "the proxy pod may belong to another session; delete the session and expose again",
        "SSH_AUTH_FAILED",
        reason,
      );
    }
    if (reason !== undefined) {
      return new PermanentConnectError(
        `SSH handshake with proxy pod ${this.where} failed: ${error.message}`,
        "the proxy image's sshd and loc share no SSH algorithm or protocol; use the default proxy image",
        "SSH_PROTOCOL",
        reason,
        { cause: error },
      );
    }
    return new Error(`SSH connection to proxy pod ${this.where} failed: ${error.message}`, { cause: error });
  }

  private onClose(): void {
    this.closed = true;
    for (const drop of [...this.drops]) drop();
    if (this.failStart) {
      this.failStart(this.describeFailure(this.lastError ?? new Error("the connection closed before the session was up")));
      return;
    }
    if (this.closing) return;
    const reason = this.lastError?.message ?? "the connection closed";
    this.resolveLost(new Error(`SSH session to proxy pod ${this.where} lost: ${reason}`, { cause: this.lastError }));
  }

  private onTcpConnection(info: TcpConnectionDetails, accept: AcceptConnection<ClientChannel>, reject: RejectConnection): void {
    const forward = this.forwards.get(info.destPort);
    if (!forward || this.closing) {
      reject();
      return;
    }
    const channel = accept();
    const socket = net.connect({ host: forward.localHost, port: forward.localPort, allowHalfOpen: true });
    this.stats.connections += 1;
    this.stats.openConnections += 1;
    let done = false;
    const drop = () => {
      if (done) return;
      done = true;
      this.drops.delete(drop);
      this.stats.openConnections -= 1;
      socket.destroy();
      // Once the SSH connection is gone its channels are too: there is nobody to tell.
      if (!this.closed) channel.close();
    };
    this.drops.add(drop);
    channel.on("data", (chunk: Buffer) => (this.stats.bytesIn += chunk.length));
    socket.on("data", (chunk: Buffer) => (this.stats.bytesOut += chunk.length));
    // pipe() carries backpressure both ways (the channel's SSH window included) and half-closes:
    // an EOF on one side ends the other side's writes only.
    channel.pipe(socket);
    socket.pipe(channel);
    // A failed local connect (nothing listening) or a broken channel drops this connection only.
    socket.on("error", drop);
    channel.on("error", drop);
    // When one side closes, bytes may still be queued for the other: let them drain first.
    socket.on("close", () => (channel.writableEnded && !channel.writableFinished ? channel.once("finish", drop) : drop()));
    channel.on("close", () => (socket.writableEnded && !socket.writableFinished ? socket.once("finish", drop) : drop()));
  }

  close(): Promise<void> {
    this.closePromise ??= this.shutdown(true);
    return this.closePromise;
  }

  /** close() without the SSH disconnect handshake, for a session that never came up. */
  abandon(): Promise<void> {
    this.closePromise ??= this.shutdown(false);
    return this.closePromise;
  }

  private async shutdown(graceful: boolean): Promise<void> {
    this.closing = true;
    for (const drop of [...this.drops]) drop();
    if (this.closed) return;
    // ssh2's client closes with its stream; wait for the stream, which closes even if ssh2 never
    // got to attach to it.
    const closed = new Promise<void>((resolve) => (this.sock.closed ? resolve() : this.sock.once("close", () => resolve())));
    if (graceful) this.client.end();
    const timer = setTimeout(() => this.sock.destroy(), CLOSE_GRACE_MS);
    if (!graceful || !this.sock.writable) this.sock.destroy();
    await closed;
    clearTimeout(timer);
  }
}

/** The forwards by remote port, checked: ports in range and each remote port once. */
export function checkForwards(forwards: ReverseForward[]): Map<number, ReverseForward> {
  const byPort = new Map<number, ReverseForward>();
  for (const forward of forwards) {
    validatePort(forward.remotePort, "remote port");
    validatePort(forward.localPort, "local port");
    if (byPort.has(forward.remotePort)) {
      throw new LocError(
        `remote port ${forward.remotePort} is forwarded twice`,
        "forward each Service port to one local port",
        "DUPLICATE_FORWARD",
      );
    }
    byPort.set(forward.remotePort, forward);
  }
  return byPort;
}

export function aborted(where: string, signal?: AbortSignal): Error {
  return new Error(`SSH connection to proxy pod ${where} aborted`, { cause: signal?.reason });
}
