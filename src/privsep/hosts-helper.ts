// What the root hosts helper does with each line the daemon sends, kept apart from the process
// plumbing (helper-main.ts) so it can be tested in-process.
import * as fsp from "node:fs/promises";
import net from "node:net";
import type { LoopbackRange } from "../daemon/ip-allocator.js";
import type { LoopbackAliases } from "../daemon/loopback-aliases.js";
import { errorMessage, LocError } from "../errors.js";
import type { HostEntry } from "../hosts/host-entry.js";
import { type HostsFs, type WriteOutcome, writeHostsEntries } from "../hosts/hosts-io.js";
import { type HelperAnswer, type HelperRequest, parseRequest, ProtocolError, type WireError } from "./protocol.js";

export interface HostsHelperOptions {
  /** The hosts file, already resolved with realpath at start: the only file this helper writes. */
  hostsFile: string;
  range: LoopbackRange;
  send: (answer: HelperAnswer) => void;
  /** Counts and outcomes only, never names or IPs. */
  log: (line: string) => void;
  /** Defaults to writeHostsEntries on `hostsFile`, refusing if it has become a link elsewhere. */
  write?: (entries: HostEntry[]) => Promise<WriteOutcome>;
  /** Loopback aliases (macOS); without them alias requests are refused. */
  aliases?: LoopbackAliases;
  /** Hands a bound server to the daemon (the IPC channel); without it listen requests are refused. */
  sendServer?: (id: number, server: net.Server) => Promise<void>;
}

/**
 * Answers requests one at a time, in order. `shutdown` (the daemon is gone, or SIGTERM) waits for
 * the request running, then removes loc's block and every alias it added; later lines are ignored.
 */
export class HostsHelper {
  private queue: Promise<void> = Promise.resolve();
  private stopping: Promise<boolean> | undefined;
  private readonly aliased = new Set<string>();
  private readonly write: (entries: HostEntry[]) => Promise<WriteOutcome>;

  constructor(private readonly options: HostsHelperOptions) {
    const fs = pinnedFs(options.hostsFile);
    this.write = options.write ?? ((entries) => writeHostsEntries(options.hostsFile, entries, { fs }));
  }

  handleLine(line: string): void {
    if (this.stopping || line.trim() === "") return;
    let request: HelperRequest;
    try {
      request = parseRequest(line, this.options.range);
    } catch (error) {
      this.refuse(error instanceof ProtocolError ? error.id : null, error);
      return;
    }
    this.enqueue(() => this.run(request));
  }

  /** A line longer than the protocol allows, dropped unread. */
  handleOverlong(): void {
    if (!this.stopping) this.refuse(null, new ProtocolError("request too large"));
  }

  /** Resolves true when the block (and aliases) are gone. Safe to call more than once. */
  shutdown(reason: string): Promise<boolean> {
    this.stopping ??= this.queue.then(async () => {
      this.options.log(`${reason}: removing loc's block from the hosts file`);
      let clean = true;
      try {
        await this.write([]);
      } catch (error) {
        clean = false;
        this.options.log(`could not remove loc's block: ${errorMessage(error)}`);
      }
      for (const ip of this.aliased) {
        await this.options.aliases?.remove(ip).catch(() => (clean = false));
      }
      return clean;
    });
    return this.stopping;
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task).catch(() => undefined);
  }

  private async run(request: HelperRequest): Promise<void> {
    try {
      if (request.op === "replace") {
        const outcome = await this.write(request.entries);
        const names = request.entries.reduce((n, entry) => n + entry.names.length, 0);
        if (outcome !== "unchanged") this.options.log(`hosts block: ${request.entries.length} entries, ${names} names (${outcome})`);
        this.options.send({ id: request.id, ok: true, outcome });
        return;
      }
      if (request.op === "listen") {
        await this.listen(request.id, request.ip, request.port);
        return;
      }
      const aliases = this.options.aliases;
      if (!aliases) throw new ProtocolError("loopback aliases are not needed on this platform", request.id);
      if (request.action === "add") {
        await aliases.add(request.ip);
        this.aliased.add(request.ip);
      } else {
        await aliases.remove(request.ip);
        this.aliased.delete(request.ip);
      }
      this.options.send({ id: request.id, ok: true, outcome: "done" });
    } catch (error) {
      this.refuse(request.id, error);
    }
  }

  /** Binds, hands the socket over, and closes this process's copy: the daemon's is the only one. */
  private async listen(id: number, ip: string, port: number): Promise<void> {
    const send = this.options.sendServer;
    if (!send) throw new ProtocolError("this helper cannot hand over sockets", id);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: ip, port, exclusive: true }, () => (server.off("error", reject), resolve()));
    });
    try {
      await send(id, server);
    } finally {
      server.close();
    }
  }

  private refuse(id: number | null, error: unknown): void {
    const wire = toWireError(error);
    this.options.log(`refused request${id === null ? "" : ` ${id}`}: ${wire.message}`);
    this.options.send({ id, ok: false, error: wire });
  }
}

function toWireError(error: unknown): WireError {
  if (error instanceof LocError) return { message: error.message, hint: error.hint, code: error.code };
  if (error instanceof ProtocolError) return { message: `invalid request: ${error.message}`, code: "HOSTS_HELPER_REFUSED" };
  return { message: errorMessage(error) };
}

/**
 * The file operations writeHostsEntries uses, refusing once `pinned` no longer resolves to itself: a
 * link swapped in later (by the unprivileged side, say) must not aim a root write at another file.
 */
export function pinnedFs(pinned: string): HostsFs {
  return {
    ...fsp,
    realpath: (async (path: Parameters<typeof fsp.realpath>[0]) => {
      const resolved = await fsp.realpath(path);
      if (resolved !== pinned) {
        throw new LocError(`the hosts file ${pinned} now resolves to ${resolved}`, "restart loc daemon; do not replace the hosts file with a link while it runs", "HOSTS_FILE_MOVED");
      }
      return resolved;
    }) as HostsFs["realpath"],
  };
}
