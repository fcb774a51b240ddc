// Label selectors with the verdict the API server gives them, shared by the unit table (which also
// checks the parsed structure and the message) and the e2e test (which asks the real API server).
// Cases marked "upstream" come from TestSetSelectorParser / TestSelectorParse in apimachinery.
import fc from "fast-check";
import type { Requirement, SelectorOperator } from "../../src/kube/label-selector.js";

const req = (key: string, operator: SelectorOperator, ...values: string[]): Requirement => ({ key, operator, values });
const exists = (key: string): Requirement => req(key, "exists");

export const acceptedSelectors: Array<[selector: string, requirements: Requirement[]]> = [
  ["", []],
  ["   \t\n", []],
  ["app=web", [req("app", "=", "web")]],
  ["app==web", [req("app", "==", "web")]],
  ["app!=web", [req("app", "!=", "web")]],
  ["app", [exists("app")]],
  ["!canary", [req("canary", "!")]],
  ["! canary", [req("canary", "!")]],
  ["app=web,tier in (front,back)", [req("app", "=", "web"), req("tier", "in", "back", "front")]],
  ["tier notin (front, back) , !canary", [req("tier", "notin", "back", "front"), req("canary", "!")]],
  ["x=a,y=b,z=c", [req("x", "=", "a"), req("y", "=", "b"), req("z", "=", "c")]], // upstream
  ["x=", [req("x", "=", "")]], // upstream: a missing value is the empty value
  ["x= ,z= ", [req("x", "=", ""), req("z", "=", "")]], // upstream
  ["a!=", [req("a", "!=", "")]],
  ["a==", [req("a", "==", "")]],
  ["x>1", [req("x", "gt", "1")]], // upstream
  ["x>1,z<5", [req("x", "gt", "1"), req("z", "lt", "5")]], // upstream
  ["x<007", [req("x", "lt", "007")]],
  ["x>9223372036854775807", [req("x", "gt", "9223372036854775807")]], // int64 max
  ["\rx", [exists("x")]], // upstream
  ["this-is-a-dns.domain.com/key-with-dash", [exists("this-is-a-dns.domain.com/key-with-dash")]], // upstream
  ["0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)", [req("0.1.2.domain/99", "notin", "10.10.100.1", "tick.tack.clock")]], // upstream
  ["foo  in\t (abc)", [req("foo", "in", "abc")]], // upstream
  ["x notin\n (abc)", [req("x", "notin", "abc")]], // upstream
  ["x in(abc)", [req("x", "in", "abc")]],
  ["x in (abc,)", [req("x", "in", "", "abc")]], // upstream: a trailing comma adds ""
  ["x in (abc,abc)", [req("x", "in", "abc")]], // upstream: a set
  ["x in ()", [req("x", "in", "")]], // upstream: not empty, the empty value
  ["x notin ( )", [req("x", "notin", "")]], // upstream
  ["x notin (, a)", [req("x", "notin", "", "a")]], // upstream
  ["x in (a,,a,,a,,a,,)", [req("x", "in", "", "a")]], // upstream
  ["x notin (abc,,def),bar,z in (),w", [req("x", "notin", "", "abc", "def"), exists("bar"), req("z", "in", ""), exists("w")]], // upstream
  ["a ", [exists("a")]], // upstream
  ["a in (x,y,notin, z,in)", [req("a", "in", "in", "notin", "x", "y", "z")]], // upstream
  ["in in (in),notin notin (notin)", [req("in", "in", "in"), req("notin", "notin", "notin")]],
  ["in=notin,!in", [req("in", "=", "notin"), req("in", "!")]],
  ["App.Kubernetes_IO=Web-1", [req("App.Kubernetes_IO", "=", "Web-1")]], // names and values may be upper case
  ["example.com/app=web", [req("example.com/app", "=", "web")]],
  [`${"k".repeat(63)}=${"v".repeat(63)}`, [req("k".repeat(63), "=", "v".repeat(63))]],
  [`${"p".repeat(253)}/k`, [exists(`${"p".repeat(253)}/k`)]],
  ["a=b,a=c", [req("a", "=", "b"), req("a", "=", "c")]],
  ["a=\0\0junk", [req("a", "=", "")]], // the Go lexer's read() returns 0 at the end and for a NUL alike
  ["a \0 junk", [exists("a")]],
];

