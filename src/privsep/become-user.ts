// How `loc daemon` settles who it runs as before it touches anything of the user's: under sudo (or
// with --user) the hosts file goes to a root helper and everything else runs as the user.
import { LocError } from "../errors.js";
import type { HostEntry } from "../hosts/host-entry.js";
import { proveWritable, type WriteOutcome } from "../hosts/hosts-io.js";
import type { LoopbackRange } from "../daemon/ip-allocator.js";
import { dropPrivileges, invokingUser, type InvokingUser } from "./drop-privileges.js";
import { startHostsHelper, type HostsHelperClient } from "./helper-client.js";

export interface Settled {
  /** The environment everything after this point uses (the user's, under sudo). */
  env: NodeJS.ProcessEnv;
  /** Who the daemon acts as when it dropped root; undefined when it runs as it was started. */
  user?: InvokingUser;
  /** The root helper that writes the hosts file, when privileges were dropped. */
  helper?: HostsHelperClient;
  /** How the hosts block is written: through the helper, or directly. */
  write?: (path: string, entries: readonly HostEntry[]) => Promise<WriteOutcome>;
}

export interface SettleOptions {
  flagUser?: string;
  hostsFile: string;
  range: LoopbackRange;
  /** The command line as typed, for the exact sudo command in a hint. */
  argv?: readonly string[];
  log: (line: string) => void;
}

const isRoot = () => process.getuid?.() === 0;

/**
 * Root started by sudo (or --user): start the root hosts helper, then become the user for good.
 * Root without sudo (a container, CI): stays root, writes directly. A normal user: writes directly,
 * and a hosts file it cannot write fails at once with the sudo command that would work.
 */
export async function settlePrivileges(options: SettleOptions, env: NodeJS.ProcessEnv): Promise<Settled> {
  if (options.flagUser !== undefined && !isRoot()) {
    throw new LocError("--user needs loc daemon to start as root", `run: sudo loc daemon --user ${options.flagUser}`, "BAD_FLAG");
  }
  const user = isRoot() ? invokingUser(env, options.flagUser) : undefined;
  if (!user) {
    await proveWritable(options.hostsFile).catch((error: unknown) => {
      throw isRoot() || (error as LocError).code !== "HOSTS_FILE_NOT_WRITABLE" ? error : needsSudo(error as LocError, options.argv, env);
    });
    return { env };
  }
  const helper = await startHostsHelper({ hostsFile: options.hostsFile, range: options.range, log: options.log });
  let userEnv: NodeJS.ProcessEnv;
  try {
    userEnv = dropPrivileges(user, env);
  } catch (error) {
    await helper.close();
    throw error;
  }
  // Exec credential plugins (aws, gcloud, kubelogin) inherit process.env: they must see the user's
  // HOME, never root's. The working directory may be one the user cannot enter.
  for (const key of Object.keys(process.env)) if (!(key in userEnv)) delete process.env[key];
  Object.assign(process.env, userEnv);
  try {
    process.chdir(user.home);
  } catch {
    process.chdir("/");
  }
  return { env: userEnv, user, helper, write: (_path, entries) => helper.write(entries) };
}

/** The refusal for a normal user, with the exact command that works (sudo drops KUBECONFIG). */
function needsSudo(error: LocError, argv: readonly string[] | undefined, env: NodeJS.ProcessEnv): LocError {
  const args = [...(argv ?? ["daemon"])];
  if (env.KUBECONFIG && !args.includes("--kubeconfig")) args.push("--kubeconfig", env.KUBECONFIG.split(":")[0]!);
  const command = ["sudo", "loc", ...args.map(shellQuote)].join(" ");
  return new LocError(error.message, `only root can write it: ${command} (only a small helper keeps root), or pass --hosts-file PATH`, error.code);
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}
