import { chmodSync, statSync, unlinkSync } from "node:fs";
import { createConnection, type Server } from "node:net";
import { errorCode, LocError } from "../errors.js";

/**
 * Listens on the unix socket `path`, owner-only: the daemon's status names every service in the
 * cluster the daemon's user can see. Replaces a socket file left by a dead daemon; refuses one a
 * live daemon answers on.
 */
export async function listenOwnerOnly(server: Server, path: string, retried = false): Promise<void> {
  const listening = new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  // bind() runs synchronously inside listen(), so the tight umask is restored before other code runs.
  const previousUmask = process.umask(0o177);
  try {
    server.listen(path);
  } finally {
    process.umask(previousUmask);
  }
  try {
    await listening;
  } catch (error) {
    server.removeAllListeners("listening");
    if (errorCode(error) !== "EADDRINUSE" || retried) throw error;
    if (await someoneAnswers(path)) {
      throw new LocError(`a loc daemon is already serving ${path}`, "use it: loc list, or stop it first", "DAEMON_RUNNING");
    }
    unlinkSync(path); // left by a daemon that died without cleaning up
    return listenOwnerOnly(server, path, true);
  }
  // Belt and braces: the umask covers creation, chmod covers filesystems that ignore it for sockets.
  chmodSync(path, 0o600);
  const mode = statSync(path).mode & 0o777;
  if (mode !== 0o600) {
    server.close();
    throw new LocError(`the daemon socket ${path} has mode ${mode.toString(8)}, not 600`, "put the state dir on a filesystem that keeps unix permissions (--state-dir)", "SOCKET_MODE");
  }
}

function someoneAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection({ path });
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}
