import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BLOCK_END, BLOCK_START, formatEntryLine, parseHostsFile, renderHostsFile, withoutLocBlock } from "../../../src/hosts/block.js";
import { type HostEntry, normalizeEntries } from "../../../src/hosts/host-entry.js";

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/);
const hostname = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join("."));
const loopback = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c]) => `127.${a}.${b}.${c}`);
const entry: fc.Arbitrary<HostEntry> = fc.record({ ip: loopback, names: fc.array(hostname, { minLength: 1, maxLength: 4 }) });
const entries = fc.array(entry, { maxLength: 6 });

// Lines a person or another tool might have written. Nothing here is a loc marker or a "# loc"-tagged line.
const userLine = fc.oneof(
  fc.constantFrom("", "   ", "\t", "127.0.0.1 localhost", "::1 localhost ip6-localhost", "# The following lines are desirable"),
  fc.string({ maxLength: 30 }).map((text) => `# ${text}`),
  fc.tuple(fc.ipV4(), fc.array(hostname, { minLength: 1, maxLength: 3 }), fc.constantFrom(" ", "\t", "  ")).map(
    ([ip, names, sep]) => `${ip}${sep}${names.join(sep)}`,
  ),
  fc.tuple(loopback, hostname).map(([ip, name]) => `${ip} ${name}`), // loc-like but untagged
  fc.string({ maxLength: 40 }),
);
const userLines = fc.array(userLine, { maxLength: 3 }).map((lines) =>
  lines.map((text) => text.replace(/[\r\n]/g, " ")).filter((text) => !/# loc|loc managed block/.test(text)),
);
const foreignBlock = fc
  .tuple(fc.constantFrom(["###start-hostfile", "###end-hostfile"], ["# Added by Docker Desktop", "# End of section"]), userLines)
  .map(([[start, end], inner]) => [start, ...inner, end]);

// What earlier loc runs may have left: a whole block, or half of one.
const taggedLines = fc.array(entry, { maxLength: 3 }).map((list) => normalizeEntries(list).map(formatEntryLine));
const locFragment = fc.oneof(
  taggedLines.map((lines) => [BLOCK_START, ...lines, BLOCK_END]),
  taggedLines.map((lines) => [BLOCK_START, ...lines]),
  taggedLines.map((lines) => [...lines, BLOCK_END]),
);

type Piece = { loc: boolean; lines: string[] };
const piece: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 4, arbitrary: userLines.map((lines) => ({ loc: false, lines })) },
  { weight: 1, arbitrary: foreignBlock.map((lines) => ({ loc: false, lines })) },
  { weight: 1, arbitrary: locFragment.map((lines) => ({ loc: true, lines })) },
);

interface HostsFileCase {
  text: string;
  userLines: string[];
  hasLoc: boolean;
}
const hostsFile: fc.Arbitrary<HostsFileCase> = fc
  .record({ pieces: fc.array(piece, { maxLength: 8 }), crlf: fc.boolean(), finalNewline: fc.boolean() })
  .map(({ pieces, crlf, finalNewline }) => {
    const lines = pieces.flatMap((p) => p.lines);
    const eol = crlf ? "\r\n" : "\n";
    // A last line that is empty only exists if a newline ends the file.
    const endsWithEol = lines.length > 0 && (finalNewline || lines[lines.length - 1] === "");
    const text = lines.join(eol) + (endsWithEol ? eol : "");
    return {
      text,
      userLines: pieces.filter((p) => !p.loc).flatMap((p) => p.lines),
      hasLoc: pieces.some((p) => p.loc && p.lines.length > 0),
    };
  });

function contentLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

function update(text: string, list: readonly HostEntry[]): string {
  return renderHostsFile(parseHostsFile(text), list);
}

describe("hosts block properties", () => {
  it("never drops or changes a user line, whatever loc leftovers the file holds", () => {
    fc.assert(
      fc.property(hostsFile, ({ text, userLines }) => {
        expect(contentLines(withoutLocBlock(text))).toEqual(userLines);
      }),
      { numRuns: 500 },
    );
  });

  it("keeps everything outside loc's block byte-identical through any sequence of updates", () => {
    fc.assert(
      fc.property(hostsFile, fc.array(entries, { maxLength: 5 }), ({ text, hasLoc }, updates) => {
        const outside = withoutLocBlock(text);
        if (!hasLoc) expect(outside).toBe(text);
        let current = text;
        for (const list of updates) {
          current = update(current, list);
          expect(withoutLocBlock(current)).toBe(outside);
          const expected = normalizeEntries(list);
          expect(parseHostsFile(current).entries).toEqual(expected);
          const markers = current.split(/\r?\n/).filter((line) => line === BLOCK_START || line === BLOCK_END);
          expect(markers).toEqual(expected.length > 0 ? [BLOCK_START, BLOCK_END] : []);
        }
        expect(update(current, [])).toBe(outside);
      }),
      { numRuns: 500 },
    );
  });

  it("is idempotent: applying the same update again changes nothing", () => {
    fc.assert(
      fc.property(hostsFile, entries, ({ text }, list) => {
        const once = update(text, list);
        expect(update(once, list)).toBe(once);
        expect(update(once, [...list].reverse())).toBe(once);
      }),
      { numRuns: 500 },
    );
  });

  it("keeps the file's line endings: a CRLF file gets a CRLF block", () => {
    fc.assert(
      fc.property(hostsFile, fc.array(entry, { minLength: 1, maxLength: 4 }), ({ text }, list) => {
        const written = update(text, list);
        const firstEol = /\r?\n/.exec(text)?.[0] ?? "\n";
        const block = written.slice(written.indexOf(BLOCK_START), written.indexOf(BLOCK_END));
        expect(block.match(/\r?\n/g)?.every((eol) => eol === firstEol)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("round-trips: parse(render(x)) recovers the normalized entries", () => {
    fc.assert(
      fc.property(hostsFile, entries, ({ text }, list) => {
        expect(parseHostsFile(update(text, list)).entries).toEqual(normalizeEntries(list));
      }),
      { numRuns: 300 },
    );
  });
});
