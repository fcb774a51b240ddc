import { hostname } from "node:os";
import { delimiter, resolve } from "node:path";
import Database from "better-sqlite3";
import { Daemon } from "../../daemon/daemon.js";
import { ExposeManager } from "../../daemon/expose-manager.js";
import { safeRecorder } from "../../daemon/record.js";
import { DEFAULT_IP_RANGE, parseLoopbackRange, type LoopbackRange } from "../../daemon/ip-allocator.js";
import type { WatchScope } from "../../daemon/scope.js";
import { serveDaemon } from "../../ipc/server.js";
import { acquireDaemonLock } from "../../daemon/single-instance.js";
import { LocError } from "../../errors.js";
import { HostsFileWriter } from "../../hosts/writer.js";
import { ownerId } from "../../expose/identity.js";
import { KubeExposeCluster } from "../../kube/kube-expose-cluster.js";
import { loadKubeConfig } from "../../kube/kubeconfig.js";
import { parseLabelSelector } from "../../kube/label-selector.js";
import { requestTimeoutMs } from "../../kube/request-timeout.js";
import { KubeWatchPort } from "../../kube/kube-watch-port.js";
import { checkNamespaceName } from "../../kube/service-ref.js";
import { KILL_SWITCH_ENV, withKillSwitch } from "../../daemon/kill-switch.js";
import { recoverBeforeServing } from "../../recover/at-start.js";
import { ANY_VERSION } from "../../store/event-store.js";
import { openStateStore } from "../../store/open-store.js";
import { ensureStateDir, resolveStateDir } from "../../store/state-dir.js";
import { DAEMON_STREAM } from "../../store/streams.js";
import { defaultTransports } from "../../transports/default-transports.js";
import { checkForwardTransport, DEFAULT_FORWARD_TRANSPORT } from "../../transports/forward-names.js";
import { settlePrivileges, type Settled } from "../../privsep/become-user.js";
import { VERSION } from "../../version.js";
import type { CliIO } from "../io.js";

export interface DaemonFlags {
  stateDir?: string;
  namespace?: string[];
  selector?: string;
  excludeNamespace?: string[];
  context?: string;
  kubeconfig?: string;
  clusterDomain?: string;
  hostsFile?: string;
  ipRange?: string;
  /** `--request-timeout`: see requestTimeoutMs in src/kube/request-timeout.ts. */
  requestTimeout?: string | number;
  /** As root: the user to act as (default: sudo's SUDO_USER). */
  user?: string;
  /** The forward transport's name (`spdy`, `websocket`). */
  transport?: string;
}

export { DEFAULT_IP_RANGE };

/** The scope flags, every one checked before anything is touched. */
export function parseScopeFlags(flags: DaemonFlags): WatchScope {
  const namespaces = (flags.namespace ?? []).map(String);
  const explicitExcludes = flags.excludeNamespace?.map(String);
  for (const ns of [...namespaces, ...(explicitExcludes ?? [])]) checkNamespaceName(ns);
  // kube-system is skipped by default, unless asked for by name.
  const excludeNamespaces = explicitExcludes ?? (namespaces.includes("kube-system") ? [] : ["kube-system"]);
  const labelSelector = flags.selector === undefined ? undefined : String(flags.selector);
  // The server's own grammar, checked here: a selector it would refuse must not start a daemon that
  // then serves nothing forever.
  if (labelSelector !== undefined) parseLabelSelector(labelSelector);
  return { namespaces, excludeNamespaces, labelSelector };
}

export async function daemonCommand(given: DaemonFlags, io: CliIO, argv?: readonly string[]): Promise<number> {
  // Paths as typed, made absolute now: under sudo the daemon moves to the user's home when it drops root.
  const flags = { ...given, kubeconfig: absolutePath(given.kubeconfig), stateDir: absolutePath(given.stateDir), hostsFile: absolutePath(given.hostsFile) };
  const env = { ...io.env, KUBECONFIG: io.env.KUBECONFIG?.split(delimiter).map((file) => (file ? resolve(file) : file)).join(delimiter) };
  if (env.KUBECONFIG === undefined) delete env.KUBECONFIG;
  const scope = parseScopeFlags(flags);
  const ipRange = parseLoopbackRange(flags.ipRange ?? DEFAULT_IP_RANGE);
  const clusterDomain = String(flags.clusterDomain ?? "cluster.local");
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(clusterDomain)) {
    throw new LocError(`--cluster-domain "${clusterDomain}" is not a domain`, "e.g. cluster.local", "BAD_FLAG");
  }
  const timeoutMs = requestTimeoutMs(flags.requestTimeout, env);
  const forward = checkForwardTransport(String(flags.transport ?? DEFAULT_FORWARD_TRANSPORT));
  const hostsFile = String(flags.hostsFile ?? "/etc/hosts");
  const log = (line: string) => io.stderr(`${line}\n`);
  // Who we are is settled before anything of the user's is read: under sudo the hosts file goes to a
  // root helper and the rest of this function runs as the user, with the user's environment.
  preloadSqlite();
  const settled = await settlePrivileges({ flagUser: flags.user, hostsFile, range: ipRange, argv, log }, env);
  try {
    return await serve(flags, io, { scope, ipRange, clusterDomain, timeoutMs, hostsFile, log, settled, forward });
  } finally {
    // Said, not thrown: a helper slow to exit must not hide why the daemon stopped.
    await settled.helper?.close().catch((error: unknown) => log(`loc daemon: ${error instanceof LocError ? error.toLine() : String(error)}`));
  }
}

