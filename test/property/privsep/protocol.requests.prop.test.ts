import fc from "fast-check";
import { readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseLoopbackRange } from "../../../src/daemon/ip-allocator.js";
import { parseHostsFile, withoutLocBlock } from "../../../src/hosts/block.js";
import { normalizeEntries } from "../../../src/hosts/host-entry.js";
import { HostsHelper } from "../../../src/privsep/hosts-helper.js";
import type { HelperAnswer } from "../../../src/privsep/protocol.js";
import { scratchDir } from "../../helpers/temp.js";

const RANGE = parseLoopbackRange("127.1.0.0/16");

// Any bytes (latin1 keeps each one), with line breaks and lines that look like a stale loc block.
const fileContent = fc
  .array(
    fc.oneof(
      fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((b) => String.fromCharCode(b)), maxLength: 30 }),
      fc.constantFrom("\n", "\r\n", "127.0.0.1 localhost\n", "# BEGIN loc managed block\n", "127.1.0.5 old # loc\n", "# END loc managed block\n"),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(""));
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
const validEntry = fc.record({
  ip: fc.tuple(fc.nat(255), fc.integer({ min: 1, max: 254 })).map(([a, b]) => `127.1.${a}.${b}`),
  names: fc.array(fc.array(label, { minLength: 1, maxLength: 3 }).map((labels) => labels.join(".")), { minLength: 1, maxLength: 4 }),
});
// Names and IPs a compromised daemon might try: mostly valid ones (so both branches are exercised),
// else ones carrying line breaks, comments, spaces, NULs, other addresses.
const hostileName = fc.oneof(
  { arbitrary: label, weight: 8 },
  { arbitrary: fc.constantFrom("a b", "x\n10.0.0.1 bank", "x\r\n", "web#", "a\u0000", "ok.", "", "..", "é"), weight: 1 },
  { arbitrary: fc.string({ maxLength: 12 }), weight: 1 },
);
const hostileIp = fc.oneof(
  { arbitrary: validEntry.map((entry) => entry.ip), weight: 6 },
  { arbitrary: fc.constantFrom("10.0.0.1", "127.0.0.1", "127.1.0.2\n", "127.01.0.2", "127.2.0.1"), weight: 1 },
  { arbitrary: fc.oneof(fc.ipV4(), fc.string({ maxLength: 16 })), weight: 1 },
);
const hostileEntry = fc.record({ ip: hostileIp, names: fc.array(hostileName, { maxLength: 3 }) });

async function withHelper<T>(content: string, run: (ask: (line: string) => Promise<HelperAnswer>, path: string) => Promise<T>): Promise<T> {
  const dir = realpathSync(scratchDir("loc-privsep-prop-"));
  try {
    const path = join(dir, "hosts");
    writeFileSync(path, content, "latin1");
    const answers: HelperAnswer[] = [];
    const helper = new HostsHelper({ hostsFile: path, range: RANGE, send: (a) => answers.push(a), log: () => undefined });
    const ask = async (line: string) => {
      const count = answers.length;
      helper.handleLine(line);
      while (answers.length === count) await new Promise((resolve) => setTimeout(resolve, 0));
      return answers[answers.length - 1] as HelperAnswer;
    };
    return await run(ask, path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("privsep helper properties", () => {
  it("any file, any valid entries: every byte outside loc's block is unchanged, and removing the block restores them", async () => {
    await fc.assert(
      fc.asyncProperty(fileContent, fc.array(validEntry, { maxLength: 6 }), async (content, entries) => {
        await withHelper(content, async (ask, path) => {
          const outside = withoutLocBlock(content);
          expect(await ask(JSON.stringify({ op: "replace", id: 1, entries }))).toMatchObject({ ok: true });
          const written = readFileSync(path, "latin1");
          expect(withoutLocBlock(written)).toBe(outside);
          expect(parseHostsFile(written).entries).toEqual(normalizeEntries(entries));
          expect(await ask(JSON.stringify({ op: "replace", id: 2, entries: [] }))).toMatchObject({ ok: true });
          expect(readFileSync(path, "latin1")).toBe(outside);
        });
      }),
      { numRuns: 150 },
    );
  });

  it("hostile entries are refused whole, or written as exactly the lines asked for: never an extra line", async () => {
    const counts = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(hostileEntry, { minLength: 1, maxLength: 4 }), async (entries) => {
        const content = "127.0.0.1 localhost\n";
        await withHelper(content, async (ask, path) => {
          const answer = await ask(JSON.stringify({ op: "replace", id: 1, entries }));
          const written = readFileSync(path, "latin1");
          counts[answer.ok ? "accepted" : "refused"]++;
          if (!answer.ok) {
            expect(written).toBe(content);
            return;
          }
          expect(withoutLocBlock(written)).toBe(content);
          const lines = written.split("\n").filter((line) => line !== "");
          // localhost, the two markers, one line per distinct IP: nothing smuggled in.
          expect(lines).toHaveLength(3 + new Set(entries.map((e) => e.ip)).size);
          expect(parseHostsFile(written).entries).toEqual(normalizeEntries(entries));
        });
      }),
      { numRuns: 400 },
    );
    // Both outcomes were really exercised.
    expect(counts.accepted).toBeGreaterThan(40);
    expect(counts.refused).toBeGreaterThan(40);
  });
});
