// A local copy of the API server's label-selector grammar (k8s.io/apimachinery pkg/labels
// selector.go: Lexer, Parser, NewRequirement, content.IsLabelKey / IsLabelValue, as of v0.36),
// so `loc daemon -l` refuses a selector the server would answer with 400 before anything starts.
// The structure follows the Go code on purpose: its quirks are the contract (`in ()` means the
// empty value, `a=` is `a=""`, `in`/`notin` are keys or values wherever an identifier fits).
import { LocError } from "../errors.js";

/** The operator names of k8s.io/apimachinery/pkg/selection. */
export type SelectorOperator = "=" | "==" | "!=" | "in" | "notin" | "exists" | "!" | "gt" | "lt";

/** One comma-separated part of a selector; all of them must hold (AND). */
export interface Requirement {
  key: string;
  operator: SelectorOperator;
  /** As the server keeps them: a set, sorted; [] for exists/!; [""] for `a=` or `a in ()`. */
  values: string[];
}

const HINT = "e.g. -l app=web,tier in (front,back) or -l '!canary' (the kubectl -l syntax)";

type Kind = "end" | "ident" | "in" | "notin" | "(" | ")" | "," | "!" | "=" | "==" | "!=" | ">" | "<";
interface Token {
  kind: Kind;
  text: string;
  at: number;
}

const SYMBOLS = new Set<string>(["(", ")", ",", "!", "=", "==", "!=", ">", "<"]);
const isSpecial = (ch: string): boolean => "=!(),><".includes(ch);
const isBlank = (ch: string): boolean => ch === " " || ch === "\t" || ch === "\r" || ch === "\n";

/**
 * The Go lexer, byte for byte (non-ASCII is never special or blank, so UTF-16 units lex alike).
 * Its read() answers 0 both at the end and for a NUL in the text: a NUL where a token would start
 * ends the selector, and a NUL right after a token is swallowed as its terminator.
 */
function lex(text: string): Token[] {
  let pos = 0;
  const read = (): string => (pos < text.length ? text[pos++]! : "\0");
  const tokens: Token[] = [];
  for (;;) {
    let at = pos;
    let ch = read();
    while (isBlank(ch)) {
      at = pos;
      ch = read();
    }
    if (ch === "\0") {
      tokens.push({ kind: "end", text: "", at });
      return tokens;
    }
    let lexeme = ch;
    if (isSpecial(ch)) {
      // Longest operator: "!=" and "==" are one token, "!==" is "!=" then "=".
      for (;;) {
        const next = read();
        if (next === "\0") break;
        if (!isSpecial(next) || !SYMBOLS.has(lexeme + next)) {
          pos--;
          break;
        }
        lexeme += next;
      }
      tokens.push({ kind: lexeme as Kind, text: lexeme, at });
      continue;
    }
    for (;;) {
      const next = read();
      if (next === "\0") break;
      if (isSpecial(next) || isBlank(next)) {
        pos--;
        break;
      }
      lexeme += next;
    }
    const kind: Kind = lexeme === "in" || lexeme === "notin" ? lexeme : "ident";
    tokens.push({ kind, text: lexeme, at });
  }
}

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAME_RULE = "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/** content.IsLabelKey: [DNS-1123 subdomain "/"] name; the reasons it is not one, or []. */
export function labelKeyProblems(key: string): string[] {
  const parts = key.split("/");
  if (parts.length > 2) return ["a label key is a name with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"];
  const problems: string[] = [];
  const name = parts.length === 2 ? parts[1]! : key;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix === "") problems.push("prefix part must be non-empty");
    else {
      if (prefix.length > 253) problems.push("prefix part must be no more than 253 characters");
      if (!DNS_SUBDOMAIN.test(prefix)) problems.push("prefix part must be a lowercase DNS subdomain (e.g. 'example.com')");
    }
  }
  if (name === "") problems.push("name part must be non-empty");
  else if (name.length > 63) problems.push("name part must be no more than 63 characters");
  if (!LABEL_NAME.test(name)) problems.push(`name part must ${NAME_RULE}`);
  return problems;
}

/** content.IsLabelValue: empty, or at most 63 characters of the label-name alphabet. */
export function labelValueProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > 63) problems.push("must be no more than 63 characters");
  if (value !== "" && !LABEL_NAME.test(value)) problems.push(`must be empty or ${NAME_RULE}`);
  return problems;
}

const INT64_MAX = 2n ** 63n - 1n;
/** strconv.ParseInt(v, 10, 64) succeeds: optional sign, decimal digits, within int64. */
function isInt64(value: string): boolean {
  if (!/^[+-]?[0-9]+$/.test(value)) return false;
  const n = BigInt(value);
  return n <= INT64_MAX && n >= -INT64_MAX - 1n;
}

const OPERATORS: Partial<Record<Kind, SelectorOperator>> = { in: "in", notin: "notin", "=": "=", "==": "==", "!=": "!=", ">": "gt", "<": "lt" };

