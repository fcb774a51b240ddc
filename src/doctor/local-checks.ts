import { join } from "node:path";
import { daemonSocketPath } from "../ipc/socket-path.js";
import { errorCode, errorMessage, LocError } from "../errors.js";
import { DATABASE_FILE } from "../store/state-dir.js";
import { fail, pass, warn, type CheckResult } from "./check.js";
import type { DaemonStatus } from "../ipc/protocol.js";
import type { LocalSystem } from "./local-system.js";
import { checkTunnels } from "./tunnel-checks.js";

const START_HINT = "start one: sudo loc daemon";

/**
 * The hosts file must be writable by whoever writes it: this process when root, else the daemon's
 * privileged helper (started by `sudo loc daemon`), so "not writable" is only a warning for a user.
 */
export async function checkHostsFile(path: string, system: LocalSystem): Promise<CheckResult> {
  const name = "hosts file";
  try {
    await system.canWrite(path);
    return pass(name, `${path} is writable`);
  } catch (error) {
    const code = errorCode(error);
    if (code === "ENOENT") return fail(name, `${path} does not exist`, "pass the file loc should keep its block in with --hosts-file");
    if (code === "EROFS") return fail(name, `${path} is on a read-only file system`, "pass a writable file with --hosts-file");
    if ((code === "EACCES" || code === "EPERM") && system.uid !== 0) {
      return warn(name, `${path} is not writable by ${await system.userName(system.uid)}`, "needs root: sudo loc daemon writes it through its helper");
    }
    return fail(name, `cannot write ${path}: ${errorMessage(error)}`, "check the file's owner and mode");
  }
}

/** The state dir and its event log: owned by this user, no access for group or others. */
export async function checkStateDir(stateDir: string, system: LocalSystem): Promise<CheckResult> {
  const name = "state dir";
  const dir = await statOrMissing(stateDir, system);
  if (dir === "missing") return pass(name, `${stateDir} does not exist yet (loc creates it, mode 0700, on first use)`);
  const me = await system.userName(system.uid);
  const problem =
    (await ownershipProblem(stateDir, dir, 0o700, system)) ??
    (await fileProblem(join(stateDir, DATABASE_FILE), 0o600, system));
  if (problem) return fail(name, problem.detail, problem.hint);
  return pass(name, `${stateDir} (owner ${me}, mode ${octal(dir.mode)})`);
}

async function fileProblem(path: string, wanted: number, system: LocalSystem): Promise<{ detail: string; hint: string } | undefined> {
  const file = await statOrMissing(path, system);
  return file === "missing" ? undefined : ownershipProblem(path, file, wanted, system);
}

async function ownershipProblem(path: string, info: { uid: number; mode: number }, wanted: number, system: LocalSystem): Promise<{ detail: string; hint: string } | undefined> {
  if (info.uid !== system.uid) {
    const owner = await system.userName(info.uid);
    const me = await system.userName(system.uid);
    return { detail: `${path} belongs to ${owner}, not ${me}`, hint: `loc run as ${owner} made it; take it back with: sudo chown -R ${me} ${path}` };
  }
  // Group or other access would let another local user read the log or talk to the daemon.
  if ((info.mode & 0o077) !== 0) {
    return { detail: `${path} has mode ${octal(info.mode)}, not ${octal(wanted)}`, hint: `chmod ${octal(wanted).slice(1)} ${path}` };
  }
  return undefined;
}

/** Is a daemon answering on the socket, and whose is it? Then: can its tunnels serve? */
export async function checkDaemon(stateDir: string, system: LocalSystem, now: () => number = Date.now): Promise<CheckResult[]> {
  const status: { value?: DaemonStatus } = {};
  const socket = await checkSocket(stateDir, system, now, status);
  const tunnels = status.value && checkTunnels(status.value);
  return tunnels ? [socket, tunnels] : [socket];
}

async function checkSocket(stateDir: string, system: LocalSystem, now: () => number, answered: { value?: DaemonStatus }): Promise<CheckResult> {
  const name = "socket";
  let path: string;
  try {
    path = daemonSocketPath(stateDir);
  } catch (error) {
    if (error instanceof LocError) return fail(name, error.message, error.hint);
    throw error;
  }
  const socket = await statOrMissing(path, system);
  if (socket === "missing") return fail(name, `no loc daemon is running (no socket at ${path})`, START_HINT);
  const owner = await system.userName(socket.uid);
  try {
    const status = await system.daemonStatus(stateDir);
    answered.value = status;
    const tunnels = `${status.tunnels.length} tunnel${status.tunnels.length === 1 ? "" : "s"}`;
    const exposes = `${status.exposes.length} expose${status.exposes.length === 1 ? "" : "s"}`;
    return pass(name, `daemon running as ${owner} (pid ${status.pid}, since ${new Date(status.startedAt).toISOString()}, up ${upFor(now() - status.startedAt)}), ${tunnels}, ${exposes}`);
  } catch (error) {
    if (!(error instanceof LocError)) return fail(name, `cannot ask the daemon at ${path}: ${errorMessage(error)}`, START_HINT);
    if (error.code === "DAEMON_NOT_RUNNING") return fail(name, `no loc daemon is running (a stale socket of ${owner} at ${path})`, START_HINT);
    if (error.code === "DAEMON_PERMISSION") {
      const me = await system.userName(system.uid);
      return fail(name, `the daemon's socket ${path} belongs to ${owner}, and ${me} may not talk to it`, `run loc as ${owner}, or start your own: sudo loc daemon`);
    }
    return fail(name, error.message, error.hint);
  }
}

// The grammar of github.com/distribution/reference: [domain[:port]/]path[:tag][@digest].
const DOMAIN_PART = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `${DOMAIN_PART}(?:\\.${DOMAIN_PART})*(?::[0-9]+)?`;
const PATH_PART = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const IMAGE_REFERENCE = new RegExp(`^((?:${DOMAIN}/)?${PATH_PART}(?:/${PATH_PART})*)(?::${TAG})?(?:@${DIGEST})?$`);
const MAX_NAME_LENGTH = 255;

/** The proxy pod's image: only its syntax can be checked here; the cluster pulls it. */
export function checkImage(reference: string, isDefault: boolean): CheckResult {
  const name = "proxy image";
  const match = IMAGE_REFERENCE.exec(reference);
  if (!match || (match[1]?.length ?? 0) > MAX_NAME_LENGTH) {
    return fail(name, `"${reference}" is not an image reference`, "use [registry/]repository[:tag][@sha256:digest], e.g. lscr.io/linuxserver/openssh-server:latest");
  }
  return pass(name, `${reference}${isDefault ? " (default; --image replaces it)" : ""}`);
}

async function statOrMissing(path: string, system: LocalSystem): Promise<{ uid: number; mode: number } | "missing"> {
  try {
    return await system.stat(path);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return "missing";
    throw error;
  }
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, "0")}`;
}

function upFor(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`;
}
