// What the proxy pod's OpenSSH server runs with: its sshd_config, the restricted authorized_keys
// line and the command, all pure so they can be checked without a cluster.
import { LocError } from "../errors.js";

/** Where the session's Secret is mounted in the proxy pod. */
export const SSH_MOUNT_PATH = "/etc/loc-ssh";
export const HOST_KEY_FILE = "ssh_host_ed25519_key";
export const AUTHORIZED_KEYS_FILE = "authorized_keys";
export const SSHD_CONFIG_FILE = "sshd_config";
/** The comment on the session's client key in authorized_keys. */
export const CLIENT_KEY_COMMENT = "loc-session";

export interface SshdConfigOptions {
  /** The non-root user sshd runs as; the only one allowed to log in. */
  user: string;
  port: number;
  mountPath?: string;
}

// POSIX portable user names (no leading hyphen); at most 32 characters like useradd.
const USER_NAME = /^[A-Za-z0-9._][A-Za-z0-9._-]{0,31}$/;

export function validateSshUser(user: string): void {
  if (!USER_NAME.test(user) || /^\.+$/.test(user)) {
    throw new LocError(
      `invalid SSH user name ${JSON.stringify(user)}`,
      "use a POSIX user name: letters, digits, '.', '_' and '-', not starting with '-', at most 32 characters",
      "INVALID_SSH_USER",
    );
  }
}

export function validatePort(port: number, what = "SSH port"): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new LocError(`invalid ${what} ${String(port)}`, "use a port number from 1 to 65535", "INVALID_PORT");
  }
}

/**
 * sshd_config for the proxy pod. sshd runs as the unprivileged `user`, listens on every pod
 * interface, accepts only the session's key, and allows nothing but remote forwards, which must
 * listen on the pod IP (`GatewayPorts clientspecified` + the client asking for 0.0.0.0) so the
 * Service reaches them.
 */
export function renderSshdConfig({ user, port, mountPath = SSH_MOUNT_PATH }: SshdConfigOptions): string {
  validateSshUser(user);
  validatePort(port);
  const lines = [
    "# Written by loc for one expose session.",
    `Port ${port}`,
    "ListenAddress 0.0.0.0",
    `HostKey ${mountPath}/${HOST_KEY_FILE}`,
    `AuthorizedKeysFile ${mountPath}/${AUTHORIZED_KEYS_FILE}`,
    // A non-root sshd cannot write to /run.
    "PidFile /tmp/loc-sshd.pid",
    "PubkeyAuthentication yes",
    "AuthenticationMethods publickey",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "HostbasedAuthentication no",
    "PermitRootLogin no",
    "PermitEmptyPasswords no",
    `AllowUsers ${user}`,
    "AllowTcpForwarding remote",
    "GatewayPorts clientspecified",
    "AllowStreamLocalForwarding no",
    "AllowAgentForwarding no",
    "X11Forwarding no",
    "PermitTTY no",
    "PermitTunnel no",
    "PermitUserRC no",
    "PermitUserEnvironment no",
    // Secret volume files are root-owned symlinks into a ..data directory; StrictModes rejects them.
    "StrictModes no",
    "UsePAM no",
    "UseDNS no",
    "PrintMotd no",
    "LoginGraceTime 30",
    "MaxAuthTries 3",
    // Drop a vanished client within ~45 s so its remote forwards free their ports.
    "ClientAliveInterval 15",
    "ClientAliveCountMax 3",
    "TCPKeepAlive yes",
    "LogLevel INFO",
    "",
  ];
  return lines.join("\n");
}

/** The authorized_keys line: the session key may do port forwarding and nothing else. */
export function authorizedKeysLine(publicKey: string): string {
  const [type, data] = publicKey.trim().split(/\s+/);
  if (!type || !data) throw new Error("not an OpenSSH public key line");
  return `restrict,port-forwarding ${type} ${data} ${CLIENT_KEY_COMMENT}\n`;
}

/** The proxy container's command: sshd in the foreground, logging to stderr (the pod log). */
export function sshdCommand(mountPath = SSH_MOUNT_PATH): string[] {
  return ["/usr/sbin/sshd", "-D", "-e", "-f", `${mountPath}/${SSHD_CONFIG_FILE}`];
}
