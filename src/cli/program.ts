import { cac } from "cac";
import { DEFAULT_IP_RANGE } from "../daemon/ip-allocator.js";
import { EXPOSE_DEFAULTS } from "../ipc/expose-defaults.js";
import { DEFAULT_FORWARD_TRANSPORT } from "../transports/forward-names.js";
import { LocError } from "../errors.js";
// Types only: each command's module (and whatever it pulls in: the Kubernetes client, ssh2, SQLite)
// is imported when that command runs, so `loc list` or `--version` start in tens of milliseconds.
// test/unit/cli/program.module-graph.unit.test.ts keeps it so; ADR 0010.
import type { DaemonFlags } from "./commands/daemon.js";
import type { DoctorFlags } from "./commands/doctor.js";
import type { EnvFlags } from "./commands/env.js";
import type { ExposeFlags } from "./commands/expose.js";
import type { HistoryFlags } from "./commands/history.js";
import type { ListFlags } from "./commands/list.js";
import type { RecoverFlags } from "./commands/recover.js";
import type { CliIO } from "./io.js";
import { VERSION } from "../version.js";

const REQUEST_TIMEOUT_HELP = "Give up on an API request not answered within this long, e.g. 10s, 2m (default: $LOC_REQUEST_TIMEOUT_MS ms, else 30s)";

/** Exit codes: 0 ok, 1 a LocError (the user can fix it), 2 bad usage, 70 a bug. */
export const EXIT = { ok: 0, error: 1, usage: 2, bug: 70 } as const;

