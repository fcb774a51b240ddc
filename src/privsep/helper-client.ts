// The daemon's side of the root hosts helper: starts it (while the daemon is still root) and sends it
// the hosts block to write. Everything else the daemon does runs after it dropped privileges.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";
import type { LoopbackRange } from "../daemon/ip-allocator.js";
import type { LoopbackAliases } from "../daemon/loopback-aliases.js";
import { LocError } from "../errors.js";
import type { HostEntry } from "../hosts/host-entry.js";
import type { WriteOutcome } from "../hosts/hosts-io.js";
import { readHelperLine, readHelperMessage } from "./helper-answers.js";
import { formatRangeArg, LineSplitter, type WireError } from "./protocol.js";

export interface StartHostsHelperOptions {
  hostsFile: string;
  range: LoopbackRange;
  /** The helper's own log lines (counts only), without a newline. Defaults to this process's stderr. */
  log?: (line: string) => void;
  startTimeoutMs?: number;
  closeTimeoutMs?: number;
}

export interface HostsHelperClient {
  readonly pid: number;
  /** Replaces loc's whole block (`[]` removes it). Rejects with a LocError once the helper is dead. */
  write(entries: readonly HostEntry[]): Promise<WriteOutcome>;
  /** lo0 aliases through the helper (macOS); give it to the Daemon as its `loopback`. */
  readonly aliases: LoopbackAliases;
  /** A server listening on ip:port, bound by the helper (as root: ports below 1024 too). */
  listen(ip: string, port: number): Promise<net.Server>;
  /** Removes the block, ends the helper's stdin and waits for it to exit. */
  close(): Promise<void>;
  /** Resolves with why, if the helper exits without being asked to (never when close() ends it). */
  readonly died: Promise<string>;
  onDeath(callback: (reason: string) => void): void;
}

const HERE = import.meta.url;
// From source (tsx, vitest) this module is .ts and so is the helper; built, both are .js.
const SOURCE_EXTENSION = HERE.endsWith(".ts") ? ".ts" : ".js";
export const HELPER_ENTRY = fileURLToPath(new URL(`./helper-main${SOURCE_EXTENSION}`, HERE));

/** Node flags for the helper: ours (loaders included), plus tsx when running .ts without it (vitest). */
export function helperNodeArgs(execArgv: readonly string[] = process.execArgv): string[] {
  const args = execArgv.filter((arg) => !arg.startsWith("--inspect"));
  if (SOURCE_EXTENSION === ".ts" && !args.some((arg) => arg.includes("tsx"))) args.push("--import", "tsx");
  return args;
}

function deathError(reason: string): LocError {
  return new LocError(`loc's privileged hosts helper died (${reason})`, "restart sudo loc daemon; if loc's block is still in the hosts file, the next start removes it", "HOSTS_HELPER_DIED");
}

function unreadableAnswer(): LocError {
  return new LocError("loc's hosts helper sent an answer this daemon cannot read", "run the daemon and its helper from the same loc: restart sudo loc daemon", "HOSTS_HELPER_PROTOCOL");
}

function answerError(error: WireError): LocError {
  return new LocError(error.message, error.hint ?? "this is a bug in loc daemon: please report it", error.code ?? "HOSTS_HELPER_FAILED");
}

/** Starts the helper and waits until it has checked the hosts file and reads requests. */
export async function startHostsHelper(options: StartHostsHelperOptions): Promise<HostsHelperClient> {
  const child = spawn(process.execPath, [...helperNodeArgs(), HELPER_ENTRY, "--hosts-file", options.hostsFile, "--range", formatRangeArg(options.range)], {
    // The IPC channel carries bound listening sockets from the helper (see ListenRequest).
    stdio: ["pipe", "pipe", "pipe", "ipc"],
    detached: false,
  }) as ChildProcessWithoutNullStreams;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const client = new Client(child, options.closeTimeoutMs ?? 10_000);
  // What it says while loc daemon closes it in order (removing the block) is no news to the user.
  const logLines = new LineSplitter((line) => client.isClosing() || log(line), () => undefined, 64 * 1024);
  child.stderr.on("data", (chunk: Buffer) => logLines.push(chunk));
  await client.ready(options.startTimeoutMs ?? 15_000);
  return client;
}

class Client implements HostsHelperClient {
  readonly died: Promise<string>;
  readonly aliases: LoopbackAliases;
  private announceDeath: (reason: string) => void = () => undefined;
  private readonly pending = new Map<number, { resolve: (outcome: string) => void; reject: (error: unknown) => void }>();
  private readonly servers = new Map<number, net.Server>();
  private nextId = 1;
  private deadReason: string | undefined;
  private closing = false;
  private readonly exited: Promise<void>;
  private readyWaiter: { resolve: () => void; reject: (error: unknown) => void } | undefined;

  constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly closeTimeoutMs: number,
  ) {
    this.died = new Promise((resolve) => (this.announceDeath = resolve));
    this.aliases = {
      add: async (ip) => void (await this.request({ op: "alias", action: "add", ip })),
      remove: async (ip) => void (await this.request({ op: "alias", action: "remove", ip })),
    };
    // The helper's death is told by "exit"; a write racing it fails with EPIPE, which is no news.
    child.stdin.on("error", () => undefined);
    const lines = new LineSplitter((line) => this.onLine(line), () => this.onExit(null, null, "an answer too large"));
    // A bound server arrives with its answer; the daemon must not wait on the channel to exit.
    child.on("message", (value: unknown, handle: unknown) => {
      const message = readHelperMessage(value);
      if (message?.kind === "answer" && message.answer.ok && handle instanceof net.Server) {
        this.servers.set(message.answer.id, handle);
        this.onLine(JSON.stringify(value));
      }
    });
    child.channel?.unref();
    child.stdout.on("data", (chunk: Buffer) => lines.push(chunk));
    this.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.onExit(code, signal);
        resolve();
      });
      child.on("error", (error) => {
        this.onExit(null, null, error.message);
        resolve();
      });
    });
  }

  isClosing(): boolean {
    return this.closing;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  ready(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.kill("SIGKILL"); // still root here, so we may
        reject(new LocError(`loc's privileged hosts helper did not start within ${timeoutMs} ms`, "check that node can run as root here", "HOSTS_HELPER_START"));
      }, timeoutMs);
      this.readyWaiter = {
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (error) => (clearTimeout(timer), reject(error)),
      };
    });
  }

  onDeath(callback: (reason: string) => void): void {
    void this.died.then(callback);
  }

  async listen(ip: string, port: number): Promise<net.Server> {
    const id = this.nextId;
    await this.request({ op: "listen", ip, port });
    const server = this.servers.get(id);
    this.servers.delete(id);
    if (!server) throw new LocError(`loc's hosts helper answered without a socket for ${ip}:${port}`, "this is a bug in loc daemon: please report it", "HOSTS_HELPER_FAILED");
    return server;
  }

  async write(entries: readonly HostEntry[]): Promise<WriteOutcome> {
    const plain = entries.map((entry) => ({ ip: entry.ip, names: [...entry.names] }));
    return (await this.request({ op: "replace", entries: plain })) as WriteOutcome;
  }

  async close(): Promise<void> {
    if (this.deadReason !== undefined) return;
    const removed = this.request({ op: "replace", entries: [] });
    this.closing = true;
    let failure: unknown;
    await removed.catch((error: unknown) => (failure = error));
    this.child.stdin.end();
    // After the daemon dropped privileges it may not signal the root helper: waiting is all it can do.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), this.closeTimeoutMs)));
    const late = await Promise.race([this.exited.then(() => false), timedOut]);
    clearTimeout(timer);
    if (failure !== undefined) throw failure;
    if (late) throw new LocError(`loc's privileged hosts helper (pid ${this.pid}) did not exit`, `it removes loc's block when it does; else kill it: sudo kill ${this.pid}`, "HOSTS_HELPER_STUCK");
  }

  private request(body: Record<string, unknown>): Promise<string> {
    if (this.deadReason !== undefined) return Promise.reject(deathError(this.deadReason));
    if (this.closing) return Promise.reject(new LocError("loc's hosts helper is shutting down", "this is a bug in loc daemon: please report it", "HOSTS_HELPER_CLOSED"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin.write(`${JSON.stringify({ ...body, id })}\n`);
    });
  }

  private onLine(line: string): void {
    const message = readHelperLine(line);
    if (!message) return;
    if (message.kind === "ready") {
      if (message.ready) this.readyWaiter?.resolve();
      else this.readyWaiter?.reject(answerError(message.error ?? { message: "the hosts helper could not start" }));
      return;
    }
    const id = message.kind === "answer" ? message.answer.id : message.id;
    const waiter = id === null ? undefined : this.pending.get(id);
    if (!waiter || id === null) return;
    this.pending.delete(id);
    if (message.kind === "unreadable") waiter.reject(unreadableAnswer());
    else if (message.answer.ok) waiter.resolve(message.answer.outcome);
    else waiter.reject(answerError(message.answer.error));
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, problem?: string): void {
    if (this.deadReason !== undefined) return;
    const reason = problem ?? (signal ? `killed by ${signal}` : `exited with code ${code}`);
    this.deadReason = reason;
    this.readyWaiter?.reject(deathError(reason));
    for (const waiter of this.pending.values()) waiter.reject(deathError(reason));
    this.pending.clear();
    if (!this.closing) this.announceDeath(reason);
  }
}