/**
 * Parses a label selector exactly as the API server does (labels.Parse): the requirements in the
 * order written, [] for an empty selector (everything). Throws LocError "BAD_FLAG" for any text
 * the server would refuse, naming the first problem the server would name and where it is.
 */
export function parseLabelSelector(text: string): Requirement[] {
  const tokens = lex(text);
  let index = 0;
  // The server reads `in`/`notin` as identifiers everywhere except where an operator goes.
  const peek = (): Token => asValue(tokens[index]!);
  const take = (): Token => asValue(tokens[index++]!);
  const refuse = (problem: string, at: number): never => {
    throw new LocError(`--selector ${JSON.stringify(text)}: ${problem} at position ${at}`, HINT, "BAD_FLAG");
  };
  const unexpected = (expected: string, found: Token): never => {
    const previous = tokens.at(-2); // the end is always the last token
    if (found.kind === "end" && previous) return refuse(`expected ${expected} after ${JSON.stringify(previous.text)}`, found.at);
    return refuse(`expected ${expected}, found ${found.kind === "end" ? "the end" : JSON.stringify(found.text)}`, found.at);
  };
  const checkKey = (key: Token): void => {
    const problems = labelKeyProblems(key.text);
    if (problems.length > 0) refuse(`invalid label key ${JSON.stringify(key.text)}: ${problems.join("; ")}`, key.at);
  };

  const parseRequirement = (): Requirement => {
    let key = take();
    const negated = key.kind === "!";
    if (negated) key = take();
    if (key.kind !== "ident") return unexpected("a label key", key);
    checkKey(key);
    if (negated || peek().kind === "end" || peek().kind === ",") return { key: key.text, operator: negated ? "!" : "exists", values: [] };
    const opToken = tokens[index++]!;
    const operator = OPERATORS[opToken.kind];
    if (!operator) return unexpected(`an operator (=, ==, !=, in, notin, >, <) after ${JSON.stringify(key.text)}`, opToken);
    const values = operator === "in" || operator === "notin" ? parseValueSet() : [parseExactValue()];
    return newRequirement(key, operator, values);
  };

  const parseValueSet = (): Token[] => {
    const open = take();
    if (open.kind !== "(") return unexpected(`"("`, open);
    const first = peek();
    if (first.kind === ")") {
      index++;
      return [{ kind: "ident", text: "", at: first.at }]; // "()" is the set {""}
    }
    if (first.kind !== "ident" && first.kind !== ",") return unexpected(`a value, "," or ")"`, first);
    const values: Token[] = [];
    // parseIdentifiersList: an empty slot between commas, or at either end, is the value "".
    for (;;) {
      const item = take();
      if (item.kind === "ident") {
        values.push(item);
        const after = peek();
        if (after.kind === ")") break;
        if (after.kind !== ",") return unexpected(`"," or ")"`, after);
      } else if (item.kind === ",") {
        if (values.length === 0) values.push({ kind: "ident", text: "", at: item.at });
        const after = peek();
        if (after.kind === ")" || after.kind === ",") values.push({ kind: "ident", text: "", at: after.at });
        if (after.kind === ")") break;
      } else return unexpected(`a value or ","`, item);
    }
    index++; // the ")" seen above
    return values;
  };

  const parseExactValue = (): Token => {
    const next = peek();
    if (next.kind === "end" || next.kind === ",") return { kind: "ident", text: "", at: next.at };
    const value = take();
    return value.kind === "ident" ? value : unexpected("a value", value);
  };

  // NewRequirement's checks, in its order: the integer for gt/lt, then every value's shape.
  const newRequirement = (key: Token, operator: SelectorOperator, values: Token[]): Requirement => {
    if (operator === "gt" || operator === "lt") {
      const value = values[0]!;
      if (!isInt64(value.text)) refuse(`${operator === "gt" ? ">" : "<"} needs an integer value, found ${JSON.stringify(value.text)}`, value.at);
    }
    for (const value of values) {
      const problems = labelValueProblems(value.text);
      if (problems.length > 0) refuse(`invalid value ${JSON.stringify(value.text)} for ${JSON.stringify(key.text)}: ${problems.join("; ")}`, value.at);
    }
    return { key: key.text, operator, values: [...new Set(values.map((value) => value.text))].sort(compareBytes) };
  };

  const requirements: Requirement[] = [];
  for (;;) {
    const start = peek();
    if (start.kind === "end") return requirements;
    if (start.kind !== "ident" && start.kind !== "!") return unexpected(`a label key or "!"`, start);
    requirements.push(parseRequirement());
    const separator = take();
    if (separator.kind === "end") return requirements;
    if (separator.kind !== ",") return unexpected(`"," or the end`, separator);
    const next = peek();
    if (next.kind !== "ident" && next.kind !== "!") return unexpected(`a label key or "!"`, next);
  }
}

function asValue(token: Token): Token {
  return token.kind === "in" || token.kind === "notin" ? { ...token, kind: "ident" } : token;
}

/** Go's sort order for strings (bytes); values are ASCII once valid. */
function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
