// The helper's request handling in-process (the process plumbing is in helper-client.process.unit.test.ts).
import { readFileSync, realpathSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseLoopbackRange } from "../../../src/daemon/ip-allocator.js";
import { Lo0Aliases } from "../../../src/daemon/loopback-aliases.js";
import { HostsHelper } from "../../../src/privsep/hosts-helper.js";
import type { HelperAnswer } from "../../../src/privsep/protocol.js";
import { tempDir } from "../../helpers/temp.js";

const USER = "127.0.0.1 localhost\r\n# mine\r\n10.0.0.1 nas";
const RANGE = parseLoopbackRange("127.1.0.0/16");

function setup(options: { aliases?: boolean } = {}) {
  const dir = realpathSync(tempDir("loc-helper-"));
  const path = join(dir, "hosts");
  writeFileSync(path, USER);
  const answers: HelperAnswer[] = [];
  const logs: string[] = [];
  const commands: string[] = [];
  const aliases = options.aliases ? new Lo0Aliases(async (command, args) => void commands.push([command, ...args].join(" "))) : undefined;
  const helper = new HostsHelper({ hostsFile: path, range: RANGE, send: (a) => answers.push(a), log: (l) => logs.push(l), aliases });
  /** Sends a line and waits until its answer is in. */
  const ask = async (line: string) => {
    const count = answers.length;
    helper.handleLine(line);
    while (answers.length === count) await new Promise((resolve) => setTimeout(resolve, 1));
    return answers[answers.length - 1];
  };
  return { dir, path, helper, answers, logs, commands, ask };
}

const replace = (id: number, entries: unknown) => JSON.stringify({ op: "replace", id, entries });

describe("HostsHelper", () => {
  it("replaces the block, keeping the rest of the file byte for byte (CRLF, no final newline)", async () => {
    const { path, ask } = setup();
    expect(await ask(replace(1, [{ ip: "127.1.0.2", names: ["web"] }]))).toEqual({ id: 1, ok: true, outcome: "atomic" });
    expect(readFileSync(path, "latin1")).toBe(`${USER}\r\n# BEGIN loc managed block (written by loc daemon; do not edit)\r\n127.1.0.2 web # loc\r\n# END loc managed block`);
    expect(await ask(replace(2, []))).toEqual({ id: 2, ok: true, outcome: "atomic" });
    expect(readFileSync(path, "latin1")).toBe(USER);
  });

  it("refuses a bad request by id, writes nothing, logs no content", async () => {
    const { path, ask, logs } = setup();
    const answer = await ask(replace(3, [{ ip: "192.168.1.1", names: ["bank-example"] }]));
    expect(answer).toMatchObject({ id: 3, ok: false, error: { code: "HOSTS_HELPER_REFUSED" } });
    expect(await ask("garbage")).toMatchObject({ id: null, ok: false });
    expect(readFileSync(path, "latin1")).toBe(USER);
    expect(logs.join("\n")).not.toMatch(/192\.168|bank-example/);
  });

  it("answers an overlong line with a refusal", () => {
    const { helper, answers } = setup();
    helper.handleOverlong();
    expect(answers).toEqual([{ id: null, ok: false, error: expect.objectContaining({ message: "invalid request: request too large" }) }]);
  });

  it("on shutdown removes the block and the aliases it added, then ignores further requests", async () => {
    const { path, helper, ask, answers, commands } = setup({ aliases: true });
    await ask(replace(1, [{ ip: "127.1.0.2", names: ["web"] }]));
    expect(await ask(JSON.stringify({ op: "alias", id: 2, action: "add", ip: "127.1.0.2" }))).toEqual({ id: 2, ok: true, outcome: "done" });
    expect(await helper.shutdown("test")).toBe(true);
    expect(readFileSync(path, "latin1")).toBe(USER);
    expect(commands).toEqual(["ifconfig lo0 alias 127.1.0.2 up", "ifconfig lo0 -alias 127.1.0.2"]);
    helper.handleLine(replace(3, [{ ip: "127.1.0.3", names: ["late"] }]));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(answers.map((a) => a.id)).toEqual([1, 2]);
    expect(readFileSync(path, "latin1")).toBe(USER);
  });

  it("refuses alias requests where no aliases are needed (Linux)", async () => {
    const { ask } = setup();
    expect(await ask(JSON.stringify({ op: "alias", id: 5, action: "add", ip: "127.1.0.2" }))).toMatchObject({ id: 5, ok: false });
  });

  it("refuses to write once the hosts file was replaced by a link to another file", async () => {
    const { dir, path, ask } = setup();
    const victim = join(dir, "victim");
    writeFileSync(victim, "secret\n");
    renameSync(path, join(dir, "hosts.orig"));
    symlinkSync(victim, path);
    expect(await ask(replace(1, [{ ip: "127.1.0.2", names: ["web"] }]))).toMatchObject({ id: 1, ok: false, error: { code: "HOSTS_FILE_MOVED" } });
    expect(readFileSync(victim, "utf8")).toBe("secret\n");
  });
});
