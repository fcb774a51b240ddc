// The real root hosts helper as a child process, driven by the daemon-side client.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it, onTestFinished } from "vitest";
import { parseLoopbackRange } from "../../../src/daemon/ip-allocator.js";
import { LocError } from "../../../src/errors.js";
import { HostsFileWriter } from "../../../src/hosts/writer.js";
import { HELPER_ENTRY, startHostsHelper, type HostsHelperClient } from "../../../src/privsep/helper-client.js";
import { spawnScript, waitForOutput } from "../../helpers/loc-process.js";
import { tempDir } from "../../helpers/temp.js";

const USER = "127.0.0.1 localhost\n::1 ip6-localhost\n# the user's own line\n";
const RANGE = parseLoopbackRange("127.1.0.0/16");
const DAEMON = fileURLToPath(new URL("../../helpers/hosts-helper-daemon.ts", import.meta.url));
const isRoot = process.getuid?.() === 0;

function hostsFile(): string {
  const path = join(tempDir("loc-privsep-"), "hosts");
  writeFileSync(path, USER);
  return path;
}

async function started(path: string, logs: string[] = []): Promise<HostsHelperClient> {
  const helper = await startHostsHelper({ hostsFile: path, range: RANGE, log: (line) => logs.push(line) });
  onTestFinished(async () => {
    await helper.close().catch(() => undefined);
  });
  return helper;
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls until `check` holds; returns how long that took. */
async function within(ms: number, check: () => boolean): Promise<number> {
  const start = performance.now();
  while (!check()) {
    if (performance.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await sleep(10);
  }
  return performance.now() - start;
}

describe("the hosts helper process", () => {
  it("resolves its entry from source (.ts next to this module)", () => {
    expect(HELPER_ENTRY.endsWith(join("src", "privsep", "helper-main.ts"))).toBe(true);
  });

  it("writes, replaces and, on close, removes loc's block; the user's lines stay byte for byte", async () => {
    const path = hostsFile();
    const logs: string[] = [];
    const helper = await started(path, logs);
    expect(await helper.write([{ ip: "127.1.0.2", names: ["web", "web.shop"] }])).toBe("atomic");
    expect(readFileSync(path, "utf8")).toMatch(/^127\.1\.0\.2 web web\.shop # loc$/m);
    expect(await helper.write([{ ip: "127.1.0.3", names: ["db.data"] }])).toBe("atomic");
    const text = readFileSync(path, "utf8");
    expect(text.startsWith(USER)).toBe(true);
    expect(text).not.toContain("web.shop");
    expect(text).toMatch(/^127\.1\.0\.3 db\.data # loc$/m);
    expect(await helper.write([{ ip: "127.1.0.3", names: ["db.data"] }])).toBe("unchanged");
    await helper.close();
    expect(readFileSync(path, "utf8")).toBe(USER);
    // Counts only: no name or IP in the helper's log.
    expect(logs.join("\n")).toMatch(/1 entries, 2 names/);
    expect(logs.join("\n")).not.toMatch(/web|db\.data|127\.1\.0/);
  });

  it("answers a refused request with a LocError and leaves the file alone", async () => {
    const path = hostsFile();
    const helper = await started(path);
    await helper.write([{ ip: "127.1.0.2", names: ["web"] }]);
    const before = readFileSync(path);
    await expect(helper.write([{ ip: "10.0.0.1", names: ["evil"] }])).rejects.toMatchObject({ code: "HOSTS_HELPER_REFUSED" });
    await expect(helper.write([{ ip: "127.0.0.1", names: ["localhost"] }])).rejects.toBeInstanceOf(LocError);
    await expect(helper.write([{ ip: "127.1.0.2", names: ["a b"] }])).rejects.toThrow(/RFC 1123/);
    await expect(helper.write([{ ip: "127.1.0.2", names: ["x\n10.0.0.1 bank.example"] }])).rejects.toThrow(/RFC 1123/);
    expect(readFileSync(path)).toEqual(before);
    expect(await helper.write([])).toBe("atomic"); // still serving after refusals
  });

  it("feeds a HostsFileWriter through the injected write", async () => {
    const path = hostsFile();
    const helper = await started(path);
    const writer = new HostsFileWriter({ path: "/etc/hosts-never-touched", write: (_path, entries) => helper.write(entries) });
    writer.update([{ ip: "127.1.0.9", names: ["api"] }]);
    await writer.flush();
    expect(writer.writes).toBe(1);
    expect(readFileSync(path, "utf8")).toMatch(/^127\.1\.0\.9 api # loc$/m);
  });

  it("fails to start, with the hosts file's error, when the file is missing", async () => {
    await expect(startHostsHelper({ hostsFile: join(tempDir(), "absent"), range: RANGE, log: () => undefined })).rejects.toMatchObject({ code: "HOSTS_FILE_MISSING" });
  });

  it("removes the block within 2 s when the daemon side is SIGKILLed (after it dropped to nobody, when root)", async () => {
    const path = hostsFile();
    const daemon = spawnScript(DAEMON, isRoot ? [path, "nobody"] : [path]);
    onTestFinished(() => void daemon.kill("SIGKILL"));
    const line = await waitForOutput(daemon, /written \d+ \d+\n/);
    const [, helperPid, uid] = /written (\d+) (\d+)/.exec(line) ?? [];
    if (isRoot) expect(uid).toBe("65534");
    expect(readFileSync(path, "utf8")).toContain("web.shop # loc");
    daemon.kill("SIGKILL");
    const ms = await within(2000, () => readFileSync(path, "utf8") === USER);
    await within(2000, () => !processIsAlive(Number(helperPid)));
    console.log(`privsep: block removed ${ms.toFixed(0)} ms after SIGKILL of the daemon side`);
  });

  it("tells the daemon side when the helper is SIGKILLed; writes then reject", async () => {
    const path = hostsFile();
    const helper = await started(path);
    let told: string | undefined;
    helper.onDeath((reason) => (told = reason));
    process.kill(helper.pid, "SIGKILL");
    expect(await helper.died).toBe("killed by SIGKILL");
    expect(told).toBe("killed by SIGKILL");
    await expect(helper.write([])).rejects.toMatchObject({ code: "HOSTS_HELPER_DIED" });
  });

  it("ignores SIGINT (the daemon shuts down first) and removes the block on SIGTERM", async () => {
    const path = hostsFile();
    const helper = await started(path);
    await helper.write([{ ip: "127.1.0.2", names: ["web"] }]);
    process.kill(helper.pid, "SIGINT");
    expect(await helper.write([{ ip: "127.1.0.4", names: ["web"] }])).toBe("atomic");
    process.kill(helper.pid, "SIGTERM");
    expect(await helper.died).toBe("exited with code 0");
    expect(readFileSync(path, "utf8")).toBe(USER);
  });
});

describe("listening sockets bound by the helper", () => {
  it("hands over a server on an address of the range (below 1024 as root), and refuses one outside it", async () => {
    const helper = await started(hostsFile());
    const port = isRoot ? 80 : 18_080;
    const server = await helper.listen("127.1.0.77", port);
    try {
      expect(server.address()).toMatchObject({ address: "127.1.0.77", port });
      const accepted = new Promise<string>((resolve) => server.once("connection", (socket) => socket.once("data", (data: Buffer) => (resolve(data.toString()), socket.end()))));
      const { connect } = await import("node:net");
      const client = connect({ host: "127.1.0.77", port }, () => client.end("through the handed-over socket"));
      expect(await accepted).toBe("through the handed-over socket");
    } finally {
      server.close();
    }
    await expect(helper.listen("127.2.0.1", port)).rejects.toMatchObject({ code: "HOSTS_HELPER_REFUSED" });
    await expect(helper.listen("127.1.0.78", 0)).rejects.toMatchObject({ code: "HOSTS_HELPER_REFUSED" });
  });
});

