/** What a command may touch of the outside world; tests pass their own. */
export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Aborted on Ctrl-C / SIGTERM: long-running commands (`--follow`) end cleanly with exit 0. */
  signal: AbortSignal;
  /** Whether stdout is a terminal (`loc list --watch` redraws in place only then). */
  stdoutIsTTY?: boolean;
}
