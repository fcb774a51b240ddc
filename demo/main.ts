// `npm run demo [-- --keep]`: loc in both directions against the local test cluster, no root and no
// cluster of your own. Whatever happens (the end, Ctrl-C, a failure), what it started is torn down.
import { checkPrerequisites, MissingPrerequisite, type DemoPorts } from "./prerequisites.js";
import { locEntryPoint } from "./loc-cli.js";
import { teardown } from "./teardown.js";
import { say } from "./transcript.js";
import { IP_RANGE, walkthrough, type Running } from "./walkthrough.js";

const usage = `usage: npm run demo [-- --keep]
  --keep   leave the demo running and print how to use it from another terminal; Ctrl-C tears it down
environment: LOC_DEMO_LAPTOP_PORT (default 3000), LOC_DEMO_POD_PORT (default 18080), LOC_SSHD, LOC_CLUSTER_CACHE`;

function portFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new MissingPrerequisite(`${name}=${process.env[name]} is not a port`, "a number from 1 to 65535");
  return value;
}

/** Set on Ctrl-C: a step then failing (its kubectl got the signal too) is part of stopping, not news. */
let interrupted = false;

async function finish(code: number): Promise<never> {
  await teardown({ failed: code === 1 });
  if (code === 0) say("the demo is over; nothing it started is left running");
  // eslint-disable-next-line no-restricted-syntax -- an entry point like src/cli/main.ts; API clients may keep sockets open
  process.exit(code);
}

function printKeepInstructions({ cluster, daemon, webAddress }: Running): void {
  const cli = `node ${locEntryPoint()}`;
  say("the demo keeps running. From another terminal (loc is `npx loc` in this checkout, or " + cli + "):");
  for (const line of [
    `LOC_STATE_DIR=${daemon.stateDir} npx loc list`,
    `LOC_STATE_DIR=${daemon.stateDir} npx loc history --follow`,
    `curl --resolve web.shop:8080:${webAddress} http://web.shop:8080/`,
    `${cluster.bin}/kubectl --kubeconfig ${cluster.kubeconfig} -n shop get pods`,
  ]) {
    process.stdout.write(`    ${line}\n`);
  }
  say(`the daemon's log: ${daemon.logFile}`);
  say(`tear everything down: Ctrl-C here (or kill -INT ${process.pid})`);
}

async function main(argv: string[]): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const unknown = argv.filter((arg) => arg !== "--keep");
  if (unknown.length > 0) throw new MissingPrerequisite(`unknown argument ${unknown.join(" ")}`, usage.split("\n")[0] ?? "");
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      interrupted = true;
      process.stdout.write("\n");
      say(`${signal === "SIGINT" ? "Ctrl-C" : signal}: stopping`);
      void finish(130);
    });
  }
  const ports: DemoPorts = {
    laptop: portFromEnv("LOC_DEMO_LAPTOP_PORT", 3000),
    apiPod: portFromEnv("LOC_DEMO_POD_PORT", 18080),
    daemonIp: IP_RANGE.replace(/0\/\d+$/, "1"),
  };
  await checkPrerequisites(ports);
  const running = await walkthrough(ports);
  if (argv.includes("--keep")) {
    printKeepInstructions(running);
    return; // the servers, the sshd and the daemon keep the demo alive until a signal
  }
  await finish(0);
}

main(process.argv.slice(2)).catch(async (error: unknown) => {
  if (interrupted) return;
  if (error instanceof MissingPrerequisite) process.stderr.write(`demo: ${error.message} (hint: ${error.hint})\n`);
  else process.stderr.write(`demo: failed: ${error instanceof Error ? error.message : String(error)}\n`);
  await finish(1);
});
