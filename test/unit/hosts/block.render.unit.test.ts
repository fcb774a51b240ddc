import { describe, expect, it } from "vitest";
import {
  BLOCK_END,
  BLOCK_START,
  parseEntryLine,
  parseHostsFile,
  renderHostsFile,
  withoutLocBlock,
} from "../../../src/hosts/block.js";
import type { HostEntry } from "../../../src/hosts/host-entry.js";

const web: HostEntry = { ip: "127.1.0.2", names: ["web", "web.shop", "web.shop.svc", "web.shop.svc.cluster.local"] };
const db: HostEntry = { ip: "127.1.0.10", names: ["db.shop"] };
const USER = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n# my comment\n";

function update(text: string, entries: HostEntry[]): string {
  return renderHostsFile(parseHostsFile(text), entries);
}

describe("hosts block rendering", () => {
  it("appends one block, entries sorted by IP numerically, each tagged", () => {
    expect(update(USER, [web, db])).toBe(
      USER +
        `${BLOCK_START}\n` +
        "127.1.0.2 web web.shop web.shop.svc web.shop.svc.cluster.local # loc\n" +
        "127.1.0.10 db.shop # loc\n" +
        `${BLOCK_END}\n`,
    );
  });

  it("replaces the block where it is and removes it entirely with no entries", () => {
    const once = update(USER, [web]) + "10.0.0.5 after-block\n";
    const twice = update(once, [db]);
    expect(twice).toBe(USER + `${BLOCK_START}\n127.1.0.10 db.shop # loc\n${BLOCK_END}\n10.0.0.5 after-block\n`);
    expect(update(twice, [])).toBe(USER + "10.0.0.5 after-block\n");
  });

  it("keeps CRLF line endings and a missing final newline, and removal restores the exact bytes", () => {
    const crlf = "127.0.0.1 localhost\r\n# no newline at end";
    const written = update(crlf, [db]);
    expect(written).toBe(`${crlf}\r\n${BLOCK_START}\r\n127.1.0.10 db.shop # loc\r\n${BLOCK_END}`);
    expect(update(written, [])).toBe(crlf);
    expect(update("", [db])).toBe(`${BLOCK_START}\n127.1.0.10 db.shop # loc\n${BLOCK_END}\n`);
  });

  it("a last line ending in a lone CR keeps it: removal restores the exact bytes (a property test's counterexample)", () => {
    for (const content of ["\r", "a\r", "a\r\nb\r", "a\nb\r", "\r\r"]) {
      const written = update(content, [db]);
      expect(update(written, []), JSON.stringify(content)).toBe(content);
      expect(update(update(written, [web]), []), JSON.stringify(content)).toBe(content);
    }
  });

  it("leaves Localizer's and other tools' blocks alone", () => {
    const localizer = "###start-hostfile\n127.0.0.2 web.shop\n###end-hostfile\n";
    const docker = "# Added by Docker Desktop\n192.168.1.5 host.docker.internal\n# End of section\n";
    const text = USER + localizer + docker;
    expect(withoutLocBlock(update(text, [web]))).toBe(text);
    expect(parseHostsFile(text).hadBlock).toBe(false);
  });

  it("a start marker without an end takes only loc's tagged entries, keeping the rest of the file", () => {
    const text = `# top\n${BLOCK_START}\n127.1.0.2 web # loc\n127.0.0.1 localhost\n# user stuff\n`;
    const parsed = parseHostsFile(text);
    expect(parsed.entries).toEqual([{ ip: "127.1.0.2", names: ["web"] }]);
    expect(parsed.before + parsed.after).toBe("# top\n127.0.0.1 localhost\n# user stuff\n");
    expect(update(text, [db])).toBe(`# top\n${BLOCK_START}\n127.1.0.10 db.shop # loc\n${BLOCK_END}\n127.0.0.1 localhost\n# user stuff\n`);
  });

  it("an end marker without a start takes only the tagged entries right above it", () => {
    const text = `127.0.0.1 localhost\n127.1.0.2 web # loc\n${BLOCK_END}\n# tail\n`;
    expect(withoutLocBlock(text)).toBe("127.0.0.1 localhost\n# tail\n");
  });

  it("a user line inside loc's block is kept, outside the new block", () => {
    const text = `${BLOCK_START}\n127.1.0.2 web # loc\n10.0.0.1 mine\n127.1.0.3 api # loc\n${BLOCK_END}\n`;
    const parsed = parseHostsFile(text);
    expect(parsed.entries.map((e) => e.ip)).toEqual(["127.1.0.2", "127.1.0.3"]);
    expect(withoutLocBlock(text)).toBe("10.0.0.1 mine\n");
  });

  it("merges duplicate blocks into one at the first block's place", () => {
    const block = (entry: string) => `${BLOCK_START}\n${entry}\n${BLOCK_END}\n`;
    const text = `a\n${block("127.1.0.2 web # loc")}b\n${block("127.1.0.3 api # loc")}c\n`;
    expect(parseHostsFile(text).entries).toHaveLength(2);
    expect(update(text, [db])).toBe(`a\n${block("127.1.0.10 db.shop # loc")}b\nc\n`);
  });

  it("recognises only exact loc entry lines", () => {
    expect(parseEntryLine("127.1.0.2 web web.shop # loc")).toEqual({ ip: "127.1.0.2", names: ["web", "web.shop"] });
    expect(parseEntryLine("127.1.0.2 web")).toBeUndefined();
    expect(parseEntryLine("10.0.0.1 web # loc")).toBeUndefined();
    expect(parseEntryLine("127.1.0.2  web # loc")).toBeUndefined();
    expect(parseEntryLine("127.1.0.2 we_b # loc")).toBeUndefined();
  });

  it("treats look-alike markers as user lines", () => {
    const text = "# BEGIN loc managed block of my own notes\n# END loc managed block, not really\n";
    expect(parseHostsFile(text).hadBlock).toBe(false);
    expect(withoutLocBlock(text)).toBe(text);
  });

  it("is deterministic whatever order entries come in, and rejects bad entries", () => {
    expect(update(USER, [db, web])).toBe(update(USER, [web, db]));
    expect(() => update(USER, [{ ip: "10.0.0.1", names: ["x"] }])).toThrow(/loopback/);
    expect(() => update(USER, [{ ip: "127.0.0.1", names: ["bad name"] }])).toThrow(/RFC 1123/);
    expect(() => update(USER, [{ ip: "127.0.0.1", names: [] }])).toThrow(/no names/);
  });
});
