import { describe, expect, it } from "vitest";
import { parseLoopbackRange } from "../../../src/daemon/ip-allocator.js";
import {
  formatRangeArg,
  LineSplitter,
  MAX_ENTRIES,
  MAX_LINE_BYTES,
  MAX_NAMES_PER_ENTRY,
  parseRangeArg,
  parseRequest,
  ProtocolError,
} from "../../../src/privsep/protocol.js";

const RANGE = parseLoopbackRange("127.1.0.0/16");
const replace = (entries: unknown, extra: object = {}) => JSON.stringify({ op: "replace", id: 7, entries, ...extra });
const refusal = (line: string) => {
  try {
    parseRequest(line, RANGE);
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return (error as ProtocolError).message;
  }
  throw new Error(`accepted: ${line.slice(0, 80)}`);
};

describe("helper protocol: what a request may hold", () => {
  it("accepts a block of loopback entries inside the range, and the empty block", () => {
    expect(parseRequest(replace([{ ip: "127.1.0.2", names: ["web", "web.shop.svc.cluster.local"] }]), RANGE)).toEqual({
      op: "replace",
      id: 7,
      entries: [{ ip: "127.1.0.2", names: ["web", "web.shop.svc.cluster.local"] }],
    });
    expect(parseRequest(replace([]), RANGE)).toEqual({ op: "replace", id: 7, entries: [] });
  });

  it("refuses IPs that are not loopback, outside the range, or not canonical", () => {
    for (const ip of ["10.0.0.1", "0.0.0.0", "::1", "127.0.0.1", "127.2.0.1", "127.1.255.255", "127.1.0.010", " 127.1.0.2", 2130771970]) {
      expect(refusal(replace([{ ip, names: ["web"] }]))).toMatch(/entry 0: IP/);
    }
  });

  it("refuses names with spaces, newlines, #, NUL, or that are not RFC 1123", () => {
    for (const name of ["a b", "web\n10.0.0.1 bank", "web#x", "web\u0000", "", "-web", "web..shop", "x".repeat(64), "ünïcode", "a\tb", "web\r"]) {
      expect(refusal(replace([{ ip: "127.1.0.2", names: [name] }]))).toMatch(/not an RFC 1123 hostname/);
    }
    expect(refusal(replace([{ ip: "127.1.0.2", names: [] }]))).toMatch(/names must be 1 to/);
    expect(refusal(replace([{ ip: "127.1.0.2", names: "web" }]))).toMatch(/names must be/);
    expect(refusal(replace([{ ip: "127.1.0.2", names: [42] }]))).toMatch(/RFC 1123/);
  });

  it("refuses oversized requests: too many entries, names or bytes", () => {
    const names = Array.from({ length: MAX_NAMES_PER_ENTRY + 1 }, (_, i) => `n${i}`);
    expect(refusal(replace([{ ip: "127.1.0.2", names }]))).toMatch(/names must be 1 to 16/);
    const many = Array.from({ length: MAX_ENTRIES + 1 }, () => ({ ip: "127.1.0.2", names: ["a"] }));
    expect(refusal(replace(many))).toMatch(/more than 70000 entries/);
    expect(refusal(replace([], { pad: "x".repeat(MAX_LINE_BYTES) }))).toMatch(/larger than/);
  });

  it("refuses unknown ops, extra or missing fields, bad ids, non-objects", () => {
    expect(refusal(JSON.stringify({ op: "write", id: 1, path: "/etc/shadow" }))).toBe("unknown op");
    expect(refusal(replace([], { path: "/etc/shadow" }))).toMatch(/unexpected field "path"/);
    expect(refusal(JSON.stringify({ op: "replace", id: 1 }))).toMatch(/missing field "entries"/);
    expect(refusal('{"op":"replace","id":1,"entries":[],"__proto__":{}}')).toMatch(/unexpected field "__proto__"/);
    expect(refusal(replace([{ ip: "127.1.0.2", names: ["a"], comment: "x" }]))).toMatch(/unexpected field "comment"/);
    for (const id of [-1, 1.5, "1", null]) expect(refusal(JSON.stringify({ op: "replace", id, entries: [] }))).toMatch(/no valid id/);
    expect(refusal("[1]")).toMatch(/not a JSON object/);
    expect(refusal("not json")).toMatch(/not JSON/);
  });

  it("keeps the request's id on a refusal so the daemon can match it", () => {
    expect(() => parseRequest(replace([{ ip: "10.0.0.1", names: ["a"] }]), RANGE)).toThrow(expect.objectContaining({ id: 7 }));
  });

  it("checks alias requests the same way", () => {
    expect(parseRequest(JSON.stringify({ op: "alias", id: 1, action: "add", ip: "127.1.0.9" }), RANGE)).toEqual({ op: "alias", id: 1, action: "add", ip: "127.1.0.9" });
    expect(refusal(JSON.stringify({ op: "alias", id: 1, action: "add", ip: "10.1.0.9" }))).toMatch(/alias IP/);
    expect(refusal(JSON.stringify({ op: "alias", id: 1, action: "flush", ip: "127.1.0.9" }))).toMatch(/action/);
  });

  it("round-trips the range argument and refuses ranges outside 127/8", () => {
    expect(parseRangeArg(formatRangeArg(RANGE))).toEqual(RANGE);
    for (const text of ["1-2", "2130706433", `${RANGE.last}-${RANGE.first}`, "2130706432-2147483648"]) {
      expect(() => parseRangeArg(text)).toThrow(ProtocolError);
    }
  });
});

describe("LineSplitter", () => {
  it("splits lines across chunks and drops an overlong line without keeping it", () => {
    const lines: string[] = [];
    let overlong = 0;
    const splitter = new LineSplitter((line) => lines.push(line), () => overlong++, 8);
    splitter.push(Buffer.from("ab"));
    splitter.push(Buffer.from("c\n0123456"));
    splitter.push(Buffer.from("789abc\nok\n\n"));
    splitter.push(Buffer.from("é\n"));
    expect(lines).toEqual(["abc", "ok", "", "é"]);
    expect(overlong).toBe(1);
  });
});
