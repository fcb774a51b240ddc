import { unlinkSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { errorMessage, LocError } from "../errors.js";
import type { DaemonCore } from "../daemon/core.js";
import { serveExpose, serveUnexpose, unavailable, type Connection } from "./expose-handlers.js";
import { toExposeSpec } from "./expose-params.js";
import { lineReader } from "./lines.js";
import { listenOwnerOnly } from "./listen.js";
import { parseRequest, REQUEST_HINT } from "./parse.js";
import { toWire, type DaemonRequest, type DaemonResponse, type Refusal } from "./protocol.js";
import { daemonSocketPath } from "./socket-path.js";
import { watchStatusThrottled } from "./watch-status.js";

export { WATCH_THROTTLE_MS } from "./watch-status.js";

export interface DaemonServer {
  readonly path: string;
  /** Ends every connection and removes the socket file. */
  close(): Promise<void>;
}

/** A request line longer than this is a misbehaving client, not a request. */
const MAX_LINE_CHARS = 64 * 1024;
const BUG_HINT = "this is a bug in loc, please report it";

/** Serves the daemon over `<stateDir>/daemon.sock` (src/ipc/protocol.ts), owner-only. */
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

/** One client: any number of requests, each answered on the same connection. */
function serveConnection(socket: Socket, core: DaemonCore): void {
  const stopWatches: (() => void)[] = [];
  const connection: Connection = { send: (response) => send(socket, response), onClose: (cleanup) => stopWatches.push(cleanup) };
  const lines = lineReader((line) => {
    if (line.trim()) handleLine(line.trim());
  });
  socket.setEncoding("utf8");
  // EPIPE/ECONNRESET from a client that went away: just drop it.
  socket.on("error", () => socket.destroy());
  socket.on("close", () => stopWatches.splice(0).forEach((stop) => stop()));
  socket.on("data", (chunk: string) => {
    lines.push(chunk);
    if (lines.pending() > MAX_LINE_CHARS) {
      lines.clear();
      send(socket, { id: 0, ok: false, error: { message: `request longer than ${MAX_LINE_CHARS} characters`, hint: REQUEST_HINT, code: "BAD_REQUEST" } });
      socket.end();
    }
  });

  function handleLine(line: string): void {
    const parsed = parseRequest(line);
    if (!parsed.ok) return send(socket, { id: parsed.id, ok: false, error: parsed.error });
    try {
      handleRequest(parsed.request);
    } catch (error) {
      send(socket, { id: parsed.request.id, ok: false, error: refusal(error) });
    }
  }

  function handleRequest(request: DaemonRequest): void {
    const { id } = request;
    switch (request.method) {
      case "status":
        return send(socket, statusResponse(core, id));
      case "watchStatus":
        stopWatches.push(watchStatusThrottled(socket, core, () => send(socket, statusResponse(core, id))));
        return;
      case "expose":
        // Checked here, before the session exists: any client may write to the socket.
        return serveExpose(connection, core.exposes ?? unavailable(), id, toExposeSpec(request.params));
      case "unexpose":
        return serveUnexpose(connection, core.exposes, id, request.params);
    }
  }
}

function statusResponse(core: DaemonCore, id: number): DaemonResponse {
  try {
    return { id, ok: true, status: core.status() };
  } catch (error) {
    return { id, ok: false, error: { message: `the daemon could not build its status: ${errorMessage(error)}`, hint: BUG_HINT, code: "INTERNAL" } };
  }
}

/** A LocError is the user's to fix and keeps its hint; anything else is a bug. */
function refusal(error: unknown): Refusal {
  if (error instanceof LocError) return { message: error.message, hint: error.hint, code: error.code };
  return { message: `the daemon failed: ${errorMessage(error)}`, hint: BUG_HINT, code: "INTERNAL" };
}

function send(socket: Socket, response: DaemonResponse): void {
  if (!socket.writable) return;
  let line: string;
  try {
    line = JSON.stringify(toWire(response));
  } catch (error) {
    const message = `the daemon could not encode its answer: ${errorMessage(error)}`;
    line = JSON.stringify(toWire({ id: response.id, ok: false, error: { message, hint: BUG_HINT, code: "INTERNAL" } }));
  }
  socket.write(line + "\n");
}
