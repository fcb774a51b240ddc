#!/usr/bin/env node
import { runCli } from "./program.js";

// The only place loc ends the process: everything below returns exit codes.
const controller = new AbortController();
let interrupts = 0;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    interrupts += 1;
    // A second Ctrl-C means "now": skip whatever cleanup is still running.
    if (interrupts > 1) process.exit(130);
    // The signal's name is the reason: `loc env … -- cmd` passes the same signal on to cmd.
    controller.abort(signal);
  });
}

const code = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  signal: controller.signal,
  stdoutIsTTY: process.stdout.isTTY,
});
process.exitCode = code;
// Let stdout drain, then leave even if a library left a handle open.
process.stdout.write("", () => process.exit(code));
