import { runCli } from "../../src/cli/program.js";

/** Runs `loc ARGS` in-process with captured output, as the real entry point would. */
export async function loc(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env,
    signal: new AbortController().signal,
  });
  return { code, stdout, stderr };
}
