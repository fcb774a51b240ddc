// The SSH reverse transport: the proxy pod runs OpenSSH sshd; loc reaches it through a forward
// transport (a kube port-forward in production), logs in with a per-session key, pins the
// per-session host key, asks for remote forwards on the pod IP and pipes each forwarded
// connection to a local port.
import ssh2 from "ssh2";
import { aborted, checkForwards, SshReverseSession } from "./ssh-reverse-session.js";
import { generateEd25519, sha256Fingerprint, type SshKeyPair } from "./ssh-keys.js";
import {
  AUTHORIZED_KEYS_FILE,
  HOST_KEY_FILE,
  SSH_MOUNT_PATH,
  SSHD_CONFIG_FILE,
  authorizedKeysLine,
  renderSshdConfig,
  sshdCommand,
  validatePort,
  validateSshUser,
} from "./sshd-config.js";
import type {
  ForwardTransport,
  ProxySide,
  ReverseForward,
  ReverseConnector,
  ReverseConnectorOptions,
  ReverseSession,
  ReverseTransport,
} from "./transport.js";

// ssh2 is CommonJS: Node's ESM loader only offers its default export.
const { Client } = ssh2;

export interface SshReverseOptions {
  /** How long the SSH handshake and login may take once the stream is open (default 20 s). */
  readyTimeoutMs?: number;
  /** SSH keepalive interval; three unanswered keepalives lose the session (default 15 s). */
  keepaliveIntervalMs?: number;
}

const DEFAULT_READY_TIMEOUT_MS = 20_000;
const DEFAULT_KEEPALIVE_INTERVAL_MS = 15_000;
export { REMOTE_BIND_ADDRESS } from "./ssh-reverse-session.js";

/** `loc expose --transport ssh`. */
export class SshReverseTransport implements ReverseTransport {
  readonly kind = "reverse";
  readonly name = "ssh";

  constructor(
    /** The forward transport SSH rides to the proxy pod's sshd. */
    readonly forward: ForwardTransport,
    private readonly options: SshReverseOptions = {},
  ) {}

  prepare({ user, port }: ReverseConnectorOptions): ReverseConnector {
    validateSshUser(user);
    validatePort(port);
    return new SshReverseConnector(this.forward, this.options, user, port, generateEd25519(), generateEd25519());
  }
}

/**
 * One session's credentials. The client private key lives only in a private field (never
 * enumerable, never inspected); the host private key only in `proxy.secretFiles`, bound for the
 * cluster Secret.
 */
class SshReverseConnector implements ReverseConnector {
  readonly proxy: ProxySide;
  readonly #clientKey: SshKeyPair;
  readonly #hostBlob: Buffer;

  constructor(
    private readonly forward: ForwardTransport,
    private readonly options: SshReverseOptions,
    private readonly user: string,
    port: number,
    clientKey: SshKeyPair,
    hostKey: SshKeyPair,
  ) {
    this.#clientKey = clientKey;
    this.#hostBlob = hostKey.blob;
    this.proxy = {
      port,
      mountPath: SSH_MOUNT_PATH,
      command: sshdCommand(SSH_MOUNT_PATH),
      fingerprint: sha256Fingerprint(hostKey.blob),
      secretFiles: {
        [HOST_KEY_FILE]: hostKey.privateKey,
        [AUTHORIZED_KEYS_FILE]: authorizedKeysLine(clientKey.publicKey),
        [SSHD_CONFIG_FILE]: renderSshdConfig({ user, port, mountPath: SSH_MOUNT_PATH }),
      },
    };
  }

  async connect(target: { namespace: string; pod: string }, forwards: ReverseForward[], signal?: AbortSignal): Promise<ReverseSession> {
    const byPort = checkForwards(forwards);
    const where = `${target.namespace}/${target.pod}`;
    if (signal?.aborted) throw aborted(where, signal);
    const sock = await this.forward.open({ ...target, port: this.proxy.port }, signal);
    if (signal?.aborted) {
      sock.destroy();
      throw aborted(where, signal);
    }
    const session = new SshReverseSession(new Client(), sock, byPort, where);
    try {
      await session.start(
        {
          username: this.user,
          privateKey: this.#clientKey.privateKey,
          hostBlob: this.#hostBlob,
          pinned: this.proxy.fingerprint,
          readyTimeout: this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
          keepaliveInterval: this.options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS,
        },
        signal,
      );
    } catch (error) {
      // Nothing worth a polite goodbye is up yet: drop the stream at once.
      await session.abandon();
      throw error;
    }
    return session;
  }
}
