// The demo's HTTP: small servers standing in for the pods' processes (and the laptop's app), and a
// tiny client that resolves a name through the demo's own hosts file, as /etc/hosts would for curl.
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface HttpStandIn {
  port: number;
  stop(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 (a random port unless given) answering `reply` to every request. */
export async function startReplyServer(reply: string, port = 0): Promise<HttpStandIn> {
  const server = http.createServer((_request, response) => response.end(reply));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    // Port-forwards through kwok keep idle connections open; close them or close() would wait.
    stop: () => new Promise((resolve) => (server.close(() => resolve()), server.closeAllConnections())),
  };
}

/** The address loc's block in `hostsFile` gives `name`, if any. */
export function resolveFromHostsFile(hostsFile: string, name: string): string | undefined {
  for (const line of readFileSync(hostsFile, "utf8").split("\n")) {
    const [address, ...names] = line.replace(/#.*/, "").trim().split(/\s+/);
    if (address && names.includes(name)) return address;
  }
  return undefined;
}

/** GET http://host:port/ on `address`; the status line and body, as `curl -i` would show them (minus headers). */
export function httpGet(address: string, port: number, host: string, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: address, port, path: "/", headers: { host: `${host}:${port}` }, agent: false, timeout: timeoutMs }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve(`HTTP/${response.httpVersion} ${response.statusCode} ${response.statusMessage}\n\n${body}`));
    });
    request.on("timeout", () => request.destroy(new Error(`no answer from ${address}:${port} within ${timeoutMs} ms`)));
    request.on("error", reject);
  });
}
