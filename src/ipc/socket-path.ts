import { join } from "node:path";
import { LocError } from "../errors.js";

export const SOCKET_FILE = "daemon.sock";

/** sun_path holds 108 bytes on Linux, 104 on macOS, NUL included. */
const MAX_SOCKET_PATH_BYTES = process.platform === "darwin" ? 103 : 107;

/**
 * `<stateDir>/daemon.sock`. Node silently truncates a longer unix socket path, which would bind
 * somewhere else entirely, so a too-long one is refused up front.
 */
export function daemonSocketPath(stateDir: string): string {
  const path = join(stateDir, SOCKET_FILE);
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new LocError(
      `the daemon socket path ${path} is too long (${bytes} bytes, unix sockets allow ${MAX_SOCKET_PATH_BYTES})`,
      "use a shorter state dir: --state-dir or $LOC_STATE_DIR",
      "SOCKET_PATH_TOO_LONG",
    );
  }
  return path;
}