/**
 * Parses argv and runs one command. Returns the exit code; never exits the process itself, so
 * tests drive it in-process and only main.ts decides when the process ends.
 */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const cli = cac("loc");
  let result: Promise<number> | undefined;
  cli.option("--state-dir <dir>", "Where loc keeps its database and socket (default: $LOC_STATE_DIR, $XDG_STATE_HOME/loc, ~/.local/state/loc)");

  cli
    .command("history", "Show the audit log of every event loc recorded")
    .option("--stream <id>", "Only this stream, e.g. daemon, tunnel:ns/svc, expose:<id>")
    .option("--service <ns/svc>", "Only events about this service, from any stream")
    .option("--type <type>", "Only this event type or family (tunnel.*); repeatable", { type: [String] })
    .option("--since <when>", "From this time: a duration ago (2h, 30m) or an ISO time")
    .option("--until <when>", "Before this time: a duration ago or an ISO time")
    .option("--limit <n>", "Only the newest N events (printed oldest first)")
    .option("-f, --follow", "Keep printing new events as they are recorded (Ctrl-C to stop)")
    .option("--json", "Print NDJSON, one event per line")
    .example("loc history --service default/web --since 2h")
    .action((flags: HistoryFlags) => {
      result = import("./commands/history.js").then((m) => m.historyCommand(flags, io));
    });

  cli
    .command("daemon", "Tunnel every Service to a loopback address and write its names into the hosts file")
    .option("-n, --namespace <ns>", "Watch this namespace; repeatable (default: all)", { type: [String] })
    .option("-l, --selector <selector>", "Only Services matching this label selector")
    .option("--exclude-namespace <ns>", "Skip this namespace; repeatable (default: kube-system)", { type: [String] })
    .option("--context <name>", "kubeconfig context (default: the current one)")
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    .option("--cluster-domain <domain>", "Cluster DNS domain for the long names", { default: "cluster.local" })
    .option("--hosts-file <path>", "Hosts file to keep loc's block in", { default: "/etc/hosts" })
    .option("--ip-range <cidr>", "Loopback range for Service addresses", { default: DEFAULT_IP_RANGE })
    .option("--request-timeout <duration>", REQUEST_TIMEOUT_HELP)
    .option("--transport <name>", `How tunnels reach pods: spdy (one multiplexed session per pod) or websocket (one upgrade per connection, for API servers or proxies that refuse SPDY)`, { default: DEFAULT_FORWARD_TRANSPORT })
    .option("--user <name>", "As root: act as this user, keeping root only in a small hosts-file helper (default under sudo: the user who ran sudo)")
    .example("sudo loc daemon -n shop -n payments")
    .action((flags: DaemonFlags) => {
      // The whole daemon graph loads here, before it drops root: nothing is imported as the user later.
      result = import("./commands/daemon.js").then((m) => m.daemonCommand(flags, io, argv));
    });

  cli
    .command("doctor", "Check what loc needs: kubeconfig, API server, RBAC per command, hosts file, state dir, daemon, proxy image")
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    .option("--context <name>", "kubeconfig context (default: the current one)")
    .option("-n, --namespace <ns>", "Check permissions in this namespace; repeatable (default: all namespaces)", { type: [String] })
    .option("--hosts-file <path>", "Hosts file the daemon would write", { default: "/etc/hosts" })
    .option("--image <ref>", `Proxy pod image to check (default: ${EXPOSE_DEFAULTS.image})`)
    .option("--json", "Print { ok, checks: [...] } as JSON")
    .example("loc doctor -n shop")
    .action((flags: DoctorFlags) => {
      result = import("./commands/doctor.js").then((m) => m.doctorCommand(flags, io));
    });

  cli
    .command("env [target]", "Print a workload's environment as its pods get it (env, envFrom, ConfigMaps, Secrets, fieldRefs), or run a command with it")
    .option("-c, --container <name>", "This container (default: the one serving the Service's target port, else the first)")
    .option("--json", "Print a JSON object")
    .option("--export", "Print export lines for a POSIX shell: eval \"$(loc env shop/web --export)\"")
    .option("-o, --output <file>", "Write the file (mode 0600, atomically) instead of printing")
    .option("--skip-secrets", "Leave out what comes from Secrets (without get on secrets, loc env otherwise fails)")
    .option("--context <name>", "kubeconfig context (default: the current one)")
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    .option("--request-timeout <duration>", REQUEST_TIMEOUT_HELP)
    .example("loc env shop/web > .env")
    .example("loc env shop/deploy/web -c app --json")
    .example("loc env shop/web -- npm start")
    .action((target: string | undefined, flags: EnvFlags) => {
      result = import("./commands/env.js").then((m) => m.envCommand(target, flags, io));
    });

  cli
    .command("expose [ns/svc]", "Send a Service's cluster traffic to this machine (through the running daemon) until Ctrl-C")
    .option("--transport <name>", "How traffic reaches this machine", { default: EXPOSE_DEFAULTS.transport })
    .option("--strategy <name>", "scale: scale the workloads to 0 and stand in for their pods; selector: point the Service at the proxy, app pods keep running", { default: EXPOSE_DEFAULTS.strategy })
    .option("--map <local:remote>", "Send the Service's port REMOTE (port, target port or name) to local port LOCAL; repeatable (default: same port)", { type: [String] })
    .option("--stop", "Stop a running expose of this Service and put the cluster back")
    .option("-d, --detach", "Return once active; the daemon keeps the expose until --stop or shutdown")
    .option("--json", "Print NDJSON, one step per line")
    .option("--image <ref>", `Proxy pod image with OpenSSH's sshd (default: ${EXPOSE_DEFAULTS.image})`)
    .option("--ssh-user <name>", `User sshd runs as in the proxy pod (default: ${EXPOSE_DEFAULTS.user})`)
    .option("--run-as-user <uid>", `That user's uid (default: ${EXPOSE_DEFAULTS.runAsUser})`)
    .option("--ssh-port <port>", `Port sshd listens on in the proxy pod (default: ${EXPOSE_DEFAULTS.sshPort})`)
    .option("--ready-timeout <duration>", `How long the proxy pod may take to be Ready (default: ${EXPOSE_DEFAULTS.readyTimeoutMs / 1000}s)`)
    .option("--connect-timeout <duration>", `How long the first connection may take (default: ${EXPOSE_DEFAULTS.connectTimeoutMs / 1000}s)`)
    .option("--overrides <json>", "A partial Pod merged into the proxy pod, e.g. nodeSelector or tolerations")
    .option("--env-file <path>", "When active, write the workload's environment (as it was before scaling) to this dotenv file, mode 0600 (see loc env)")
    .option("--env-output <path>", "The same as --env-file, for Node 20, which takes --env-file for itself wherever it is on the command line")
    .option("--skip-secrets", "With --env-file: leave out what comes from Secrets")
    .option("--context <name>", "With --env-file: kubeconfig context to read the environment with (default: the current one)")
    .option("--kubeconfig <path>", "With --env-file: kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    .example("loc expose shop/web --map 3000:8080")
    .example("loc expose shop/web --strategy selector")
    .example("loc expose shop/web --env-file .env")
    .example("loc expose --stop shop/web")
    .action((ref: string | undefined, flags: ExposeFlags) => {
      result = import("./commands/expose.js").then((m) => m.exposeCommand(ref, flags, io));
    });

  cli
    .command("list", "Show the running daemon's tunnels and exposes: state, pod, address, ports, traffic")
    .option("--json", "Print the daemon's status as JSON (with --watch: NDJSON, one status per change)")
    .option("-w, --watch", "Reprint on every change until Ctrl-C")
    .example("loc list --watch")
    .action((flags: ListFlags) => {
      result = import("./commands/list.js").then((m) => m.listCommand(flags, io));
    });

  cli
    .command("recover", "Undo what crashed sessions of this owner left: scaled-down workloads, proxy pods, loc's annotations, hosts block, stale daemon files")
    .option("--from-cluster", "Find this owner's leftovers by their labels and annotations in the cluster (when the state dir is lost)")
    .option("-n, --namespace <ns>", "With --from-cluster: only this namespace (default: all)")
    .option("--hosts-file <path>", "Also remove loc's block from this hosts file (default: the files recorded by daemons that died)")
    .option("--dry-run", "Print the plan without changing anything")
    .option("--json", "Print the report as one JSON object")
    .option("--context <name>", "kubeconfig context (default: the current one)")
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    .option("--request-timeout <duration>", REQUEST_TIMEOUT_HELP)
    .example("loc recover --dry-run")
    .example("loc recover --from-cluster")
    .action((flags: RecoverFlags) => {
      result = import("./commands/recover.js").then((m) => m.recoverCommand(flags, io));
    });

  cli.help();
  cli.version(VERSION);
  try {
    cli.parse(["node", "loc", ...argv], { run: false });
    if (!cli.matchedCommand) {
      if (cli.options.help || cli.options.version) return EXIT.ok;
      const name = cli.args[0];
      if (name !== undefined) {
        throw new LocError(`unknown command "${name}"`, "run loc --help to see the commands", "USAGE");
      }
      cli.outputHelp();
      return EXIT.ok;
    }
    await cli.runMatchedCommand();
    return await (result ?? Promise.resolve(EXIT.ok));
  } catch (error) {
    return report(error, io);
  }
}

function report(error: unknown, io: CliIO): number {
  if (error instanceof LocError) {
    io.stderr(error.toLine() + "\n");
    return error.code === "USAGE" ? EXIT.usage : EXIT.error;
  }
  if (error instanceof Error && error.name === "CACError") {
    io.stderr(`loc: ${error.message} (hint: see loc --help)\n`);
    return EXIT.usage;
  }
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  io.stderr(`loc: internal error, please report it: ${detail}\n`);
  return EXIT.bug;
}
