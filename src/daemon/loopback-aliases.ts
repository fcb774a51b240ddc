import { execFile } from "node:child_process";
import { promisify } from "node:util";

/**
 * Makes a loopback address usable before listeners bind it. Linux routes all of 127.0.0.0/8 to `lo`
 * already; macOS answers only 127.0.0.1 until each address is aliased on `lo0`.
 */
export interface LoopbackAliases {
  add(ip: string): Promise<void>;
  remove(ip: string): Promise<void>;
}

export type CommandRunner = (command: string, args: string[]) => Promise<unknown>;

const runCommand: CommandRunner = promisify(execFile);

export const routedLoopback: LoopbackAliases = {
  add: async () => undefined,
  remove: async () => undefined,
};

/** `ifconfig lo0 alias IP up` / `ifconfig lo0 -alias IP` (needs root, as the daemon already does). */
export class Lo0Aliases implements LoopbackAliases {
  private readonly added = new Set<string>();

  constructor(private readonly run: CommandRunner = runCommand) {}

  async add(ip: string): Promise<void> {
    if (this.added.has(ip)) return;
    await this.run("ifconfig", ["lo0", "alias", ip, "up"]);
    this.added.add(ip);
  }

  async remove(ip: string): Promise<void> {
    if (!this.added.delete(ip)) return;
    await this.run("ifconfig", ["lo0", "-alias", ip]);
  }
}

export function loopbackAliasesFor(platform: NodeJS.Platform): LoopbackAliases {
  return platform === "darwin" ? new Lo0Aliases() : routedLoopback;
}
