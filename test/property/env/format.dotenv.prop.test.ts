// dotenv output read back by the real `dotenv` parser, and --export evaluated by a real sh, give
// back exactly the values printed, for arbitrary strings (quotes, $, newlines, CR, backslashes).
import { execFileSync } from "node:child_process";
import { parse } from "dotenv";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dotenvQuote, formatEnvironment } from "../../../src/env/format.js";

const tricky = fc.constantFrom("'", '"', "`", "$", "$(A)", "\\", "\\n", "\\r", "\n", "\r", "\r\n", "#", " ", "=", "\t", "é", "export ", "A=b");
const value = fc.oneof(fc.string({ unit: fc.oneof(fc.string({ minLength: 1, maxLength: 1 }), tricky) }), fc.string({ unit: "binary" }));
const names = fc.uniqueArray(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/), { minLength: 1, maxLength: 6 });
const envs = names.chain((keys) => fc.tuple(...keys.map((k) => fc.tuple(fc.constant(k), value))).map((entries) => new Map(entries)));

describe("dotenv output", () => {
  it("is read back by dotenv exactly, or the variable is named as left out (only when dotenv cannot carry the value)", () => {
    fc.assert(
      fc.property(envs, (vars) => {
        const { text, skipped } = formatEnvironment(vars, "dotenv");
        const parsed = parse(text);
        const expected = new Map([...vars].filter(([name]) => !skipped.some((s) => s.name === name)));
        expect(parsed).toEqual(Object.fromEntries(expected));
        for (const { name } of skipped) {
          const v = vars.get(name) ?? "";
          const quotesAllBlocked = (v.includes("'") || v.includes("\r")) && (v.includes("`") || v.includes("\r"));
          const trailingBackslash = v.endsWith("\\") && !/^[^\s'"`#][^#\r\n]*(?<!\s)$/.test(v);
          expect(trailingBackslash || (!v.endsWith("\\") && quotesAllBlocked && (v.includes('"') || /\\[nr]/.test(v)))).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("keeps $ literal (single quotes) whenever the value allows", () => {
    expect(dotenvQuote("p$(A)ss $HOME")).toBe("'p$(A)ss $HOME'");
    expect(dotenvQuote("it's\nfine")).toBe("`it's\nfine`");
    expect(dotenvQuote("a'b`c\rd")).toBe('"a\'b`c\\rd"');
  });
});

describe("--export output", () => {
  it("evaluated by sh gives every value back exactly", () => {
    fc.assert(
      fc.property(envs, (vars) => {
        const clean = new Map([...vars].map(([k, v]) => [k, v.replaceAll("\0", "")]));
        const { text, skipped } = formatEnvironment(clean, "export");
        expect(skipped).toEqual([]);
        const script = `${text}for name in ${[...clean.keys()].join(" ")}; do eval "printf '%s\\0' \\"\\$$name\\""; done`;
        const out = execFileSync("sh", ["-c", script], { env: {} }).toString();
        expect(out.split("\0").slice(0, -1)).toEqual([...clean.values()]);
      }),
      { numRuns: 150 },
    );
  });
});
