// Plain TCP helpers on loopback: an echo server standing in for a pod's process, and a round trip
// that sends a payload and collects the same number of bytes back.
import net from "node:net";

export interface TcpServerHandle {
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (random port) on behalf of `onConnection`; close() also drops open sockets. */
export async function startTcpServer(onConnection: (socket: net.Socket) => void): Promise<TcpServerHandle> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    onConnection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export function startEchoServer(): Promise<TcpServerHandle> {
  return startTcpServer((socket) => socket.pipe(socket));
}

/**
 * Connects to 127.0.0.1:port, writes `payload` and resolves with the first payload.length bytes
 * received (then closes). Rejects if the peer closes early or nothing completes within timeoutMs.
 */
export function roundTrip(port: number, payload: Buffer, timeoutMs = 60_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const socket = net.connect({ host: "127.0.0.1", port });
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`no complete echo within ${timeoutMs} ms (${received} bytes)`)));
    socket.on("error", fail);
    socket.on("connect", () => socket.write(payload));
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= payload.length) {
        socket.destroy();
        resolve(Buffer.concat(chunks).subarray(0, payload.length));
      }
    });
    socket.on("end", () => fail(new Error(`peer closed after ${received} of ${payload.length} bytes`)));
  });
}
