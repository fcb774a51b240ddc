import { requestStatus, watchStatus, type ClientOptions } from "../../ipc/client.js";
import type { DaemonStatus } from "../../ipc/protocol.js";
import { clientEnvironment } from "../../privsep/drop-privileges.js";
import { resolveStateDir } from "../../store/state-dir.js";
import { formatDaemonLine, formatExposeTable, formatListTable, formatWatchProblems } from "../format-list.js";
import type { CliIO } from "../io.js";

export interface ListFlags {
  stateDir?: string;
  json?: boolean;
  watch?: boolean;
}

export interface ListOptions extends ClientOptions {
  now?: () => number;
}

const CLEAR_SCREEN = "\x1b[2J\x1b[H";

/** `loc list`: the running daemon's tunnels, once or (`--watch`) on every change until Ctrl-C. */
export async function listCommand(flags: ListFlags, io: CliIO, options: ListOptions = {}): Promise<number> {
  const stateDir = resolveStateDir(flags.stateDir, clientEnvironment(io.env));
  const render = rendererFor(flags, io, options.now ?? Date.now);
  try {
    if (flags.watch) await watchStatus(stateDir, render, io.signal, options);
    else render(await requestStatus(stateDir, io.signal, options));
    return 0;
  } catch (error) {
    // Ctrl-C before the daemon answered is an ordinary way to stop, like ending --watch.
    if (io.signal.aborted) return 0;
    throw error;
  }
}

/** Decides once how each status is printed: JSON document, NDJSON line, or a table frame. */
function rendererFor(flags: ListFlags, io: CliIO, now: () => number): (status: DaemonStatus) => void {
  if (flags.json) {
    return flags.watch
      ? (status) => io.stdout(JSON.stringify(status) + "\n")
      : (status) => io.stdout(JSON.stringify(status, null, 2) + "\n");
  }
  let frames = 0;
  return (status) => {
    const at = now();
    const prefix = flags.watch && io.stdoutIsTTY ? CLEAR_SCREEN : frames > 0 ? "\n" : "";
    frames += 1;
    const exposes = formatExposeTable(status, at);
    io.stdout(prefix + [formatDaemonLine(status, at), ...formatListTable(status, at), ...(exposes.length ? ["", ...exposes] : [])].join("\n") + "\n");
    const problems = formatWatchProblems(status, at);
    if (problems.length > 0) io.stderr(problems.join("\n") + "\n");
  };
}
