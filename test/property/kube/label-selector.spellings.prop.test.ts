// Properties of the local label-selector parser: every spelling of valid requirements parses back
// to them, and no text makes it fail in any way but a BAD_FLAG LocError.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocError } from "../../../src/errors.js";
import { parseLabelSelector } from "../../../src/kube/label-selector.js";
import { selectorishArb, validSelectorArb } from "../../helpers/label-selector-corpus.js";

function verdict(text: string): "accepted" | "refused" {
  try {
    parseLabelSelector(text);
    return "accepted";
  } catch (error) {
    if (error instanceof LocError && error.code === "BAD_FLAG" && !/[\n\r]/.test(error.message)) return "refused";
    throw error;
  }
}

describe("parseLabelSelector properties", () => {
  it("reads back the requirements a valid selector was rendered from", () => {
    fc.assert(
      fc.property(validSelectorArb, ({ text, requirements }) => {
        expect(parseLabelSelector(text)).toEqual(requirements);
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses any text only with a one-line BAD_FLAG LocError", () => {
    const anyText = fc.oneof(selectorishArb, fc.string({ unit: "binary", maxLength: 40 }), fc.string({ maxLength: 40 }));
    fc.assert(
      fc.property(anyText, (text) => {
        verdict(text);
      }),
      { numRuns: 5000 },
    );
  });

  it("accepts a valid selector followed by a comma only if a requirement follows", () => {
    fc.assert(
      fc.property(validSelectorArb, ({ text, requirements }) => {
        fc.pre(requirements.length > 0);
        expect(verdict(`${text},`)).toBe("refused");
        expect(verdict(`${text},zz`)).toBe("accepted");
      }),
    );
  });

  it("does not depend on blanks around operators, commas and parentheses", () => {
    fc.assert(
      fc.property(validSelectorArb, fc.constantFrom(" ", "\t", "\n", "\r"), ({ text }, blank) => {
        const spaced = text.replace(/(!=|==|[=<>(),])/g, `${blank}$1${blank}`);
        expect(parseLabelSelector(spaced)).toEqual(parseLabelSelector(text));
      }),
    );
  });
});
