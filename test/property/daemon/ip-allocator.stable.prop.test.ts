import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IpAllocator, parseLoopbackRange } from "../../../src/daemon/ip-allocator.js";

type Op = { kind: "assign"; service: string } | { kind: "remove"; service: string } | { kind: "restart" };
const serviceArb = fc.constantFrom(...Array.from({ length: 12 }, (_, i) => `ns${i % 3}/svc${i}`));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: serviceArb.map((service) => ({ kind: "assign" as const, service })), weight: 5 },
  { arbitrary: serviceArb.map((service) => ({ kind: "remove" as const, service })), weight: 2 },
  { arbitrary: fc.constant({ kind: "restart" as const }), weight: 1 },
);

describe("IP allocator", () => {
  it("never gives one IP to two services, and keeps each service's IP across restarts", () => {
    // A /29 holds 6 usable addresses for up to 12 services, so reclaiming is exercised too.
    fc.assert(
      fc.property(fc.constantFrom("127.1.0.0/29", "127.2.0.0/24"), fc.array(opArb, { maxLength: 80 }), (cidr, ops) => {
        const range = parseLoopbackRange(cidr);
        const log: { service: string; ip: string }[] = [];
        const active = new Set<string>();
        const restore = () => {
          const allocator = new IpAllocator(range);
          for (const { service, ip } of log) allocator.restore(service, ip);
          return allocator;
        };
        let allocator = restore();
        const held = new Map<string, string>();
        for (const op of ops) {
          if (op.kind === "restart") {
            allocator = restore();
            // Every active service still has the address it had before the restart.
            for (const service of active) expect(allocator.ipOf(service)).toBe(held.get(service));
            continue;
          }
          if (op.kind === "remove") {
            active.delete(op.service);
            continue;
          }
          active.add(op.service);
          let result;
          try {
            result = allocator.assign(op.service, active);
          } catch (error) {
            // Only acceptable when every address belongs to an active service.
            expect((error as Error).message).toMatch(/no free loopback address/);
            expect(active.size).toBeGreaterThan(range.last - range.first + 1);
            active.delete(op.service);
            continue;
          }
          if (result.fresh) log.push({ service: op.service, ip: result.ip });
          if (result.reclaimedFrom) held.delete(result.reclaimedFrom);
          if (held.has(op.service)) expect(result.ip).toBe(held.get(op.service));
          held.set(op.service, result.ip);
          const owners = new Map<string, string>();
          for (const service of active) {
            const ip = allocator.ipOf(service);
            if (ip === undefined) continue;
            expect(owners.get(ip), `${ip} given to ${owners.get(ip)} and ${service}`).toBeUndefined();
            owners.set(ip, service);
            expect(ip).toMatch(/^127\./);
            expect(ip).not.toBe("127.0.0.1");
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("rejects ranges outside loopback", () => {
    expect(() => parseLoopbackRange("10.0.0.0/8")).toThrow(/not a loopback range/);
    expect(() => parseLoopbackRange("127.0.0.0/31")).toThrow(/not a loopback range/);
    expect(parseLoopbackRange("127.0.0.0/8")).toEqual({ first: 2130706434, last: 2147483646 });
  });
});
