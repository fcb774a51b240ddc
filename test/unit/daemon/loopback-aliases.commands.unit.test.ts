import { describe, expect, it } from "vitest";
import { Lo0Aliases, loopbackAliasesFor, routedLoopback } from "../../../src/daemon/loopback-aliases.js";

describe("loopback aliases", () => {
  it("aliases each address on lo0 once on macOS and removes only what it added", async () => {
    const commands: string[] = [];
    const aliases = new Lo0Aliases(async (command, args) => commands.push([command, ...args].join(" ")));
    await aliases.add("127.1.0.2");
    await aliases.add("127.1.0.2");
    await aliases.remove("127.1.0.2");
    await aliases.remove("127.1.0.9");
    expect(commands).toEqual(["ifconfig lo0 alias 127.1.0.2 up", "ifconfig lo0 -alias 127.1.0.2"]);
  });

  it("needs nothing on Linux, where all of 127/8 reaches lo", () => {
    expect(loopbackAliasesFor("linux")).toBe(routedLoopback);
    expect(loopbackAliasesFor("darwin")).toBeInstanceOf(Lo0Aliases);
  });
});
