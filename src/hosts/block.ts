import { type HostEntry, isHostname, isLoopbackIPv4, normalizeEntries } from "./host-entry.js";

// Markers chosen not to look like Localizer's `###start-hostfile`, Docker Desktop's
// `# Added by Docker Desktop` / `# End of section`, or the `# BEGIN <tool>` of most others.
export const BLOCK_START = "# BEGIN loc managed block (written by loc daemon; do not edit)";
export const BLOCK_END = "# END loc managed block";
/** Every entry loc writes ends with this comment, so loc's lines are recognisable without markers. */
export const ENTRY_TAG = "# loc";

const START_PATTERN = /^\s*# BEGIN loc managed block(?: \(.*\))?\s*$/;
const END_PATTERN = /^\s*# END loc managed block\s*$/;
const ENTRY_PATTERN = /^(\S+)((?: \S+)+) # loc$/;

type Eol = "\n" | "\r\n";

interface Line {
  text: string;
  eol: Eol | "";
}

/**
 * A hosts file split around loc's block. `before + after` is the file without anything loc wrote;
 * a new block goes between them.
 */
export interface ParsedHostsFile {
  before: string;
  after: string;
  /** Entries found in loc's block (all fragments merged), normalized. */
  entries: HostEntry[];
  /** Whether any loc marker was found, complete or not. */
  hadBlock: boolean;
  /** Line ending to write: the file's first one, LF for a file without any. */
  eol: Eol;
}

export function formatEntryLine(entry: HostEntry): string {
  return `${entry.ip} ${entry.names.join(" ")} ${ENTRY_TAG}`;
}

/** The entry if `text` is exactly a line loc writes, else undefined. */
export function parseEntryLine(text: string): HostEntry | undefined {
  const match = ENTRY_PATTERN.exec(text);
  if (!match?.[1] || !match[2]) return undefined;
  const names = match[2].slice(1).split(" ");
  return isLoopbackIPv4(match[1]) && names.every(isHostname) ? { ip: match[1], names } : undefined;
}

function splitLines(text: string): Line[] {
  if (text === "") return [];
  return text.split("\n").flatMap((part, index, parts): Line[] => {
    const last = index === parts.length - 1;
    if (last) return part === "" ? [] : [{ text: part, eol: "" }];
    return part.endsWith("\r") ? [{ text: part.slice(0, -1), eol: "\r\n" }] : [{ text: part, eol: "\n" }];
  });
}

/**
 * Marks the lines loc wrote. A start marker owns the entry lines after it up to an end marker; if a
 * non-entry line (or EOF) comes first, it owns only the entry lines it passed (half block, start
 * without end). An end marker without a start owns the entry lines directly above it. So a line
 * that is neither a marker nor a tagged entry is never loc's, whatever state the block is in.
 */
function ownedLines(lines: readonly Line[]): boolean[] {
  const owned = lines.map(() => false);
  const isEntry = (i: number) => parseEntryLine(lines[i]?.text ?? "") !== undefined;
  let i = 0;
  while (i < lines.length) {
    const text = lines[i]?.text ?? "";
    if (START_PATTERN.test(text)) {
      let j = i + 1;
      while (j < lines.length && isEntry(j)) j++;
      const complete = j < lines.length && END_PATTERN.test(lines[j]?.text ?? "");
      const last = complete ? j : j - 1;
      for (let k = i; k <= last; k++) owned[k] = true;
      i = last + 1;
    } else if (END_PATTERN.test(text)) {
      owned[i] = true;
      for (let k = i - 1; k >= 0 && !owned[k] && isEntry(k); k--) owned[k] = true;
      i++;
    } else {
      i++;
    }
  }
  return owned;
}

export function parseHostsFile(text: string): ParsedHostsFile {
  const lines = splitLines(text);
  const owned = ownedLines(lines);
  const eol = lines.find((line) => line.eol !== "")?.eol || "\n";
  const outside = lines.filter((_, i) => !owned[i]);
  const insertAt = owned.includes(true) ? owned.slice(0, owned.indexOf(true)).filter((o) => !o).length : outside.length;

  // loc writes a block at EOF of a file without a final newline as "<EOL><block>" with no EOL of its
  // own; that borrowed EOL is the last outside line's, so it goes away with the block. (Never from a
  // blank line: without its EOL it would vanish, and loc never borrows one there.)
  const lastOutside = outside[outside.length - 1];
  if (lines[lines.length - 1]?.eol === "" && owned[lines.length - 1] && lastOutside && lastOutside.text !== "") {
    outside[outside.length - 1] = { text: lastOutside.text, eol: "" };
  }

  const join = (part: Line[]) => part.map((line) => line.text + line.eol).join("");
  const found = lines.filter((_, i) => owned[i]).flatMap((line) => parseEntryLine(line.text) ?? []);
  return {
    before: join(outside.slice(0, insertAt)),
    after: join(outside.slice(insertAt)),
    entries: normalizeEntries(found),
    hadBlock: owned.includes(true),
    eol,
  };
}

/**
 * The file with loc's block holding `entries` (sorted; none removes the block), where the block was,
 * else at the end. Everything outside the block is kept byte for byte.
 */
export function renderHostsFile(parsed: ParsedHostsFile, entries: readonly HostEntry[]): string {
  const normalized = normalizeEntries(entries);
  if (normalized.length === 0) return parsed.before + parsed.after;
  const { before, after, eol } = parsed;
  const block = [BLOCK_START, ...normalized.map(formatEntryLine), BLOCK_END];
  // The borrowed EOL after a last line that ends in a lone CR is CRLF, so that CR stays the line's
  // own text when read back (a bare LF would pair with it into an EOL and outlive the block).
  if (after === "" && before !== "" && !before.endsWith("\n")) return before + (before.endsWith("\r") ? "\r\n" : eol) + block.join(eol);
  return before + block.map((line) => line + eol).join("") + after;
}

/** The file as it would be without anything loc wrote. */
export function withoutLocBlock(text: string): string {
  return renderHostsFile(parseHostsFile(text), []);
}
