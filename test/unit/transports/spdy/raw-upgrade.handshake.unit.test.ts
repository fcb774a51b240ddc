import { execFileSync } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { rawUpgrade } from "../../../../src/transports/spdy/raw-upgrade.js";
import { scratchDir } from "../../../helpers/temp.js";

const closers: (() => void)[] = [];
afterEach(() => closers.splice(0).forEach((close) => close()));

// A self-signed certificate for 127.0.0.1 (its own CA), and one the client does not trust.
let tlsFiles: { key: Buffer; cert: Buffer; otherCert: Buffer };
let dir: string;
beforeAll(() => {
  dir = scratchDir("loc-raw-upgrade-");
  const make = (name: string) => {
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=loc-test", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.crt`)], { stdio: "ignore" });
    return { key: readFileSync(join(dir, `${name}.key`)), cert: readFileSync(join(dir, `${name}.crt`)) };
  };
  const server = make("server");
  tlsFiles = { ...server, otherCert: make("other").cert };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Upgrade = (request: http.IncomingMessage, socket: Socket, head: Buffer) => void;

async function serve(upgrade: Upgrade, secure = false): Promise<URL> {
  const server = secure ? https.createServer({ key: tlsFiles.key, cert: tlsFiles.cert }) : http.createServer();
  const sockets: Socket[] = [];
  server.on("upgrade", (request: http.IncomingMessage, socket: Socket, head: Buffer) => (sockets.push(socket), upgrade(request, socket, head)));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  closers.push(() => (sockets.forEach((s) => s.destroy()), server.close()));
  return new URL(`${secure ? "https" : "http"}://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/namespaces/ns/pods/p/portforward?x=1`);
}

const upgrading = { Upgrade: "websocket", Connection: "Upgrade" };
const switching = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: p\r\n\r\n";

describe("the hand-written HTTP upgrade that reads with onread", () => {
  it("sends the request with the kubeconfig's headers and verifies the server's certificate against its CA", async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const url = await serve((request, socket) => (seen.push({ ...request.headers, path: request.url }), socket.write(switching)), true);
    const answer = await rawUpgrade(url, "GET", upgrading, { ca: tlsFiles.cert, headers: { Authorization: "Bearer t0k" } }, 5_000);
    answer.socket.destroy();
    expect(answer.status).toBe(101);
    expect(answer.headers["sec-websocket-protocol"]).toBe("p");
    expect(seen).toEqual([expect.objectContaining({ path: "/api/v1/namespaces/ns/pods/p/portforward?x=1", authorization: "Bearer t0k", upgrade: "websocket", host: url.host })]);
  });

  it("refuses a server whose certificate the kubeconfig's CA did not sign, unless told to skip the check", async () => {
    const url = await serve((_request, socket) => socket.write(switching), true);
    const error = await rawUpgrade(url, "GET", upgrading, { ca: tlsFiles.otherCert }, 5_000).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/self[- ]signed|unable to verify|certificate/i);
    // insecure-skip-tls-verify in the kubeconfig comes as rejectUnauthorized: false, and is honoured.
    const skipped = await rawUpgrade(url, "GET", upgrading, { ca: tlsFiles.otherCert, rejectUnauthorized: false }, 5_000);
    skipped.socket.destroy();
    expect(skipped.status).toBe(101);
  });

  it("sends basic auth from the kubeconfig's user as an Authorization header", async () => {
    const seen: string[] = [];
    const url = await serve((request, socket) => (seen.push(request.headers.authorization ?? ""), socket.write(switching)));
    const answer = await rawUpgrade(url, "GET", upgrading, { auth: "ann:pw" }, 5_000);
    answer.socket.destroy();
    expect(seen).toEqual([`Basic ${Buffer.from("ann:pw").toString("base64")}`]);
  });

  it("answers a refusal with its status and closes the connection", async () => {
    const url = await serve((_request, socket) => socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"));
    const answer = await rawUpgrade(url, "GET", upgrading, {}, 5_000);
    expect(answer.status).toBe(403);
    expect(answer.socket.destroyed).toBe(true);
  });

  it("hands on the bytes after the head first, then every read, each chunk unchanged by later reads", async () => {
    const pieces = Array.from({ length: 40 }, (_, i) => Buffer.alloc(16 * 1024, i));
    const url = await serve((_request, socket) => {
      socket.write(`${switching}early`);
      const next = (i: number) => (i < pieces.length ? socket.write(pieces[i] as Buffer, () => next(i + 1)) : socket.end());
      setTimeout(() => next(0), 20);
    });
    const answer = await rawUpgrade(url, "GET", upgrading, {}, 5_000);
    const kept: Buffer[] = [];
    const ended = once(answer.socket, "end");
    answer.feed((chunk) => kept.push(chunk));
    await ended;
    expect(Buffer.concat(kept).equals(Buffer.concat([Buffer.from("early"), ...pieces]))).toBe(true);
  });

  it("stops reading while paused", async () => {
    const url = await serve((_request, socket) => {
      socket.write(switching);
      setTimeout(() => socket.write("later"), 50);
    });
    const answer = await rawUpgrade(url, "GET", upgrading, {}, 5_000);
    closers.push(() => answer.socket.destroy());
    const received: string[] = [];
    answer.feed((chunk) => received.push(chunk.toString()));
    answer.socket.pause();
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(received).toEqual([]);
    answer.socket.resume();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received).toEqual(["later"]);
  });

  it("fails with a clear message on an answer that is not HTTP, and on none in time", async () => {
    const garbage = await serve((_request, socket) => socket.write("SSH-2.0-nope\r\n\r\n"));
    await expect(rawUpgrade(garbage, "GET", upgrading, {}, 5_000)).rejects.toThrow(/not HTTP: "SSH-2.0-nope/);
    const silent = await serve(() => undefined);
    await expect(rawUpgrade(silent, "GET", upgrading, {}, 100)).rejects.toThrow("no answer in 100 ms");
  });
});