/** Every flag checked and every setting resolved: what `serve` starts the daemon with. */
interface DaemonSetup {
  scope: WatchScope;
  ipRange: LoopbackRange;
  clusterDomain: string;
  timeoutMs: number;
  hostsFile: string;
  log: (line: string) => void;
  settled: Settled;
  forward: string;
}

async function serve(flags: DaemonFlags, io: CliIO, setup: DaemonSetup): Promise<number> {
  const { scope, ipRange, clusterDomain, timeoutMs, hostsFile, log, settled, forward } = setup;
  const env = settled.env;
  const kubeConfig = loadKubeConfig(flags.kubeconfig, flags.context, env);
  const transports = defaultTransports(kubeConfig, { forward });
  const transport = transports.get("forward", forward);
  const stateDir = resolveStateDir(flags.stateDir, env);
  ensureStateDir(stateDir);
  const lock = await acquireDaemonLock(stateDir);
  try {
    const opened = openStateStore(stateDir, "write", env);
    const owner = ownerId(env);
    const cluster = new KubeExposeCluster(kubeConfig, { timeoutMs });
    const clusterUrl = kubeConfig.getCurrentCluster()?.server;
    // Before serving: whatever an earlier run of this state dir left unfinished is undone first.
    await recoverBeforeServing({ store: opened, owner, cluster, clusterUrl, log });
    const store = withKillSwitch(opened, env[KILL_SWITCH_ENV]);
    const hosts = new HostsFileWriter({
      path: hostsFile,
      write: settled.write,
      onWrite: (_outcome, entries) =>
        store.append(DAEMON_STREAM, [{ type: "hosts.written", data: { path: hostsFile, names: entries.reduce((n, e) => n + e.names.length, 0) } }], ANY_VERSION),
      onError: (error) => log(`loc: hosts file not updated: ${(error as Error).message}`),
    });
    const exposes = new ExposeManager({
      cluster,
      clusterUrl,
      transports,
      owner,
      record: safeRecorder(store, log),
    });
    const identity = { server: clusterUrl ?? "the API server", context: kubeConfig.getCurrentContext() || undefined, user: kubeConfig.getCurrentUser()?.name };
    const daemon = new Daemon({
      cluster: identity,
      watchPort: new KubeWatchPort(kubeConfig, { timeoutMs }),
      transport,
      store,
      hosts,
      hostsFile,
      scope,
      clusterDomain,
      ipRange,
      version: VERSION,
      reservedNames: [hostname()],
      log,
      exposes,
      loopback: settled.helper && process.platform === "darwin" ? settled.helper.aliases : undefined,
      bindPrivileged: settled.helper ? (ip, port) => settled.helper!.listen(ip, port) : undefined,
    });
    const server = await serveDaemon(daemon, stateDir);
    log(`loc daemon ${VERSION}: cluster ${identity.server}, context ${identity.context ?? "-"}, user ${identity.user ?? "-"}; ${describeRunAs(settled, owner)}; ${daemon.status().scope}; hosts file ${hostsFile}; socket ${server.path}`);
    daemon.start();
    const stopped = aborted(io.signal).then(() => "aborted" as const);
    // The helper is the only way to the hosts file: without it the names would silently go stale.
    const helperDied = settled.helper ? settled.helper.died.then((reason) => new LocError(`loc's privileged hosts helper died (${reason})`, `restart it: sudo loc daemon; loc's names stay in ${hostsFile} until then and point at addresses nothing listens on`, "HOSTS_HELPER_DIED")) : new Promise<never>(() => undefined);
    let ending = await Promise.race([daemon.ready.then(() => "ready" as const), daemon.fatal, helperDied, stopped]);
    if (ending === "ready") {
      log(`loc daemon: ready, ${daemon.status().tunnels.length} tunnels listening`);
      ending = await Promise.race([stopped, daemon.fatal, helperDied]);
    }
    const fatal = ending instanceof LocError ? ending : undefined;
    log(fatal ? "loc daemon: cannot serve; shutting down" : "loc daemon: shutting down");
    // Exposes first, while their commands are still connected to hear the undo.
    await exposes.stopAll("daemon shut down");
    await server.close();
    await daemon.stop(fatal ? `cannot serve: ${fatal.message}` : "daemon shut down (signal)");
    store.close();
    if (fatal) throw fatal;
    return 0;
  } finally {
    lock.release();
  }
}

function absolutePath(path: string | undefined): string | undefined {
  return path === undefined ? undefined : resolve(String(path));
}

/** better-sqlite3 loads its native addon on first use: do it as root, before the install may be unreadable. */
function preloadSqlite(): void {
  new Database(":memory:").close();
}

function describeRunAs(settled: Settled, owner: string): string {
  const uid = process.getuid?.();
  if (settled.user) return `running as ${settled.user.name} (uid ${uid}), hosts file through root helper pid ${settled.helper?.pid}; owner ${owner}`;
  return `running as uid ${uid}; owner ${owner}`;
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
}
