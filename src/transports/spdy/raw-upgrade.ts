import type { RequestOptions } from "node:https";
import net from "node:net";
import tls from "node:tls";
import { ReadSlabs, type GiveBack } from "./read-slabs.js";

// The HTTP/1.1 upgrade of a pod's port-forward, written by hand so that the upgraded socket can be
// read with `onread` (ADR 0014): Node then hands each read to one callback, into memory we provide,
// instead of allocating a buffer and running it through a Readable stream. Over the API server's
// WebSocket tunnel a 16 KB SPDY DATA frame arrives as four TLS records, each one read; that per-read
// cost was most of what the daemon spent per MB beyond kubectl. `http.request` cannot do this: its
// parser reads the response through the socket's stream, which `onread` bypasses.

/** The response's status line and headers may not be longer than this. */
const MAX_RESPONSE_HEAD = 64 * 1024;

export interface RawUpgradeAnswer {
  status: number;
  /** Header names lower-cased; a repeated header keeps its last value. */
  headers: Record<string, string>;
  socket: net.Socket;
  /**
   * Where every read after the response's head goes (first what already came), as views of slabs
   * that are not read into again until every byte was given back (read-slabs.ts): a receiver may
   * keep them. A paused socket stops reading until resumed, as a stream would.
   */
  feed(receive: (chunk: Buffer) => void): void;
  giveBack: GiveBack;
}

/**
 * Connects to `url`, sends `method` with `headers` asking to upgrade, and resolves with the answer
 * once its head has arrived, whatever the status (a non-101 socket is destroyed). TLS settings,
 * credentials and basic auth come from `options` as the kubeconfig filled them in.
 */
export function rawUpgrade(url: URL, method: string, headers: Record<string, string>, options: RequestOptions, timeoutMs: number): Promise<RawUpgradeAnswer> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
    const slabs = new ReadSlabs();
    // The response's head, then reads held until the caller says where they go, then that.
    let receive: (chunk: Buffer) => void = onResponseBytes;
    let response: Buffer[] = [];
    const early: Buffer[] = [];
    const onread: net.OnReadOpts = {
      buffer: () => slabs.free(),
      callback: (length, buffer) => (receive(slabs.take(length, buffer)), true),
    };
    // tls.connect documents `onread` (Node >= 14.5) though @types/node does not list it.
    const secure: tls.ConnectionOptions & { onread: net.OnReadOpts } = { host, port, onread, ...tlsSettings(options, host) };
    const socket = url.protocol === "https:" ? tls.connect(secure) : net.connect({ host, port, onread });
    const timer = setTimeout(() => fail(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    const abort = () => fail(new Error("aborted"));
    options.signal?.addEventListener("abort", abort, { once: true });
    const settle = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", abort);
      socket.removeListener("error", fail);
      socket.removeListener("close", closedEarly);
    };
    function fail(error: Error): void {
      settle();
      socket.destroy();
      reject(error);
    }
    function closedEarly(): void {
      fail(new Error("the server closed the connection before answering"));
    }
    socket.once("error", fail);
    socket.once("close", closedEarly);
    socket.once(url.protocol === "https:" ? "secureConnect" : "connect", () => socket.write(requestHead(url, method, headers, options)));

    function onResponseBytes(chunk: Buffer): void {
      response.push(chunk);
      const bytes = Buffer.concat(response);
      const end = bytes.indexOf("\r\n\r\n");
      if (end < 0) {
        if (bytes.length > MAX_RESPONSE_HEAD) fail(new Error(`the server's answer has no end of headers in ${MAX_RESPONSE_HEAD} bytes`));
        return;
      }
      response = [];
      const parsed = parseHead(bytes.subarray(0, end).toString("latin1"));
      if (!parsed) return fail(new Error(`the server's answer is not HTTP: ${JSON.stringify(bytes.subarray(0, 40).toString("latin1"))}`));
      settle();
      if (parsed.status !== 101) socket.destroy();
      if (bytes.length > end + 4) early.push(bytes.subarray(end + 4));
      receive = (chunk) => early.push(chunk);
      resolve({
        ...parsed,
        socket,
        giveBack: slabs.giveBack,
        feed(next) {
          receive = next;
          for (const chunk of early.splice(0)) next(chunk);
        },
      });
    }
  });
}

function tlsSettings(options: RequestOptions, host: string): tls.ConnectionOptions {
  const { ca, cert, key, pfx, passphrase, rejectUnauthorized, servername } = options;
  return { ca, cert, key, pfx, passphrase, rejectUnauthorized, servername: servername ?? (net.isIP(host) ? undefined : host) };
}

function requestHead(url: URL, method: string, headers: Record<string, string>, options: RequestOptions): string {
  const lines = [`${method} ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
  const all: Record<string, unknown> = { ...(options.headers as Record<string, unknown> | undefined), ...headers };
  if (options.auth) all.Authorization = `Basic ${Buffer.from(options.auth).toString("base64")}`;
  for (const [name, value] of Object.entries(all)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${String(one)}`);
  }
  if (method !== "GET") lines.push("Content-Length: 0");
  return `${lines.join("\r\n")}\r\n\r\n`;
}

function parseHead(text: string): { status: number; headers: Record<string, string> } | undefined {
  const [statusLine = "", ...lines] = text.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(match[1]), headers };
}
