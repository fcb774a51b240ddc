// Client-side measurements for bench:tunnel: each one talks to a local host:port the way a user's
// program would (new TCP connection, bytes in, bytes out), whatever forwards it behind.
import { once } from "node:events";
import net from "node:net";
import { performance } from "node:perf_hooks";

export const step = (what: string) => console.error(`[bench] ${new Date().toISOString().slice(11, 19)} ${what}`);

export const quantile = (values: readonly number[], q: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * q))] ?? NaN;
export const median = (values: readonly number[]) => quantile(values, 0.5);

/** `items` rotated by `round`: every item goes first in turn, so drift spreads over all of them. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const k = round % Math.max(1, items.length);
  return [...items.slice(k), ...items.slice(0, k)];
}

export interface Endpoint {
  host: string;
  port: number;
}

/**
 * Reads `bytes` from a new connection; MB/s. Done when every byte arrived: kwok's port-forward keeps
 * the stream open after the pod side ends, so "closed" is not a usable end signal.
 */
export async function download({ host, port }: Endpoint, bytes: number): Promise<number> {
  const started = performance.now();
  const socket = net.connect({ host, port });
  let received = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      socket.on("data", (data: Buffer) => {
        received += data.length;
        if (received >= bytes) resolve();
      });
      socket.on("error", reject);
      socket.on("close", () => reject(new Error(`received ${received} of ${bytes} bytes from ${host}:${port}`)));
    });
  } finally {
    socket.destroy();
  }
  return bytes / 1024 / 1024 / ((performance.now() - started) / 1000);
}

/** New connection, one byte written once connected, until the first byte of the echo: ms. */
export async function firstByte({ host, port }: Endpoint, timeoutMs = 30_000): Promise<number> {
  const started = performance.now();
  const socket = net.connect({ host, port }, () => socket.write("x"));
  socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no first byte from ${host}:${port} within ${timeoutMs} ms`)));
  try {
    await once(socket, "data");
  } finally {
    socket.destroy();
  }
  return performance.now() - started;
}

/** One connection: writes `request`, resolves once as many bytes came back (an echo). */
export function exchange({ host, port }: Endpoint, request: Buffer, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const socket = net.connect({ host, port }, () => socket.write(request));
    const fail = (error: Error) => (socket.destroy(), reject(error));
    socket.setTimeout(timeoutMs, () => fail(new Error(`${host}:${port}: ${received} of ${request.length} bytes back within ${timeoutMs} ms`)));
    socket.on("error", fail);
    socket.on("data", (data: Buffer) => {
      received += data.length;
      if (received >= request.length) {
        socket.destroy();
        resolve();
      }
    });
    socket.on("close", () => fail(new Error(`${host}:${port} closed after ${received} of ${request.length} bytes`)));
  });
}

/** `count` connections opened at once, each an `exchange`: ms until the last one is done. */
export async function concurrent(endpoint: Endpoint, count: number, request: Buffer): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: count }, () => exchange(endpoint, request)));
  return performance.now() - started;
}

/** Runs `tasks` with at most `limit` in flight. */
export async function withConcurrency(total: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, total) }, worker));
}

export const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : "—");
