import { spawn } from "node:child_process";
import { constants } from "node:os";
import { LocError } from "../errors.js";

/**
 * Runs `command` with `env`, its stdio the terminal's, and resolves with its exit code (128 + the
 * signal's number when a signal ended it, as a shell reports it). When `signal` aborts (loc got
 * SIGINT or SIGTERM; main.ts passes the name as the reason), the same signal goes to the command.
 */
export function runWithEnvironment(command: readonly string[], env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<number> {
  const [file, ...args] = command;
  if (!file) return Promise.reject(new LocError("nothing to run after --", "e.g. loc env shop/web -- npm start", "USAGE"));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: "inherit", env });
    const forward = () => child.kill(typeof signal.reason === "string" && signal.reason.startsWith("SIG") ? (signal.reason as NodeJS.Signals) : "SIGTERM");
    signal.addEventListener("abort", forward, { once: true });
    child.on("error", (error: NodeJS.ErrnoException) => {
      signal.removeEventListener("abort", forward);
      const why = error.code === "ENOENT" ? "not found" : error.code === "EACCES" ? "permission denied" : error.message;
      reject(new LocError(`cannot run ${file}: ${why}`, "check the command after --, and that it is on PATH", "COMMAND_FAILED"));
    });
    child.on("exit", (code, killedBy) => {
      signal.removeEventListener("abort", forward);
      resolve(code ?? 128 + (killedBy ? (constants.signals[killedBy] ?? 0) : 0));
    });
  });
}
