// A real OpenSSH sshd on a random 127.0.0.1 port, configured in a temp dir, as the current user:
// stands in for the SSH server of a cluster-side gateway in tests of SSH remote forwarding.
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { waitFor } from "./wait.js";

const run = promisify(execFile);

export const sshdBinary = process.env.LOC_SSHD ?? "/usr/sbin/sshd";

export interface SshdOptions {
  /** Contents of the authorized_keys file (OpenSSH public key lines). */
  authorizedKeys: string;
  /** OpenSSH private key text to use as the host key instead of a freshly generated one. */
  hostKeyPrivate?: string;
  /**
   * Extra sshd_config lines. They go first: sshd keeps the first value it reads for a keyword, so
   * these override the defaults below (Match blocks are not supported here).
   */
  configLines?: string[];
  /**
   * Start sshd in its own process group: a Ctrl-C to the caller's terminal then leaves it running
   * until stop(), which can still find and end its per-connection sessions (an sshd killed first
   * orphans them, with their forward listeners).
   */
  detached?: boolean;
}

export interface Sshd {
  port: number;
  /** The host key's public line ("ssh-ed25519 AAAA..."), to pin the server in clients. */
  hostKeyPublic: string;
  /** sshd's stderr so far (-e), for diagnostics. */
  log(): string;
  stop(): Promise<void>;
}

export async function startSshd({ authorizedKeys, hostKeyPrivate, configLines = [], detached = false }: SshdOptions): Promise<Sshd> {
  if (!existsSync(sshdBinary)) {
    throw new Error(
      `sshd not found at ${sshdBinary}: install OpenSSH server (Debian/Ubuntu: apt-get install -y openssh-server) ` +
        "or point LOC_SSHD at an sshd binary",
    );
  }
  // sshd refuses to start without its privilege separation directory.
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 }).catch(() => undefined);

  const dir = await mkdtemp(path.join(os.tmpdir(), "loc-sshd-"));
  const hostKey = path.join(dir, "host_ed25519");
  let hostKeyPublic: string;
  if (hostKeyPrivate === undefined) {
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "loc-test-sshd", "-f", hostKey]);
    hostKeyPublic = (await readFile(`${hostKey}.pub`, "utf8")).trim();
  } else {
    await writeFile(hostKey, hostKeyPrivate.endsWith("\n") ? hostKeyPrivate : `${hostKeyPrivate}\n`, { mode: 0o600 });
    // The public half as OpenSSH itself reads it from the private key.
    hostKeyPublic = (await run("ssh-keygen", ["-y", "-f", hostKey])).stdout.trim();
  }
  const authorizedKeysFile = path.join(dir, "authorized_keys");
  await writeFile(authorizedKeysFile, authorizedKeys.endsWith("\n") ? authorizedKeys : `${authorizedKeys}\n`, {
    mode: 0o600,
  });

  const port = await freeLoopbackPort();
  const config = path.join(dir, "sshd_config");
  await writeFile(
    config,
    [
      ...configLines,
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${authorizedKeysFile}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "AllowTcpForwarding yes",
      // Remote forwards listen on loopback only, whatever address the client asks for.
      "GatewayPorts no",
      // The temp dir and key files are not laid out the way StrictModes insists on.
      "StrictModes no",
      "UsePAM no",
      "PrintMotd no",
      "LogLevel VERBOSE",
      "",
    ].join("\n"),
  );

  const child = spawn(sshdBinary, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"], detached });
  let log = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (log += chunk));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    // sshd forks a process per connection that outlives the listener; end those too, so stopping
    // sshd ends its sessions the way a proxy pod's death does.
    const sessions = child.pid === undefined ? [] : await descendants(child.pid);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    for (const pid of sessions) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    await exited;
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitFor(
      `sshd listening on 127.0.0.1:${port}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${log}`);
        return (await canConnect(port)) || undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\nsshd log:\n${log}`, { cause: error });
  }
  return { port, hostKeyPublic, log: () => log, stop };
}

/** The processes below `root` (Linux /proc; none elsewhere), children before grandchildren. */
async function descendants(root: number): Promise<number[]> {
  const parents = new Map<number, number>();
  const entries = await readdir("/proc").catch(() => [] as string[]);
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (Number.isInteger(ppid)) parents.set(Number(entry), ppid);
  }
  const found: number[] = [];
  let frontier = [root];
  while (frontier.length > 0) {
    const next = [...parents].filter(([, ppid]) => frontier.includes(ppid)).map(([pid]) => pid);
    found.push(...next);
    frontier = next;
  }
  return found;
}

/** Asks the kernel for a free port; sshd needs a concrete port in its config. */
export async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
