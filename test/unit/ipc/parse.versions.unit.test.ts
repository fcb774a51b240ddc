import { once } from "node:events";
import net from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { DaemonCore } from "../../../src/daemon/core.js";
import { LocError } from "../../../src/errors.js";
import { requestStatus } from "../../../src/ipc/client.js";
import { converseExpose } from "../../../src/ipc/expose-client.js";
import { toExposeSpec } from "../../../src/ipc/expose-params.js";
import { parseAnswer, parseRequest } from "../../../src/ipc/parse.js";
import { PROTOCOL_VERSION, type DaemonStatus } from "../../../src/ipc/protocol.js";
import { serveDaemon } from "../../../src/ipc/server.js";
import { tempDir } from "../../helpers/temp.js";

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((cleanup) => cleanup()));

const STATUS: DaemonStatus = { pid: 4242, startedAt: 1_000, scope: "all namespaces", hostsFile: "/etc/hosts", tunnels: [], skipped: [], watchProblems: [], exposes: [] };

/** A daemon socket that answers every line with `answer` (what an older or newer daemon would say). */
async function daemonAnswering(answer: object): Promise<string> {
  const dir = tempDir();
  const server = net.createServer((socket) => socket.once("data", () => socket.write(JSON.stringify(answer) + "\n"))).listen(join(dir, "daemon.sock"));
  cleanups.push(() => void server.close());
  await once(server, "listening");
  return dir;
}

/** Sends one raw line to a real daemon server and returns its first answer, parsed as an old client would. */
async function ask(line: string): Promise<Record<string, unknown>> {
  const dir = tempDir();
  const core: DaemonCore = { status: () => STATUS, onChange: () => () => undefined };
  const server = await serveDaemon(core, dir);
  cleanups.push(() => void server.close());
  const socket = net.createConnection({ path: server.path });
  cleanups.push(() => void socket.destroy());
  socket.setEncoding("utf8");
  socket.write(line + "\n");
  const [chunk] = (await once(socket, "data")) as [string];
  return JSON.parse(chunk.split("\n")[0] ?? "") as Record<string, unknown>;
}

async function rejection(promise: Promise<unknown>): Promise<LocError> {
  const error = await promise.then(() => undefined, (reason: unknown) => reason);
  if (!(error instanceof LocError)) throw new Error(`expected a LocError, got ${String(error)}`);
  return error;
}

describe("the daemon protocol's version", () => {
  it("an old loc (no version) asking a new daemon gets a one-line refusal with a hint", async () => {
    // Exactly what loc sent before the protocol had versions.
    const answer = await ask(`{"id":1,"method":"status"}`);
    expect(answer).toMatchObject({ id: 1, ok: false, error: { code: "DAEMON_PROTOCOL" } });
    const { message, hint, code } = answer.error as { message: string; hint: string; code: string };
    // The old client throws the refusal as a LocError and prints its one line.
    const line = new LocError(message, hint, code).toLine();
    expect(line).toBe(`loc: this loc speaks daemon protocol 0, the running loc daemon speaks ${PROTOCOL_VERSION} (hint: run the CLI and the daemon from the same loc: restart the daemon with this one (sudo loc daemon), or use the loc that started it)`);
    expect(line).not.toContain("\n");
  });

  it("a newer loc's request is refused by version before its method is looked at", async () => {
    const answer = await ask(`{"v":${PROTOCOL_VERSION + 1},"id":2,"method":"somethingNew"}`);
    expect(answer).toMatchObject({ v: PROTOCOL_VERSION, id: 2, ok: false, error: { code: "DAEMON_PROTOCOL", message: `this loc speaks daemon protocol ${PROTOCOL_VERSION + 1}, the running loc daemon speaks ${PROTOCOL_VERSION}` } });
  });

  it("a new loc asking an old daemon (answers without a version) says so in one line", async () => {
    const dir = await daemonAnswering({ id: 1, ok: true, status: STATUS });
    const error = await rejection(requestStatus(dir));
    expect(error.code).toBe("DAEMON_PROTOCOL");
    expect(error.toLine()).toMatch(new RegExp(`^loc: the running loc daemon speaks daemon protocol 0, this loc speaks ${PROTOCOL_VERSION} \\(hint: .*sudo loc daemon.*\\)$`));
  });

  it("loc expose against a daemon of another version fails the same way, before any step is shown", async () => {
    const dir = await daemonAnswering({ v: PROTOCOL_VERSION + 1, id: 1, ok: true, session: "s1", end: { state: "stopped" } });
    const steps: string[] = [];
    const error = await rejection(converseExpose(dir, { method: "expose", params: { service: "shop/web" } }, { onEvent: (event) => steps.push(event.type) }, undefined));
    expect(error.message).toBe(`the running loc daemon speaks daemon protocol ${PROTOCOL_VERSION + 1}, this loc speaks ${PROTOCOL_VERSION}`);
    expect(steps).toEqual([]);
  });

  it("answers of this version pass", async () => {
    const dir = await daemonAnswering({ v: PROTOCOL_VERSION, id: 1, ok: true, status: STATUS });
    expect(await requestStatus(dir)).toEqual(STATUS);
  });
});

describe("the daemon protocol's parser", () => {
  const v = PROTOCOL_VERSION;

  it("types each request, and refuses expose params of the wrong shape", () => {
    expect(parseRequest(JSON.stringify({ v, id: 3, method: "watchStatus" }))).toEqual({ ok: true, request: { id: 3, method: "watchStatus" } });
    expect(parseRequest(JSON.stringify({ v, id: 4, method: "unexpose", params: { service: "shop/web", session: "s1" } }))).toEqual({ ok: true, request: { id: 4, method: "unexpose", params: { service: "shop/web", session: "s1" } } });
    for (const params of [undefined, { service: 7 }, { service: "shop/web", maps: "3000:80" }, { service: "shop/web", sshPort: "2222" }, { service: "shop/web", overrides: [] }]) {
      expect(parseRequest(JSON.stringify({ v, id: 5, method: "expose", params }))).toMatchObject({ ok: false, id: 5, error: { code: "BAD_REQUEST" } });
    }
  });

  it("refuses answers it cannot trust", () => {
    expect(() => parseAnswer("not json")).toThrow(/cannot read/);
    expect(() => parseAnswer(JSON.stringify({ v, id: 1, ok: true, status: { tunnels: "nope" } }))).toThrow(/cannot read/);
    expect(() => parseAnswer(JSON.stringify({ v, id: 1, ok: true, session: "s1", event: { type: "expose.active" } }))).toThrow(/cannot read/); // no time
    expect(parseAnswer(JSON.stringify({ v, id: 1, ok: false, error: { message: "m", hint: "h", code: "C" } }))).toMatchObject({ ok: false });
  });

  it("fills one set of defaults, and checks what the fields mean", () => {
    expect(toExposeSpec({ service: "shop/web" })).toMatchObject({ service: "shop/web", transport: "ssh", strategy: "scale", maps: [], sshPort: 2222, runAsUser: 911, user: "abc", readyTimeoutMs: 60_000, connectTimeoutMs: 60_000, detach: false });
    expect(() => toExposeSpec({ service: "shop/web", strategy: "teleport" })).toThrow(/unknown strategy/);
    expect(() => toExposeSpec({ service: "shop/web", maps: ["nope"] })).toThrow(/LOCAL:REMOTE/);
  });
});
