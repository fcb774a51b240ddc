import fc from "fast-check";
import * as fsp from "node:fs/promises";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseHostsFile, renderHostsFile } from "../../../src/hosts/block.js";
import type { HostEntry } from "../../../src/hosts/host-entry.js";
import type { HostsFs } from "../../../src/hosts/hosts-io.js";
import { HostsFileWriter, type Scheduler } from "../../../src/hosts/writer.js";
import { scratchDir } from "../../helpers/temp.js";

const entry: fc.Arbitrary<HostEntry> = fc.record({
  ip: fc.tuple(fc.nat(3), fc.nat(3)).map(([a, b]) => `127.1.${a}.${b}`),
  names: fc.array(fc.constantFrom("web", "web.shop", "db", "db.data", "api.x.svc"), { minLength: 1, maxLength: 3 }),
});
// Each step is an update, a flush, or another program appending a line while the daemon runs.
const step = fc.oneof(
  fc.array(entry, { maxLength: 4 }).map((entries) => ({ kind: "update" as const, entries })),
  fc.constant({ kind: "flush" as const }),
  fc.stringMatching(/^[a-z]{1,8}$/).map((name) => ({ kind: "edit" as const, line: `10.0.0.1 ${name}` })),
);
const initial = fc.constantFrom("", "127.0.0.1 localhost\n", "127.0.0.1 localhost\r\n# no newline", "# x\n");

describe("hosts file writer properties", () => {
  it("after every flush the file is the latest update applied to the current file, in one write or none", async () => {
    await fc.assert(
      fc.asyncProperty(initial, fc.array(step, { maxLength: 12 }), fc.boolean(), async (start, steps, renameFails) => {
        const dir = scratchDir();
        try {
          const path = join(dir, "hosts");
          writeFileSync(path, start, "latin1");
          const manual: Scheduler = () => () => undefined; // only flush() writes
          const rename = renameFails
            ? () => Promise.reject(Object.assign(new Error("EBUSY"), { code: "EBUSY" }))
            : fsp.rename;
          const fs: HostsFs = { ...fsp, rename };
          const writer = new HostsFileWriter({ path, schedule: manual, fs });
          let latest: HostEntry[] | undefined;
          let flushes = 0;
          for (const s of steps) {
            if (s.kind === "update") {
              writer.update(s.entries);
              latest = s.entries;
            }
            if (s.kind === "edit") writeFileSync(path, readFileSync(path, "latin1") + s.line + "\n", "latin1");
            if (s.kind !== "flush") continue;
            const before = readFileSync(path, "latin1");
            const writesBefore = writer.writes;
            await writer.flush();
            flushes++;
            const expected = latest === undefined ? before : renderHostsFile(parseHostsFile(before), latest);
            expect(readFileSync(path, "latin1")).toBe(expected);
            expect(writer.writes - writesBefore).toBe(expected === before ? 0 : 1);
            latest = undefined;
          }
          expect(writer.writes).toBeLessThanOrEqual(flushes);
          await writer.remove();
          const edits = steps.flatMap((s) => (s.kind === "edit" ? [s.line] : []));
          const final = readFileSync(path, "latin1");
          expect(renderHostsFile(parseHostsFile(final), [])).toBe(final);
          for (const line of edits) expect(final).toContain(line);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 60 },
    );
  });
});
