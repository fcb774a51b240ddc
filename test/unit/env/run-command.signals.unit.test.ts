// `loc env … -- cmd`: the command gets the environment, its exit code is passed on (128+n for a
// signal, as a shell reports it), and SIGINT/SIGTERM sent to loc go on to it.
import { describe, expect, it } from "vitest";
import { runWithEnvironment } from "../../../src/env/run-command.js";

describe("runWithEnvironment", () => {
  it("passes the environment and the exit code", async () => {
    const code = await runWithEnvironment(["sh", "-c", "test \"$X\" = 'a b\n$(c)' && exit 7"], { PATH: process.env.PATH, X: "a b\n$(c)" }, new AbortController().signal);
    expect(code).toBe(7);
  });

  it.each([["SIGTERM", 42], ["SIGINT", 43]] as const)("forwards %s to the command", async (signal, expected) => {
    const controller = new AbortController();
    const script = `trap 'exit 42' TERM; trap 'exit 43' INT; echo ready; while :; do sleep 0.05; done`;
    const running = runWithEnvironment(["sh", "-c", script], { PATH: process.env.PATH }, controller.signal);
    await new Promise((resolve) => setTimeout(resolve, 300));
    controller.abort(signal);
    expect(await running).toBe(expected);
  });

  it("a command killed by a signal exits 128 + its number", async () => {
    expect(await runWithEnvironment(["sh", "-c", "kill -9 $$"], { PATH: process.env.PATH }, new AbortController().signal)).toBe(137);
  });

  it("a command that is not there is a LocError naming it", async () => {
    await expect(runWithEnvironment(["no-such-command-loc"], { PATH: process.env.PATH }, new AbortController().signal)).rejects.toThrow("cannot run no-such-command-loc: not found");
  });
});
