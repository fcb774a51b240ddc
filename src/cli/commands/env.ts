import { LocError } from "../../errors.js";
import { gatherInput } from "../../env/gather.js";
import { locate } from "../../env/locate.js";
import type { EnvResult } from "../../env/model.js";
import { formatEnvironment, type EnvFormat } from "../../env/format.js";
import { describeOrigins, forbiddenSecretsError, warnings } from "../../env/report.js";
import { resolveEnvironment } from "../../env/resolve.js";
import { runWithEnvironment } from "../../env/run-command.js";
import { parseEnvTarget } from "../../env/target.js";
import { writePrivateFile } from "../../env/write-file.js";
import { KubeEnvCluster } from "../../kube/kube-env-cluster.js";
import { loadKubeConfig } from "../../kube/kubeconfig.js";
import { requestTimeoutMs } from "../../kube/request-timeout.js";
import type { CliIO } from "../io.js";

export interface EnvFlags {
  container?: string;
  json?: boolean;
  export?: boolean;
  output?: string;
  skipSecrets?: boolean;
  kubeconfig?: string;
  context?: string;
  requestTimeout?: string | number;
  "--"?: string[];
}

export interface ReadOptions {
  container?: string;
  skipSecrets?: boolean;
  kubeconfig?: string;
  context?: string;
  requestTimeout?: string | number;
}

/**
 * Reads the environment of `target` from the cluster (read-only) and resolves it as the kubelet
 * would; prints what was left out to stderr; throws when Secrets could not be read.
 */
export async function readEnvironment(targetText: string, options: ReadOptions, io: CliIO, prefix: string): Promise<EnvResult & { source: string }> {
  const target = parseEnvTarget(targetText);
  const timeoutMs = requestTimeoutMs(options.requestTimeout, io.env);
  const cluster = new KubeEnvCluster(loadKubeConfig(options.kubeconfig, options.context, io.env), timeoutMs);
  const where = await locate(cluster, target, options.container === undefined ? undefined : String(options.container));
  const result = resolveEnvironment(await gatherInput(cluster, where, { skipSecrets: Boolean(options.skipSecrets) }));
  const refused = forbiddenSecretsError(result, where.namespace);
  if (refused) throw refused;
  for (const line of warnings(result, [])) io.stderr(`${prefix}: ${line}\n`);
  return { ...result, source: `${where.source}, container ${where.container.name}` };
}

/** `loc env TARGET`: print the environment, write it to a file, or run a command with it. */
export async function envCommand(targetText: string | undefined, flags: EnvFlags, io: CliIO): Promise<number> {
  if (targetText === undefined) throw new LocError("whose environment? loc env needs a target", "e.g. loc env shop/web, loc env shop/deploy/web", "USAGE");
  if (flags.json && flags.export) throw new LocError("--json and --export are two formats; pick one", "dotenv is the default", "USAGE");
  const command = flags["--"] ?? [];
  const result = await readEnvironment(String(targetText), flags, io, "loc env");
  if (command.length > 0) {
    if (flags.output !== undefined) await write(String(flags.output), result, "dotenv", io);
    return runWithEnvironment(command, { ...io.env, ...Object.fromEntries(result.vars) }, io.signal);
  }
  const format: EnvFormat = flags.json ? "json" : flags.export ? "export" : "dotenv";
  if (flags.output !== undefined) return write(String(flags.output), result, format, io);
  const { text, skipped } = formatEnvironment(result.vars, format);
  for (const { name, reason } of skipped) io.stderr(`loc env: ${name} left out: ${reason}\n`);
  io.stdout(text);
  return 0;
}

async function write(path: string, result: EnvResult & { source: string }, format: EnvFormat, io: CliIO): Promise<number> {
  const { text, skipped } = formatEnvironment(result.vars, format);
  for (const { name, reason } of skipped) io.stderr(`loc env: ${name} left out: ${reason}\n`);
  await writeEnvFile(path, text);
  io.stderr(`loc env: wrote ${path} (0600): ${result.vars.size} variables of ${result.source}: ${describeOrigins(result.origins)}\n`);
  return 0;
}

export async function writeEnvFile(path: string, text: string): Promise<void> {
  try {
    await writePrivateFile(path, text);
  } catch (error) {
    throw new LocError(`cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, "check the directory exists and is writable", "WRITE_FAILED");
  }
}
