import { chmodSync, statSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { errorCode, errorMessage, LocError } from "../errors.js";
import type { DaemonCore, DaemonResponse } from "./api.js";
import { daemonSocketPath } from "./client.js";
import type { ExposeParams } from "./expose-api.js";
import { serveExpose, serveUnexpose, type Connection } from "./expose-handlers.js";
import { lineReader } from "./lines.js";

export interface DaemonServer {
  readonly path: string;
  /** Ends every connection and removes the socket file. */
  close(): Promise<void>;
}

/** Watchers get at most one status per this interval; the newest one always arrives. */
export const WATCH_THROTTLE_MS = 200;
/** A request line longer than this is a misbehaving client, not a request. */
const MAX_LINE_CHARS = 64 * 1024;

/**
 * Serves the daemon's status over `<stateDir>/daemon.sock`, one JSON object per line. The socket is
 * owner-only: the status names every service in the cluster the daemon's user can see.
 */
export async function serveDaemon(core: DaemonCore, stateDir: string): Promise<DaemonServer> {
  const path = daemonSocketPath(stateDir);
  const connections = new Set<Socket>();
  const server = createServer((socket) => {
    connections.add(socket);
    socket.on("close", () => connections.delete(socket));
    serveConnection(socket, core);
  });
  await listenOwnerOnly(server, path);
  // After listening, errors are failed accept()s (EMFILE): transient, and no reason to stop the daemon.
  server.on("error", () => undefined);
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      server.close(() => {
        try {
          unlinkSync(path);
        } catch {
          // libuv usually removed it already
        }
        resolve();
      });
      for (const socket of connections) socket.destroy();
    }));
  return { path, close };
}

async function listenOwnerOnly(server: Server, path: string, retried = false): Promise<void> {
  const listening = new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  // bind() runs synchronously inside listen(), so the tight umask is restored before other code runs.
  const previousUmask = process.umask(0o177);
  try {
    server.listen(path);
  } finally {
    process.umask(previousUmask);
  }
  try {
    await listening;
  } catch (error) {
    server.removeAllListeners("listening");
    if (errorCode(error) !== "EADDRINUSE" || retried) throw error;
    if (await someoneAnswers(path)) {
      throw new LocError(`a loc daemon is already serving ${path}`, "use it: loc list, or stop it first", "DAEMON_RUNNING");
    }
    unlinkSync(path); // left by a daemon that died without cleaning up
    return listenOwnerOnly(server, path, true);
  }
  // Belt and braces: the umask covers creation, chmod covers filesystems that ignore it for sockets.
  chmodSync(path, 0o600);
  const mode = statSync(path).mode & 0o777;
  if (mode !== 0o600) {
    server.close();
    throw new LocError(`the daemon socket ${path} has mode ${mode.toString(8)}, not 600`, "put the state dir on a filesystem that keeps unix permissions (--state-dir)", "SOCKET_MODE");
  }
}

function someoneAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection({ path });
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}

