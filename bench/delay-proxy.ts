// A TCP relay on loopback that emulates network distance: every chunk, in each direction, is
// forwarded a fixed one-way delay after it arrived, in order (an end is delayed the same way). TLS
// passes through untouched: it only relays bytes. Used by bench:tunnel to put the API server
// `2 × delayMs` of round trip away from every client, all on 127.0.0.1.
//
// The TCP handshake itself is not delayed (the relay accepts at once and dials the target at once):
// a client that opens a new TCP connection per request is favoured by one round trip per connection.
//
// As a process: node --import tsx bench/delay-proxy.ts <targetHost:port> <delayMs>
// prints `listening <port>` on stdout once bound, and runs until SIGTERM.
import net from "node:net";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

export interface DelayProxyOptions {
  target: { host: string; port: number };
  /** One-way delay per direction, ms. */
  delayMs: number;
  /** Bytes held per direction (queued plus not yet taken by the kernel) before reading pauses. */
  maxInFlight?: number;
}

export interface DelayProxy {
  port: number;
  close(): Promise<void>;
}

/** One direction: from's chunks reach `to` delayMs later, in order; from pauses while too much is held. */
function relay(from: net.Socket, to: net.Socket, delayMs: number, maxInFlight: number): void {
  const queue: { due: number; chunk: Buffer | null }[] = [];
  let held = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const now = performance.now();
    // Everything due goes out in one writev, as a network link delivers what arrived together;
    // one write per chunk cost the relay a syscall per TLS record (most of them a few bytes), CPU
    // taken from whichever client shares the machine.
    to.cork();
    // Within half a millisecond counts as due: timers have a 1 ms granularity.
    while (queue.length > 0 && (queue[0]?.due ?? 0) <= now + 0.5) {
      const { chunk } = queue.shift() ?? { chunk: null };
      if (chunk === null) {
        to.end();
        continue;
      }
      to.write(chunk, () => {
        held -= chunk.length;
        if (held <= maxInFlight / 2 && from.isPaused()) from.resume();
      });
    }
    to.uncork();
    schedule();
  };
  const schedule = () => {
    const next = queue[0];
    if (timer === undefined && next !== undefined) timer = setTimeout(flush, Math.max(0, next.due - performance.now()));
  };
  const enqueue = (chunk: Buffer | null) => {
    queue.push({ due: performance.now() + delayMs, chunk });
    schedule();
  };
  from.on("data", (chunk: Buffer) => {
    held += chunk.length;
    if (held > maxInFlight) from.pause();
    enqueue(chunk);
  });
  from.on("end", () => enqueue(null));
}

export async function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const maxInFlight = options.maxInFlight ?? 16 * 1024 * 1024;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const upstream = net.connect({ ...options.target, allowHalfOpen: true, noDelay: true });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => (client.destroy(), upstream.destroy()));
    }
    relay(client, upstream, options.delayMs, maxInFlight);
    relay(upstream, client, options.delayMs, maxInFlight);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [target, delay] = process.argv.slice(2);
  const match = /^(.+):(\d+)$/.exec(target ?? "");
  if (!match || delay === undefined || !(Number(delay) >= 0)) {
    console.error("usage: node --import tsx bench/delay-proxy.ts <targetHost:port> <delayMs>");
    process.exit(2);
  }
  const proxy = await startDelayProxy({ target: { host: match[1] ?? "", port: Number(match[2]) }, delayMs: Number(delay) });
  console.log(`listening ${proxy.port}`);
  process.on("SIGTERM", () => void proxy.close().then(() => process.exit(0)));
}
