import { KubeConfig } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { LocError } from "../../src/errors.js";
import { defaultTransports } from "../../src/transports/default-transports.js";
import { TransportRegistry } from "../../src/transports/registry.js";

describe("transport registry", () => {
  it("finds a plugin by kind and name, and lists the available ones on a typo", () => {
    const registry = defaultTransports(new KubeConfig());
    expect(registry.get("forward", "port-forward").name).toBe("port-forward");
    expect(registry.names("forward")).toEqual(["port-forward"]);
    let error: unknown;
    try {
      registry.get("forward", "carrier-pigeon");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(LocError);
    expect((error as LocError).toLine()).toBe('loc: unknown transport "carrier-pigeon" (hint: available: port-forward)');
  });

  it("refuses registering one name twice", () => {
    const plugin = { kind: "forward", name: "x" };
    expect(() => new TransportRegistry().register(plugin).register(plugin)).toThrow(/registered twice/);
  });
});