/** One client: any number of requests, each answered on the same connection. */
function serveConnection(socket: Socket, core: DaemonCore): void {
  const stopWatches: (() => void)[] = [];
  const connection: Connection = { send: (response) => send(socket, response), onClose: (cleanup) => stopWatches.push(cleanup) };
  const lines = lineReader((line) => {
    if (line.trim()) handleRequest(line.trim());
  });
  socket.setEncoding("utf8");
  // EPIPE/ECONNRESET from a client that went away: just drop it.
  socket.on("error", () => socket.destroy());
  socket.on("close", () => stopWatches.splice(0).forEach((stop) => stop()));
  socket.on("data", (chunk: string) => {
    lines.push(chunk);
    if (lines.pending() > MAX_LINE_CHARS) {
      lines.clear();
      send(socket, failure(0, `request longer than ${MAX_LINE_CHARS} characters`, "BAD_REQUEST"));
      socket.end();
    }
  });

  function handleRequest(line: string): void {
    let request: unknown;
    try {
      request = JSON.parse(line);
    } catch {
      send(socket, failure(0, "request is not JSON", "BAD_REQUEST"));
      return;
    }
    const fields = typeof request === "object" && request !== null ? (request as Record<string, unknown>) : {};
    const id = typeof fields.id === "number" ? fields.id : 0;
    if (fields.method === "status") send(socket, statusResponse(core, id));
    else if (fields.method === "watchStatus") stopWatches.push(watchThrottled(socket, core, id));
    else if (fields.method === "expose" || fields.method === "unexpose") serveExposeMethod(id, fields.method, fields.params);
    else send(socket, failure(id, `unknown method ${JSON.stringify(fields.method ?? null)}`, "UNKNOWN_METHOD"));
  }

  function serveExposeMethod(id: number, method: "expose" | "unexpose", params: unknown): void {
    const fields = typeof params === "object" && params !== null ? (params as Record<string, unknown>) : {};
    try {
      if (method === "expose") serveExpose(connection, core.exposes, id, fields as unknown as ExposeParams);
      else serveUnexpose(connection, core.exposes, id, String(fields.service), typeof fields.session === "string" ? fields.session : undefined);
    } catch (error) {
      send(socket, refusal(id, error));
    }
  }
}

/** Sends the status now, then on changes: at most every WATCH_THROTTLE_MS, and never faster than the client reads. */
function watchThrottled(socket: Socket, core: DaemonCore, id: number): () => void {
  let lastSent = 0;
  let timer: NodeJS.Timeout | undefined;
  let waitingForDrain = false;
  const flush = () => {
    timer = undefined;
    // A slow reader gets only the newest status once it catches up, not a backlog.
    waitingForDrain = socket.writableNeedDrain;
    if (waitingForDrain) return;
    lastSent = Date.now();
    send(socket, statusResponse(core, id));
  };
  const schedule = () => {
    timer ??= setTimeout(flush, Math.max(0, lastSent + WATCH_THROTTLE_MS - Date.now()));
  };
  const onDrain = () => {
    if (waitingForDrain) schedule();
  };
  socket.on("drain", onDrain);
  flush();
  const unsubscribe = core.onChange(schedule);
  return () => {
    unsubscribe();
    clearTimeout(timer);
    socket.off("drain", onDrain);
  };
}

function statusResponse(core: DaemonCore, id: number): DaemonResponse {
  try {
    return { id, ok: true, status: core.status() };
  } catch (error) {
    const message = errorMessage(error);
    return { id, ok: false, error: { message: `the daemon could not build its status: ${message}`, hint: "this is a bug in loc, please report it", code: "INTERNAL" } };
  }
}

/** A LocError is the user's to fix and keeps its hint; anything else is a bug. */
function refusal(id: number, error: unknown): DaemonResponse {
  if (error instanceof LocError) return { id, ok: false, error: { message: error.message, hint: error.hint, code: error.code } };
  const message = errorMessage(error);
  return { id, ok: false, error: { message: `the daemon failed: ${message}`, hint: "this is a bug in loc, please report it", code: "INTERNAL" } };
}

/** Request errors carry the id when it could be read, else 0. */
function failure(id: number, message: string, code: string): DaemonResponse {
  const hint = 'send one JSON object per line: {"id":1,"method":"status"} or {"id":1,"method":"watchStatus"}';
  return { id, ok: false, error: { message, hint, code } };
}

function send(socket: Socket, response: DaemonResponse): void {
  if (!socket.writable) return;
  let line: string;
  try {
    line = JSON.stringify(response);
  } catch (error) {
    const message = `the daemon could not encode its answer: ${errorMessage(error)}`;
    line = JSON.stringify({ id: response.id, ok: false, error: { message, hint: "this is a bug in loc, please report it", code: "INTERNAL" } });
  }
  socket.write(line + "\n");
}
