import { LocError } from "../../errors.js";
import { converseExpose } from "../../ipc/expose-client.js";
import { toExposeSpec } from "../../ipc/expose-params.js";
import type { ExposeEnd, ExposeParams, ExposeRequest } from "../../ipc/protocol.js";
import { formatServiceRef, parseServiceRef } from "../../kube/service-ref.js";
import { clientEnvironment } from "../../privsep/drop-privileges.js";
import { resolveStateDir } from "../../store/state-dir.js";
import { formatExposeEvent } from "../format-expose.js";
import type { CliIO } from "../io.js";

export interface ExposeFlags {
  stateDir?: string;
  transport?: string;
  strategy?: string;
  map?: string | string[];
  stop?: boolean;
  detach?: boolean;
  json?: boolean;
  image?: string;
  sshUser?: string;
  sshPort?: string | number;
  runAsUser?: string | number;
  readyTimeout?: string | number;
  connectTimeout?: string | number;
  overrides?: string;
  envFile?: string;
  /** --env-file under another name: Node 20 itself takes `--env-file` from anywhere on its command line. */
  envOutput?: string;
  skipSecrets?: boolean;
  kubeconfig?: string;
  context?: string;
}

/** Reads the Service's environment and returns the dotenv text and a names-only summary (tests pass their own). */
export type EnvFileReader = (service: string, flags: ExposeFlags, io: CliIO) => Promise<{ text: string; summary: string }>;

/**
 * --env-file: the environment is read here, in the CLI, before the daemon is asked for anything, so
 * it is the workload's as it was before scaling, and secret values never pass through the daemon,
 * its log or the event store. Loaded only when the flag is given (the expose client stays light).
 */
const readEnvFile: EnvFileReader = async (service, flags, io) => {
  const [{ readEnvironment }, { formatEnvironment }, { describeOrigins }] = await Promise.all([
    import("./env.js"),
    import("../../env/format.js"),
    import("../../env/report.js"),
  ]);
  const options = { ...(flags.skipSecrets ? { skipSecrets: true } : {}), ...(flags.kubeconfig !== undefined ? { kubeconfig: String(flags.kubeconfig) } : {}), ...(flags.context !== undefined ? { context: String(flags.context) } : {}) };
  const result = await readEnvironment(service, options, io, "loc");
  const { text, skipped } = formatEnvironment(result.vars, "dotenv");
  for (const { name, reason } of skipped) io.stderr(`loc: ${name} left out of the env file: ${reason}\n`);
  return { text, summary: `${result.vars.size} variables of ${result.source}: ${describeOrigins(result.origins)}` };
};

/**
 * Every flag checked before the daemon is asked for anything; what the user left out stays out, and
 * the daemon fills it from EXPOSE_DEFAULTS (src/ipc/expose-defaults.ts).
 */
export function parseExposeFlags(ref: string | undefined, flags: ExposeFlags): ExposeRequest {
  const envFile = flags.envFile ?? flags.envOutput;
  if (ref === undefined) throw new LocError("which service? loc expose needs ns/svc", "e.g. loc expose shop/web", "USAGE");
  const service = formatServiceRef(parseServiceRef(String(ref)));
  if (flags.stop) {
    if (envFile !== undefined) throw new LocError("--env-file goes with an expose, not --stop", `e.g. loc expose ${service} --env-file .env`, "USAGE");
    return { method: "unexpose", params: { service } };
  }
  const maps = ([] as unknown[]).concat(flags.map ?? []).map(String);
  const params: ExposeParams = {
    service,
    ...(flags.transport !== undefined ? { transport: String(flags.transport) } : {}),
    ...(flags.strategy !== undefined ? { strategy: String(flags.strategy) } : {}),
    maps,
    ...(flags.image !== undefined ? { image: String(flags.image) } : {}),
    ...(flags.sshUser !== undefined ? { user: String(flags.sshUser) } : {}),
    ...(flags.sshPort !== undefined ? { sshPort: integerFlag("--ssh-port", flags.sshPort, 1, 65535) } : {}),
    ...(flags.runAsUser !== undefined ? { runAsUser: integerFlag("--run-as-user", flags.runAsUser, 1, 2 ** 31 - 1) } : {}),
    ...(flags.readyTimeout !== undefined ? { readyTimeoutMs: seconds("--ready-timeout", flags.readyTimeout) } : {}),
    ...(flags.connectTimeout !== undefined ? { connectTimeoutMs: seconds("--connect-timeout", flags.connectTimeout) } : {}),
    ...(flags.overrides !== undefined ? { overrides: overridesFlag(flags.overrides) } : {}),
    ...(flags.detach ? { detach: true } : {}),
  };
  toExposeSpec(params); // the daemon's own check, run here to fail before connecting
  return { method: "expose", params };
}

