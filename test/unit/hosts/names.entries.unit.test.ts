import { describe, expect, it } from "vitest";
import { isHostname, isLoopbackIPv4, normalizeEntries } from "../../../src/hosts/host-entry.js";
import { namesForService, podNames, shortNameOwners } from "../../../src/hosts/names.js";

describe("service and pod names", () => {
  it("lists the names a cluster resolver accepts, the short one only when allowed", () => {
    const input = { name: "web", namespace: "shop", clusterDomain: "cluster.local" };
    expect(namesForService({ ...input, shortNameAllowed: true })).toEqual([
      "web",
      "web.shop",
      "web.shop.svc",
      "web.shop.svc.cluster.local",
    ]);
    expect(namesForService({ ...input, shortNameAllowed: false, clusterDomain: "corp.example." })).toEqual([
      "web.shop",
      "web.shop.svc",
      "web.shop.svc.corp.example",
    ]);
  });

  it("names pods behind a headless service", () => {
    expect(podNames({ hostname: "db-0", service: "db", namespace: "data", clusterDomain: "cluster.local" })).toEqual([
      "db-0.db.data",
      "db-0.db.data.svc",
      "db-0.db.data.svc.cluster.local",
    ]);
  });

  it("refuses names that are not RFC 1123 hostnames", () => {
    expect(() => namesForService({ name: "Web_1", namespace: "shop", clusterDomain: "x", shortNameAllowed: true })).toThrow();
    expect(() => podNames({ hostname: "-a", service: "db", namespace: "d", clusterDomain: "x" })).toThrow();
  });
});

describe("short name owners", () => {
  const services = [
    { namespace: "shop", name: "web" },
    { namespace: "blog", name: "web" },
    { namespace: "blog", name: "db" },
    { namespace: "default", name: "api" },
    { namespace: "infra", name: "api" },
  ];

  it("gives a unique name to its service and an ambiguous one to the first listed namespace", () => {
    const owners = shortNameOwners(services, ["blog", "shop", "default"]);
    expect(Object.fromEntries(owners)).toEqual({
      api: { namespace: "default", name: "api" },
      db: { namespace: "blog", name: "db" },
      web: { namespace: "blog", name: "web" },
    });
    expect(shortNameOwners(services, ["shop", "blog"]).get("web")?.namespace).toBe("shop");
  });

  it("gives an ambiguous name to nobody when no -n flag ranks the contenders", () => {
    const owners = shortNameOwners(services, []);
    expect([...owners.keys()]).toEqual(["db"]);
    expect(shortNameOwners(services, ["shop"]).has("api")).toBe(false);
  });

  it("never hands out localhost or reserved names, and ignores input order", () => {
    const withLocal = [...services, { namespace: "x", name: "localhost" }, { namespace: "x", name: "mylaptop" }];
    const owners = shortNameOwners(withLocal, ["shop"], ["mylaptop"]);
    expect(owners.has("localhost")).toBe(false);
    expect(owners.has("mylaptop")).toBe(false);
    expect([...shortNameOwners([...withLocal].reverse(), ["shop"])]).toEqual([...shortNameOwners(withLocal, ["shop"])]);
  });
});

describe("entry validation", () => {
  it("accepts only dotted-decimal 127.0.0.0/8", () => {
    for (const ip of ["127.0.0.1", "127.255.255.254", "127.1.0.10"]) expect(isLoopbackIPv4(ip)).toBe(true);
    for (const ip of ["10.0.0.1", "128.0.0.1", "127.0.0.256", "127.0.0.01", "127.0.0", "::1", " 127.0.0.1"]) {
      expect(isLoopbackIPv4(ip)).toBe(false);
    }
  });

  it("checks hostname labels and length", () => {
    expect(isHostname("a-b.c1.svc")).toBe(true);
    for (const name of ["", "a..b", "-a", "a-", "a_b", `${"a".repeat(64)}.x`, `${"a.".repeat(127)}ab`]) {
      expect(isHostname(name)).toBe(false);
    }
  });

  it("normalizes: sorted by IP, one entry per IP, names deduplicated", () => {
    expect(
      normalizeEntries([
        { ip: "127.0.0.10", names: ["b"] },
        { ip: "127.0.0.9", names: ["z", "a", "z"] },
        { ip: "127.0.0.10", names: ["a", "b"] },
      ]),
    ).toEqual([
      { ip: "127.0.0.9", names: ["z", "a"] },
      { ip: "127.0.0.10", names: ["a", "b"] },
    ]);
  });
});
