// A ReverseTransport for unit tests of the expose saga: records connects, can refuse them, and each
// session can be "lost" on demand. The real SSH transport is tested against a real sshd (e2e).
import type { ReverseForward, ReverseConnector, ReverseSession, ReverseStats, ReverseTransport } from "../../src/transports/transport.js";

export class FakeSession implements ReverseSession {
  readonly stats: ReverseStats = { connections: 0, openConnections: 0, bytesIn: 0, bytesOut: 0 };
  readonly lost: Promise<Error>;
  closed = false;
  private resolveLost: (error: Error) => void = () => undefined;

  constructor(
    readonly pod: string,
    readonly forwards: ReverseForward[],
  ) {
    this.lost = new Promise((resolve) => (this.resolveLost = resolve));
  }

  lose(message: string): void {
    this.resolveLost(new Error(message));
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export class FakeReverseTransport implements ReverseTransport {
  readonly kind = "reverse";
  readonly name = "fake";
  readonly sessions: FakeSession[] = [];
  /** The next N connects fail (e.g. the proxy's server is not listening yet). */
  failConnects = 0;
  connectAttempts = 0;

  prepare(): ReverseConnector {
    return {
      proxy: { port: 2222, secretFiles: { sshd_config: "Port 2222\n" }, mountPath: "/etc/loc-ssh", command: ["/usr/sbin/sshd", "-D"], fingerprint: "SHA256:fake" },
      connect: async (target, forwards) => {
        this.connectAttempts += 1;
        if (this.failConnects > 0) {
          this.failConnects -= 1;
          throw new Error("connection refused");
        }
        const session = new FakeSession(target.pod, forwards);
        this.sessions.push(session);
        return session;
      },
    };
  }

  get current(): FakeSession | undefined {
    return this.sessions.at(-1);
  }
}
