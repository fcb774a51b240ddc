// The local label-selector parser against a table of selectors with the API server's verdicts
// (test/e2e/kube/label-selector.api-server.e2e.test.ts asks the real server the same questions).
import { describe, expect, it } from "vitest";
import { LocError } from "../../../src/errors.js";
import { labelKeyProblems, labelValueProblems, parseLabelSelector } from "../../../src/kube/label-selector.js";
import { acceptedSelectors, refusedSelectors } from "../../helpers/label-selector-corpus.js";

function refusal(selector: string): LocError {
  try {
    parseLabelSelector(selector);
  } catch (error) {
    if (error instanceof LocError) return error;
    throw error;
  }
  throw new Error(`${JSON.stringify(selector)} was accepted`);
}

describe("parseLabelSelector: accepted", () => {
  it.each(acceptedSelectors)("%j", (selector, requirements) => {
    expect(parseLabelSelector(selector)).toEqual(requirements);
  });
});

describe("parseLabelSelector: refused", () => {
  it.each(refusedSelectors)("%j", (selector, message) => {
    const error = refusal(selector);
    expect(error.code).toBe("BAD_FLAG");
    expect(error.message).toContain(message);
    expect(error.message.startsWith(`--selector ${JSON.stringify(selector)}: `)).toBe(true);
    expect(error.message).not.toMatch(/[\n\r]/);
    expect(error.hint).toContain("app=web,tier in (front,back)");
  });

  it("words the brief's example the way the flag is typed", () => {
    expect(refusal("a in (b").message).toBe(`--selector "a in (b": expected "," or ")" after "b" at position 7`);
  });

  it("keeps a multi-line selector on one line of message", () => {
    expect(refusal("a\n=\n(").message).toBe(`--selector "a\\n=\\n(": expected a value, found "(" at position 4`);
  });
});

describe("label key and value rules", () => {
  it.each(["a", "A", "0", "a.b-c_d", "example.com/Name", "a-1.b/c", `${"x".repeat(253)}/${"y".repeat(63)}`])("key %j is valid", (key) => {
    expect(labelKeyProblems(key)).toEqual([]);
  });

  it.each(["", "a.", "_a", "a b", "Ex.com/a", "a_b.com/c", "-a.com/b", "/", "a//b", `${"y".repeat(64)}`])("key %j is not", (key) => {
    expect(labelKeyProblems(key).length).toBeGreaterThan(0);
  });

  it("reports every reason a key fails, as the server does", () => {
    expect(labelKeyProblems("/")).toEqual(["prefix part must be non-empty", "name part must be non-empty", expect.stringContaining("name part must consist")]);
  });

  it.each(["", "a", "A-b_c.d", "0".repeat(63)])("value %j is valid", (value) => {
    expect(labelValueProblems(value)).toEqual([]);
  });

  it.each([" ", "a/b", "-a", "a.", "0".repeat(64), "é"])("value %j is not", (value) => {
    expect(labelValueProblems(value).length).toBeGreaterThan(0);
  });
});
