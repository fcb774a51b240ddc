import { describe, expect, it } from "vitest";
import { ProbeSlots } from "../../../src/daemon/probe-slots.js";

describe("ProbeSlots", () => {
  it("runs up to its limit at once and lets the rest in, in order, as slots come free", async () => {
    const slots = new ProbeSlots(2);
    const first = await slots.acquire();
    const second = await slots.acquire();
    const order: string[] = [];
    const third = slots.acquire().then((release) => (order.push("third"), release));
    const fourth = slots.acquire().then((release) => (order.push("fourth"), release));
    await new Promise((resolve) => setImmediate(resolve));
    expect([slots.active, slots.queued, order]).toEqual([2, 2, []]);
    first();
    first(); // a second release of the same slot frees nothing more
    (await third)();
    expect(order).toEqual(["third"]);
    second();
    (await fourth)();
    expect(order).toEqual(["third", "fourth"]);
    expect([slots.active, slots.queued]).toEqual([0, 0]);
  });

  it("an abort while waiting gives up the place without taking a slot", async () => {
    const slots = new ProbeSlots(1);
    const held = await slots.acquire();
    const controller = new AbortController();
    const abandoned = slots.acquire(controller.signal);
    const next = slots.acquire();
    controller.abort();
    await expect(abandoned).rejects.toThrow("probe aborted");
    expect(slots.queued).toBe(1);
    held();
    (await next)();
    expect(slots.active).toBe(0);
    await expect(slots.acquire(AbortSignal.abort())).rejects.toThrow("probe aborted");
  });

  it("refuses a limit below one", () => {
    expect(() => new ProbeSlots(0)).toThrow("at least 1");
  });
});