export const refusedSelectors: Array<[selector: string, message: string]> = [
  ["a in (b", `expected "," or ")" after "b" at position 7`],
  ["x=a||y=b", `invalid value "a||y" for "x"`], // upstream
  ["x==a==b", `expected "," or the end, found "==" at position 4`], // upstream
  ["!x=a", `expected "," or the end, found "=" at position 2`], // upstream
  ["x<a", `< needs an integer value, found "a" at position 2`], // upstream
  ["x,,y", `expected a label key or "!", found "," at position 2`], // upstream
  [",x,y", `expected a label key or "!", found "," at position 0`], // upstream
  ["x nott in (y)", `found "nott" at position 2`], // upstream
  ["a in (xyz),", `expected a label key or "!" after "," at position 11`], // upstream
  ["a in (xyz)b notin ()", `expected "," or the end, found "b" at position 10`], // upstream
  ["a in (xyz abc)", `expected "," or ")", found "abc" at position 10`], // upstream
  ["a notin(", `expected a value, "," or ")" after "(" at position 8`], // upstream
  ["a (", `found "(" at position 2`], // upstream
  ["(", `expected a label key or "!", found "(" at position 0`], // upstream
  ["a=b=c", `expected "," or the end, found "=" at position 3`],
  ["a,", `expected a label key or "!" after "," at position 2`],
  ["a b", `found "b" at position 2`],
  ["a in b", `expected "(", found "b" at position 5`],
  ["a in", `expected "(" after "in" at position 4`],
  ["a in (b c)", `expected "," or ")", found "c" at position 8`],
  ["a in (b,=)", `expected a value or ",", found "=" at position 8`],
  ["a=(b)", `expected a value, found "(" at position 2`],
  ["a!b", `found "!" at position 1`],
  ["!!a", `expected a label key, found "!" at position 1`],
  ["!", `expected a label key after "!" at position 1`],
  ["!a in (b)", `found "in" at position 3`],
  ["a!==b", `expected a value, found "=" at position 3`],
  ["a=>1", `expected a value, found ">" at position 2`],
  ["a>=1", `expected a value, found "=" at position 2`],
  ["x>1.5", `> needs an integer value, found "1.5" at position 2`],
  ["x>", `> needs an integer value, found "" at position 2`],
  ["x>-1", `invalid value "-1" for "x"`], // an integer, but not a label value
  ["x>9223372036854775808", `> needs an integer value`], // over int64
  ["a=b c", `expected "," or the end, found "c" at position 4`],
  ["a = b c", `found "c" at position 6`],
  ["A_=b", `invalid label key "A_": name part must consist of alphanumeric characters`],
  ["-a", `invalid label key "-a"`],
  ["a=-b", `invalid value "-b" for "a"`],
  ["a=b_", `invalid value "b_" for "a"`],
  ["a in (ok,-bad)", `invalid value "-bad" for "a": must be empty or consist of alphanumeric characters`],
  ["Example.com/a", `prefix part must be a lowercase DNS subdomain`],
  ["/a", `prefix part must be non-empty`],
  ["a/", `name part must be non-empty`],
  ["a/b/c", `invalid label key "a/b/c"`],
  [`${"k".repeat(64)}`, `name part must be no more than 63 characters`],
  [`a=${"v".repeat(64)}`, `must be no more than 63 characters at position 2`],
  [`${"p".repeat(254)}/k`, `prefix part must be no more than 253 characters`],
  ["a=b;c=d", `invalid value "b;c" for "a"`],
  ["a=b&&c", `invalid value "b&&c" for "a"`],
  ["app=wéb", `invalid value "wéb" for "app"`],
  ["a\vb", `invalid label key "a\\u000bb"`], // only space, tab, CR and LF are blanks
  ["ab\0cd", `found "cd" at position 3`], // a NUL ends the token but not the selector
];

// Generators of valid selectors: requirements, and one of the many spellings of each.
const nameArb = fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?$/);
const prefixArb = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,4}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,4}[a-z0-9])?){0,2}$/);
const keyArb = fc.tuple(fc.option(prefixArb, { nil: undefined }), nameArb).map(([prefix, name]) => (prefix ? `${prefix}/${name}` : name));
const valueArb = fc.oneof({ weight: 4, arbitrary: nameArb }, { weight: 1, arbitrary: fc.constant("") });
const integerArb = fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).chain((n) => fc.nat(2).map((zeros) => "0".repeat(zeros) + n.toString()));

const sortedSet = (values: string[]): string[] => [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

type Gap = () => string;

/** A requirement with the text that spells it; `gap` is any run of blanks (maybe none). */
export interface SpelledRequirement {
  requirement: Requirement;
  render(gap: Gap): string;
}

export const spelledRequirementArb: fc.Arbitrary<SpelledRequirement> = fc.oneof(
  fc.tuple(keyArb, fc.constantFrom<SelectorOperator>("=", "==", "!="), valueArb).map(([key, operator, value]) => ({
    requirement: { key, operator, values: [value] },
    render: (gap: Gap) => `${key}${gap()}${operator}${gap()}${value}`,
  })),
  fc.tuple(keyArb, fc.constantFrom<SelectorOperator>("in", "notin"), fc.array(valueArb, { minLength: 1, maxLength: 4 })).map(([key, operator, values]) => ({
    // Joined with commas "" is an empty slot, and ["" ] alone is "()": both parse back to "".
    requirement: { key, operator, values: sortedSet(values) },
    render: (gap: Gap) => `${key} ${gap()}${operator}${gap()}(${gap()}${values.join(`${gap()},${gap()}`)}${gap()})`,
  })),
  fc.tuple(keyArb, fc.constantFrom<SelectorOperator>("gt", "lt"), integerArb).map(([key, operator, value]) => ({
    requirement: { key, operator, values: [value] },
    render: (gap: Gap) => `${key}${gap()}${operator === "gt" ? ">" : "<"}${gap()}${value}`,
  })),
  keyArb.map((key) => ({ requirement: { key, operator: "exists" as const, values: [] }, render: () => key })),
  keyArb.map((key) => ({ requirement: { key, operator: "!" as const, values: [] }, render: (gap: Gap) => `!${gap()}${key}` })),
);

export const gapsArb = fc.infiniteStream(fc.constantFrom("", "", "", " ", "  ", "\t", "\n", "\r", " \t"));

/** A whole valid selector: its text and the requirements the server reads from it. */
export const validSelectorArb = fc
  .tuple(fc.array(spelledRequirementArb, { maxLength: 5 }), gapsArb)
  .map(([parts, gaps]) => {
    const gap = (): string => gaps.next().value as string;
    const text = gap() + parts.map((part) => part.render(gap)).join(`${gap()},${gap()}`) + gap();
    return { text, requirements: parts.map((part) => part.requirement) };
  });

/** Text made mostly of the grammar's own characters, so most of it is nearly a selector. */
export const selectorishArb = fc.string({
  unit: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom("a", "b", "Z", "0", "9", "-", "_", ".", "/", " ", "=", "!", ",", "(", ")", "<", ">", "in", "notin", "\t") },
    { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  ),
  maxLength: 24,
});
