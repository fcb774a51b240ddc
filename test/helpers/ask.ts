import net from "node:net";

/** Sends `payload` to ip:port and resolves with the first reply; rejects on close or timeout. */
export function ask(ip: string, port: number, payload: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: ip, port }, () => socket.write(payload));
    socket.setTimeout(timeoutMs, () => (socket.destroy(), reject(new Error(`no reply from ${ip}:${port}`))));
    socket.once("data", (data) => (resolve(data.toString()), socket.destroy()));
    socket.once("error", reject);
    socket.once("close", () => reject(new Error(`${ip}:${port} closed without a reply`)));
  });
}
