import { KubeConfig } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { LocError } from "../../../src/errors.js";
import { checkForwardTransport, defaultTransports, FORWARD_TRANSPORTS } from "../../../src/transports/default-transports.js";
import { TransportRegistry } from "../../../src/transports/registry.js";
import type { SshReverseTransport } from "../../../src/transports/ssh-reverse.js";

function lineOf(thrower: () => unknown): string {
  try {
    thrower();
  } catch (caught) {
    expect(caught).toBeInstanceOf(LocError);
    return (caught as LocError).toLine();
  }
  throw new Error("did not throw");
}

describe("transport registry", () => {
  it("finds a plugin by kind and name, and lists the available ones on a typo", () => {
    const registry = defaultTransports(new KubeConfig());
    expect(registry.get("forward", "spdy").name).toBe("spdy");
    expect(registry.get("forward", "websocket").name).toBe("websocket");
    expect(registry.names("forward")).toEqual(["spdy", "websocket"]);
    expect(registry.names("forward")).toEqual([...FORWARD_TRANSPORTS]);
    expect(lineOf(() => registry.get("forward", "carrier-pigeon"))).toBe('loc: unknown transport "carrier-pigeon" (hint: available: spdy, websocket)');
  });

  it("the SSH reverse transport rides the chosen forward transport, spdy by default", () => {
    const ssh = (forward?: string) => defaultTransports(new KubeConfig(), forward ? { forward } : {}).get("reverse", "ssh") as SshReverseTransport;
    expect(ssh().forward.name).toBe("spdy");
    expect(ssh("websocket").forward.name).toBe("websocket");
    expect(lineOf(() => ssh("port-forward"))).toBe('loc: unknown transport "port-forward" (hint: available: spdy, websocket)');
  });

  it("checks a forward transport name before anything is built", () => {
    expect(checkForwardTransport("websocket")).toBe("websocket");
    expect(lineOf(() => checkForwardTransport("SPDY"))).toBe('loc: unknown transport "SPDY" (hint: available: spdy, websocket)');
  });

  it("refuses registering one name twice", () => {
    const plugin = { kind: "forward", name: "x" };
    expect(() => new TransportRegistry().register(plugin).register(plugin)).toThrow(/registered twice/);
  });
});
