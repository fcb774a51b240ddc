import * as fsp from "node:fs/promises";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { BLOCK_START } from "../../../src/hosts/block.js";
import type { HostsFs } from "../../../src/hosts/hosts-io.js";
import { HostsFileWriter, type Scheduler } from "../../../src/hosts/writer.js";
import { scratchDir } from "../../helpers/temp.js";

const USER = "127.0.0.1 localhost\n# keep me\n";

function hostsFile(content = USER): string {
  // tempDir's afterEach, registered from inside a running test, never fires; clean up per test instead.
  const dir = scratchDir("loc-hosts-");
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "hosts");
  writeFileSync(path, content);
  return path;
}

/** A scheduler the test fires by hand, counting how often a write was scheduled. */
function manualScheduler() {
  let pending: (() => void) | undefined;
  const manual = {
    scheduled: 0,
    schedule: ((callback) => {
      manual.scheduled++;
      pending = callback;
      return () => (pending = undefined);
    }) as Scheduler,
    fire() {
      const callback = pending;
      pending = undefined;
      callback?.();
    },
  };
  return manual;
}

function service(i: number) {
  return { ip: `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, names: [`svc${i}`, `svc${i}.ns`] };
}

describe("HostsFileWriter", () => {
  it("writes a burst of 1,000 updates once, with the last update's entries", async () => {
    const path = hostsFile();
    const manual = manualScheduler();
    const writer = new HostsFileWriter({ path, schedule: manual.schedule });
    const all = Array.from({ length: 1000 }, (_, i) => service(i));
    for (let i = 1; i <= 1000; i++) writer.update(all.slice(0, i));
    expect(manual.scheduled).toBe(1);
    expect(writer.writes).toBe(0);
    manual.fire();
    await writer.flush();
    expect(writer.writes).toBe(1);
    const text = readFileSync(path, "utf8");
    expect(text.startsWith(USER)).toBe(true);
    expect(text.match(/ # loc$/gm)).toHaveLength(1000);
  });

  it("coalesces with the real timer too", async () => {
    const path = hostsFile();
    const written: number[] = [];
    const writer = new HostsFileWriter({ path, coalesceMs: 5, onWrite: (_, entries) => written.push(entries.length) });
    for (let i = 1; i <= 1000; i++) writer.update([service(i)]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await writer.flush();
    expect(writer.writes).toBe(1);
    expect(written).toEqual([1]);
    expect(readFileSync(path, "utf8")).toContain("svc1000.ns # loc");
  });

  it("skips the write when the content would not change", async () => {
    const path = hostsFile();
    const writer = new HostsFileWriter({ path });
    writer.update([]);
    await writer.flush();
    expect(writer.writes).toBe(0);
    writer.update([service(1), service(2)]);
    await writer.flush();
    writer.update([service(2), service(1)]);
    await writer.flush();
    expect(writer.writes).toBe(1);
  });

  it("re-reads the file before each write, keeping another program's edit", async () => {
    const path = hostsFile();
    const writer = new HostsFileWriter({ path });
    writer.update([service(1)]);
    await writer.flush();
    writeFileSync(path, readFileSync(path, "utf8").replace("# keep me\n", "# keep me\n10.9.9.9 added-meanwhile\n"));
    writer.update([service(2)]);
    await writer.flush();
    const text = readFileSync(path, "utf8");
    expect(text).toContain("10.9.9.9 added-meanwhile\n");
    expect(text).toContain("svc2 svc2.ns # loc");
    expect(text).not.toContain("svc1 ");
  });

  it("remove() takes the block out and leaves the rest byte-identical", async () => {
    const path = hostsFile("# no final newline");
    const writer = new HostsFileWriter({ path });
    writer.update([service(1)]);
    await writer.flush();
    expect(readFileSync(path, "utf8")).toContain(BLOCK_START);
    writer.update([service(2)]);
    await writer.remove();
    expect(readFileSync(path, "utf8")).toBe("# no final newline");
    expect(writer.writes).toBe(2);
  });

  it("rejects a bad entry at update() time, before anything is scheduled", () => {
    const manual = manualScheduler();
    const writer = new HostsFileWriter({ path: hostsFile(), schedule: manual.schedule });
    expect(() => writer.update([{ ip: "192.168.1.1", names: ["x"] }])).toThrow(/loopback/);
    expect(manual.scheduled).toBe(0);
  });

  it("keeps the desired entries after a failed write and writes them on the next flush", async () => {
    const path = hostsFile();
    let failNext = true;
    const fs: HostsFs = {
      ...fsp,
      readFile: ((...args: Parameters<typeof fsp.readFile>) => {
        if (!failNext) return fsp.readFile(...args);
        failNext = false;
        return Promise.reject(Object.assign(new Error("simulated EIO"), { code: "EIO" }));
      }) as HostsFs["readFile"],
    };
    const errors: unknown[] = [];
    const manual = manualScheduler();
    const writer = new HostsFileWriter({ path, fs, schedule: manual.schedule, onError: (e) => errors.push(e) });
    writer.update([service(1)]);
    manual.fire();
    await expect(writer.flush()).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(writer.writes).toBe(1);
    expect(readFileSync(path, "utf8")).toContain("svc1 svc1.ns # loc");
  });

  it("writes in place when rename is impossible, keeping the inode", async () => {
    const path = hostsFile();
    const ino = statSync(path).ino;
    const rename = () => Promise.reject(Object.assign(new Error("simulated EBUSY"), { code: "EBUSY" }));
    const outcomes: string[] = [];
    const writer = new HostsFileWriter({ path, fs: { ...fsp, rename }, onWrite: (outcome) => outcomes.push(outcome) });
    writer.update([service(1)]);
    await writer.flush();
    expect(outcomes).toEqual(["in-place"]);
    expect(statSync(path).ino).toBe(ino);
    expect(readFileSync(path, "utf8")).toBe(`${USER}${BLOCK_START}\n127.1.0.2 svc1 svc1.ns # loc\n# END loc managed block\n`);
  });
});
