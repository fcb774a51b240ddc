// Entry point of the root hosts helper that `loc daemon` forks before it drops privileges. It loads
// only the hosts-file code (no kube client, no sqlite) and reads requests on stdin until stdin ends.
// Usage: helper-main --hosts-file PATH --range FIRST-LAST   (range as integers, see protocol.ts)
import { realpath } from "node:fs/promises";
import type { Server } from "node:net";
import { Lo0Aliases } from "../daemon/loopback-aliases.js";
import { errorMessage, LocError } from "../errors.js";
import { proveWritable } from "../hosts/hosts-io.js";
import { HostsHelper } from "./hosts-helper.js";
import { assertOnlyRootCanReplace } from "./safe-path.js";
import { type HelperAnswer, type HelperReady, LineSplitter, parseRangeArg } from "./protocol.js";

const log = (line: string) => process.stderr.write(`loc hosts helper: ${line}\n`);
const send = (message: HelperAnswer | HelperReady | { ready: false; error: { message: string; hint?: string; code?: string } }) =>
  process.stdout.write(`${JSON.stringify(message)}\n`);

// The daemon may be gone (SIGKILL): writing to it then fails with EPIPE, which must not kill us
// before the block is removed. Its death is seen as stdin ending.
process.stdout.on("error", () => undefined);
process.stderr.on("error", () => undefined);
// Ctrl-C and a closed terminal signal the whole process group; the daemon shuts down in order and
// then closes our stdin. Dying first would leave it without a way to clean the hosts file.
process.on("SIGINT", () => undefined);
process.on("SIGHUP", () => undefined);

/** A bound server goes to the daemon over the IPC channel; the answer travels with it. */
function sendServer(id: number, server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error("no IPC channel to loc daemon"));
    process.send({ id, ok: true, outcome: "listening" } satisfies HelperAnswer, server, undefined, (error: Error | null) => (error ? reject(error) : resolve()));
  });
}

function argument(name: string): string {
  const index = process.argv.indexOf(name);
  const value = index === -1 ? undefined : process.argv[index + 1];
  if (value === undefined) throw new LocError(`the hosts helper needs ${name}`, "it is started by loc daemon, not by hand", "HOSTS_HELPER_USAGE");
  return value;
}

async function main(): Promise<number> {
  let helper: HostsHelper;
  try {
    const range = parseRangeArg(argument("--range"));
    // Fixed once: requests carry entries, never a path.
    const hostsFile = await realpath(argument("--hosts-file")).catch(() => argument("--hosts-file"));
    // A real write, not access(): root passes access() on files it cannot write (/proc, read-only
    // mounts). It also removes a block a killed earlier run left behind.
    // Only when root: an unprivileged helper (tests, a user's own file) has nothing to abuse.
    if (process.getuid?.() === 0) await assertOnlyRootCanReplace(hostsFile);
    await proveWritable(hostsFile);
    const aliases = process.platform === "darwin" ? new Lo0Aliases() : undefined;
    helper = new HostsHelper({ hostsFile, range, send, log, aliases, sendServer });
  } catch (error) {
    const wire = error instanceof LocError ? { message: error.message, hint: error.hint, code: error.code } : { message: errorMessage(error) };
    send({ ready: false, error: wire });
    return 2;
  }

  const done = new Promise<string>((resolve) => {
    process.stdin.on("end", () => resolve("loc daemon closed the pipe"));
    process.stdin.on("error", (error) => resolve(`loc daemon's pipe failed (${errorMessage(error)})`));
    process.on("disconnect", () => resolve("loc daemon closed the channel"));
    process.on("SIGTERM", () => resolve("SIGTERM"));
  });
  const splitter = new LineSplitter(
    (line) => helper.handleLine(line),
    () => helper.handleOverlong(),
  );
  process.stdin.on("data", (chunk: Buffer) => splitter.push(chunk));
  send({ ready: true, pid: process.pid });
  const clean = await helper.shutdown(await done);
  return clean ? 0 : 1;
}

// Once the block is gone nothing holds the event loop but stdin (still open after a SIGTERM), so
// releasing it ends the process with this code, after stdout has drained.
process.exitCode = await main();
process.stdin.destroy();
process.disconnect?.();