/**
 * `loc expose ns/svc`: asks the daemon to send the Service's cluster traffic here, prints each step
 * as it happens, and (in the foreground) keeps it until Ctrl-C, which undoes everything.
 */
export async function exposeCommand(ref: string | undefined, flags: ExposeFlags, io: CliIO, readEnv: EnvFileReader = readEnvFile): Promise<number> {
  const request = parseExposeFlags(ref, flags);
  const stateDir = resolveStateDir(flags.stateDir, clientEnvironment(io.env));
  const envPath = flags.envFile ?? flags.envOutput;
  const envFile = envPath !== undefined && request.method === "expose" ? { path: String(envPath), ...(await readEnv(request.params.service, flags, io)) } : undefined;
  let written: Promise<void> | undefined;
  let announced = false;
  const { session, end } = await converseExpose(
    stateDir,
    request,
    {
      onEvent: (event, id, time) => {
        if (event.type === "expose.active" && envFile && !written) written = writeEnvFileOnce(envFile, io);
        if (flags.json) return io.stdout(JSON.stringify({ time: new Date(time).toISOString(), session: id, type: event.type, data: event.data }) + "\n");
        if (!announced) {
          announced = true;
          io.stderr(`loc: session ${id}; every step is in: loc history --stream expose:${id}\n`);
        }
        const line = formatExposeEvent(event);
        if (line !== undefined) io.stdout(line + "\n");
        if (event.type === "expose.active" && !flags.detach) io.stderr("loc: exposed; Ctrl-C stops it and puts the cluster back\n");
      },
    },
    request.method === "expose" ? io.signal : undefined,
  );
  await written;
  return finish(request.params.service, session, end, flags, io);
}

/** Written when the expose turns active; a failure is said but does not stop the expose. */
async function writeEnvFileOnce(envFile: { path: string; text: string; summary: string }, io: CliIO): Promise<void> {
  const { writeEnvFile } = await import("./env.js");
  try {
    await writeEnvFile(envFile.path, envFile.text);
    io.stderr(`loc: wrote ${envFile.path} (0600): ${envFile.summary}\n`);
  } catch (error) {
    io.stderr(`${error instanceof LocError ? error.toLine() : String(error)}\n`);
  }
}

function finish(service: string, session: string, end: ExposeEnd, flags: ExposeFlags, io: CliIO): number {
  if (flags.json) io.stdout(JSON.stringify({ session, end }) + "\n");
  if (end.state === "detached") {
    if (!flags.json) io.stderr(`loc: ${service} stays exposed in the daemon; stop it with: loc expose --stop ${service}\n`);
    return 0;
  }
  if (end.state === "stopped") return 0;
  const hint = end.hint ?? (end.undone ? `the cluster was put back as it was; each step: loc history --stream expose:${session}` : "nothing was changed");
  throw new LocError(`expose of ${service} failed: ${end.error}`, hint, "EXPOSE_FAILED");
}

function integerFlag(name: string, value: string | number, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new LocError(`${name} ${value} is not a number from ${min} to ${max}`, `e.g. ${name} ${min === 1 && max === 65535 ? 2222 : 1000}`, "BAD_FLAG");
  return n;
}

/** `90`, `90s`, `2m`: a timeout in milliseconds. */
function seconds(name: string, value: string | number): number {
  const match = /^(\d+(?:\.\d+)?)(s|m)?$/.exec(String(value));
  const n = Number(match?.[1]);
  if (!match || !(n > 0)) throw new LocError(`${name} ${value} is not a duration`, `e.g. ${name} 90s or ${name} 2m`, "BAD_FLAG");
  return Math.round(n * (match[2] === "m" ? 60_000 : 1_000));
}

function overridesFlag(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new LocError("--overrides is not a JSON object", `e.g. --overrides '{"spec":{"nodeSelector":{"pool":"dev"}}}'`, "BAD_FLAG");
  }
  return value as Record<string, unknown>;
}
