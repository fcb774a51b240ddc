/**
 * Printing an environment: dotenv (read back exactly by the `dotenv` package, which loc's tests
 * check for arbitrary values), `export` lines for a POSIX shell, or JSON. A variable a format
 * cannot carry is left out and named in `skipped` (never with its value).
 */
export type EnvFormat = "dotenv" | "export" | "json";

export interface Formatted {
  text: string;
  skipped: { name: string; reason: string }[];
}

const DOTENV_NAME = /^[\w.-]+$/;
const UNQUOTED = /^[^\s'"`#][^#\r\n]*(?<!\s)$/;
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function formatEnvironment(vars: ReadonlyMap<string, string>, format: EnvFormat): Formatted {
  if (format === "json") return { text: JSON.stringify(Object.fromEntries(vars), null, 2) + "\n", skipped: [] };
  const lines: string[] = [];
  const skipped: Formatted["skipped"] = [];
  for (const [name, value] of vars) {
    if (format === "export") {
      if (!SHELL_NAME.test(name)) skipped.push({ name, reason: "not a shell variable name" });
      else if (value.includes("\0")) skipped.push({ name, reason: "its value has a NUL byte" });
      else lines.push(`export ${name}=${shellQuote(value)}`);
      continue;
    }
    const quoted = DOTENV_NAME.test(name) ? dotenvQuote(value) : undefined;
    if (quoted === undefined) skipped.push({ name, reason: DOTENV_NAME.test(name) ? "dotenv cannot read its value back (every kind of quote with a line break, or a trailing backslash after a space or #)" : "not a name dotenv reads" });
    else lines.push(`${name}=${quoted}`);
  }
  return { text: lines.map((line) => line + "\n").join(""), skipped };
}

/** Single quotes: nothing inside is special to sh; a ' is closed, escaped and reopened. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * dotenv reads '…' and `…` literally (newlines included) and "…" with \n and \r turned into
 * line breaks, nothing else escaped; it turns every carriage return in the file into a newline.
 * So: single quotes if the value has no ' (and no CR), else backticks if it has no `, else double
 * quotes with line breaks escaped, when it has no " and no literal \n or \r text. Single quotes
 * first also keep `$` literal for dotenv-expand and docker compose.
 */
export function dotenvQuote(value: string): string | undefined {
  // dotenv's quoted forms take \' (\`, \") as part of the value, so one ending in a backslash could
  // run into the next line's quote: such a value goes unquoted, which dotenv reads as is when it has
  // no #, line break, quote at the start, or space at either end.
  if (value.endsWith("\\")) return UNQUOTED.test(value) ? value : undefined;
  const hasCR = value.includes("\r");
  if (!hasCR && !value.includes("'")) return `'${value}'`;
  if (!hasCR && !value.includes("`")) return `\`${value}\``;
  if (!value.includes('"') && !/\\[nr]/.test(value)) return `"${value.replaceAll("\n", "\\n").replaceAll("\r", "\\r")}"`;
  return undefined;
}
