// Who typed `sudo loc daemon`, and becoming that user for everything but the hosts helper.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { errorCode, errorMessage, LocError } from "../errors.js";

export interface InvokingUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** A user's passwd entry by name (or uid), or undefined if there is none. */
export type PasswdLookup = (nameOrUid: string) => InvokingUser | undefined;

// POSIX portable user names (plus the `$` of machine accounts); also keeps `:` and newlines out.
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/;
const ID = /^(0|[1-9][0-9]{0,9})$/;

/** `name:password:uid:gid:gecos:home:shell` → the user, or undefined for anything malformed. */
export function parsePasswdLine(line: string): InvokingUser | undefined {
  const [name, , uid, gid, , home, shell] = line.trim().split(":");
  if (!name || !uid || !gid || !ID.test(uid) || !ID.test(gid) || home === undefined) return undefined;
  return { name, uid: Number(uid), gid: Number(gid), home, shell: shell ?? "" };
}

/** NSS users too (LDAP, sssd) through `getent passwd`; /etc/passwd where getent does not exist (macOS has neither for normal users: not supported there yet). */
export const lookupPasswd: PasswdLookup = (nameOrUid) => {
  try {
    const line = execFileSync("getent", ["passwd", nameOrUid], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return parsePasswdLine(line.split("\n")[0] ?? "");
  } catch (error) {
    // getent exits 2 for "no such user"; only its absence sends us to the file.
    if (errorCode(error) !== "ENOENT") return undefined;
  }
  const lines = existsSync("/etc/passwd") ? readFileSync("/etc/passwd", "utf8").split("\n") : [];
  const users = lines.filter((line) => !line.startsWith("#")).flatMap((line) => parsePasswdLine(line) ?? []);
  return users.find((user) => user.name === nameOrUid) ?? users.find((user) => String(user.uid) === nameOrUid);
};

const HINT = "run it as `sudo loc daemon` from your own account, or pass --user NAME";

function refuse(message: string): never {
  throw new LocError(message, HINT, "BAD_INVOKING_USER");
}

/**
 * The user the daemon should act as: `--user NAME` if given, else the one sudo names in SUDO_UID,
 * SUDO_GID and SUDO_USER. Undefined when neither is there (root without sudo keeps running as root).
 * Refuses root, unknown users and sudo variables that disagree with each other or with passwd.
 */
export function invokingUser(env: NodeJS.ProcessEnv, flagUser?: string, lookup: PasswdLookup = lookupPasswd): InvokingUser | undefined {
  if (flagUser !== undefined) {
    if (!USER_NAME.test(flagUser)) refuse(`--user "${flagUser}" is not a user name`);
    // Under sudo, act only as the user sudo vouched for: a sudo rule for loc must not become one for anyone.
    if (env.SUDO_USER !== undefined && env.SUDO_USER !== flagUser) refuse(`--user ${flagUser} is not the user who ran sudo (${env.SUDO_USER})`);
    const user = lookup(flagUser) ?? refuse(`--user ${flagUser}: no such user`);
    if (user.uid === 0) refuse(`--user ${flagUser} is root: there would be no privileges to drop`);
    return user;
  }
  const { SUDO_UID: uid, SUDO_GID: gid, SUDO_USER: name } = env;
  if (uid === undefined && gid === undefined && name === undefined) return undefined;
  if (uid === undefined || gid === undefined || name === undefined) refuse("SUDO_UID, SUDO_GID and SUDO_USER must be set together");
  if (!ID.test(uid) || !ID.test(gid)) refuse(`SUDO_UID "${uid}" / SUDO_GID "${gid}" are not numeric ids`);
  if (uid === "0") refuse("sudo was run by root (SUDO_UID=0): there would be no privileges to drop");
  if (!USER_NAME.test(name)) refuse(`SUDO_USER "${name}" is not a user name`);
  const user = lookup(name) ?? refuse(`SUDO_USER ${name}: no such user`);
  if (user.uid !== Number(uid)) refuse(`SUDO_USER ${name} has uid ${user.uid}, but SUDO_UID is ${uid}`);
  // The group the user had when typing sudo (newgrp/sg may have changed it from passwd's).
  return { ...user, gid: Number(gid) };
}

/**
 * Becomes `user` for good: supplementary groups, then gid, then uid (after setuid, setgid would be
 * refused). setuid as root sets the real, effective and saved uid, so root cannot be regained; that
 * is checked. Returns the environment the rest of the daemon must use.
 */
export function dropPrivileges(user: InvokingUser, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  // Node has had process.initgroups since 0.9 (POSIX only); @types/node does not declare it.
  const { initgroups } = process as { initgroups?: (user: string, extraGroup: number) => void };
  if (!initgroups || !process.setgid || !process.setuid || !process.getuid) {
    throw new LocError("cannot drop privileges on this platform", "run loc daemon without sudo", "PRIVSEP_UNSUPPORTED");
  }
  try {
    initgroups.call(process, user.name, user.gid);
    process.setgid(user.gid);
    process.setuid(user.uid);
  } catch (error) {
    throw new LocError(`cannot become ${user.name} (${errorCode(error) || errorMessage(error)})`, "only root can act as another user: start loc daemon with sudo", "PRIVSEP_FAILED");
  }
  if (process.getuid() !== user.uid || process.geteuid?.() !== user.uid || process.getgid?.() !== user.gid || process.getegid?.() !== user.gid) {
    throw new LocError(`could not become ${user.name} (uid ${user.uid}, gid ${user.gid})`, HINT, "PRIVSEP_FAILED");
  }
  let regained = false;
  try {
    process.setuid(0);
    regained = true;
  } catch {
    // EPERM: what we want.
  }
  if (regained) throw new LocError(`after becoming ${user.name}, root could be regained`, "this is a bug in loc: please report it", "PRIVSEP_FAILED");
  return userEnvironment(user, env);
}

/**
 * sudo's environment with the user's identity: HOME, USER, LOGNAME, SHELL are the user's; XDG_*
 * paths that pointed into root's home (or root's runtime dir) are moved to the user's or dropped.
 * KUBECONFIG is kept as it was (sudo usually drops it: `--kubeconfig` or ~/.kube/config then apply).
 */
export function userEnvironment(user: InvokingUser, env: NodeJS.ProcessEnv, rootHome = env.HOME ?? "/root"): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = { ...env, HOME: user.home, USER: user.name, LOGNAME: user.name, SHELL: user.shell || env.SHELL };
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith("XDG_") || value === undefined) continue;
    if (key === "XDG_RUNTIME_DIR" && /^\/run\/user\/0\/?$/.test(value)) {
      const own = `/run/user/${user.uid}`;
      if (existsSync(own)) result[key] = own;
      else delete result[key];
    } else if (rootHome !== "/" && (value === rootHome || value.startsWith(`${rootHome}/`))) {
      result[key] = user.home + value.slice(rootHome.length);
    }
  }
  return result;
}

/**
 * For commands that only talk to the daemon (`sudo loc list`): the invoking user's environment, so
 * the state dir and socket are that user's daemon's. Anything unusual keeps the environment as is.
 */
export function clientEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (process.getuid?.() !== 0 || env.SUDO_USER === undefined || env.LOC_STATE_DIR !== undefined) return env;
  try {
    const user = invokingUser(env);
    return user ? userEnvironment(user, env) : env;
  } catch {
    return env;
  }
}
