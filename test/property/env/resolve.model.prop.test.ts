// The resolver against a model of the kubelet's rules: envFrom sources then env, a later definition
// replacing an earlier one, prefixes, optional references to what is missing skipped, and $(VAR)
// expansion ($$ escapes, undefined references left as written) seeing only what is defined so far.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { EnvFromSpec, EnvInput, EnvVarSpec, SourceLookup } from "../../../src/env/model.js";
import { resolveEnvironment } from "../../../src/env/resolve.js";

const NAMES = ["A", "B", "C", "P_A", "P_B"];
const name = fc.constantFrom(...NAMES);
const maps = fc.dictionary(fc.constantFrom("A", "B", "C"), fc.string({ maxLength: 3 }), { maxKeys: 3 });
const sources = fc.record({ m1: maps, m2: maps }); // "m3" never exists
const envFrom: fc.Arbitrary<EnvFromSpec> = fc.record({
  source: fc.constantFrom("m1", "m2", "m3"), prefix: fc.constantFrom("", "P_"), optional: fc.boolean(),
}).map(({ source, prefix, optional }) => ({ ...(prefix ? { prefix } : {}), configMapRef: { name: source, optional } }));
const piece = fc.oneof(fc.constantFrom("$", "$$", "(", ")", "x", "$(", "$()"), name.map((n) => `$(${n})`), name.map((n) => `$$(${n})`));
const envVar: fc.Arbitrary<EnvVarSpec> = fc.oneof(
  fc.tuple(name, fc.array(piece, { maxLength: 5 })).map(([n, parts]) => ({ name: n, value: parts.join("") })),
  fc.record({ n: name, source: fc.constantFrom("m1", "m2", "m3"), key: fc.constantFrom("A", "B", "C"), optional: fc.constant(true) })
    .map(({ n, source, key, optional }) => ({ name: n, valueFrom: { configMapKeyRef: { name: source, key, optional } } })),
);

/** $(VAR) expansion by tokens: an independent reading of the kubelet's rules. */
function modelExpand(text: string, defined: Map<string, string>): string {
  return text.replace(/\$\$|\$\(([^)]*)\)|\$/g, (token, ref: string | undefined) => {
    if (token === "$$") return "$";
    if (ref === undefined) return token;
    return defined.get(ref) ?? token;
  });
}

function model(data: Record<string, Record<string, string>>, from: EnvFromSpec[], env: EnvVarSpec[]): Map<string, string> | "error" {
  const vars = new Map<string, string>();
  for (const f of from) {
    const source = data[f.configMapRef?.name ?? ""];
    if (!source) { if (f.configMapRef?.optional) continue; return "error"; }
    for (const [k, v] of Object.entries(source)) vars.set((f.prefix ?? "") + k, v);
  }
  for (const e of env) {
    if (e.value !== undefined) { vars.set(e.name, modelExpand(e.value, vars)); continue; }
    const ref = e.valueFrom!.configMapKeyRef!;
    const v = data[ref.name ?? ""]?.[ref.key];
    if (v !== undefined) vars.set(e.name, v);
  }
  return vars;
}

describe("resolveEnvironment against a model", () => {
  it("agrees on every value, and fails exactly when a non-optional source is missing", () => {
    fc.assert(
      fc.property(sources, fc.array(envFrom, { maxLength: 4 }), fc.array(envVar, { maxLength: 6 }), (data, from, env) => {
        const configMaps = new Map<string, SourceLookup>(Object.entries(data).map(([k, d]) => [k, { state: "found", data: d }]));
        const input: EnvInput = {
          namespace: "ns", container: { name: "c", envFrom: from, env }, pod: { containers: [] },
          facts: { running: false, namespace: "ns", labels: {}, annotations: {}, podIPs: [], hostIPs: [] }, configMaps, secrets: new Map(),
        };
        const expected = model(data, from, env);
        if (expected === "error") {
          expect(() => resolveEnvironment(input)).toThrow(/ConfigMap ns\/m3 does not exist/);
          return;
        }
        expect(Object.fromEntries(resolveEnvironment(input).vars)).toEqual(Object.fromEntries(expected));
      }),
      { numRuns: 3000 },
    );
  });
});
