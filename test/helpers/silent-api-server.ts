import { KubeConfig } from "@kubernetes/client-node";
import { writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";

/**
 * What the API server stand-in does with each connection: `silent` accepts and never answers (a
 * hung API server, a black-holed VPN); `headersOnly` sends a 200's headers and then nothing (a
 * stalled body, or a watch with no events yet).
 */
export type SilentMode = "silent" | "headersOnly";

export interface SilentApiServer {
  url: string;
  /** Requests seen so far (first line of each, e.g. `GET /api/v1/namespaces/shop HTTP/1.1`). */
  requests: string[];
  kubeConfig(): KubeConfig;
  /** A kubeconfig file pointing at the stand-in, for a `loc` process. */
  writeKubeconfig(dir: string): string;
  close(): Promise<void>;
}

/** An API server stand-in on 127.0.0.1 (plain HTTP) that never answers a request in full. */
export async function silentApiServer(mode: SilentMode = "silent"): Promise<SilentApiServer> {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let seen = "";
    socket.on("data", (chunk: Buffer) => {
      seen += chunk.toString("latin1");
      // One request per connection is all a client sends before waiting for the answer.
      const end = seen.indexOf("\r\n\r\n");
      if (end < 0) return;
      requests.push(seen.slice(0, seen.indexOf("\r\n")));
      seen = "";
      if (mode === "headersOnly") socket.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("no address");
  const url = `http://127.0.0.1:${address.port}`;
  const yaml = kubeconfigYaml(url);
  return {
    url,
    requests,
    kubeConfig: () => {
      const config = new KubeConfig();
      config.loadFromString(yaml);
      return config;
    },
    writeKubeconfig: (dir) => {
      const path = join(dir, "kubeconfig");
      writeFileSync(path, yaml);
      return path;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function kubeconfigYaml(server: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters: [{ name: standin, cluster: { server: '" + server + "', insecure-skip-tls-verify: true } }]",
    "users: [{ name: nobody, user: { token: not-a-secret } }]",
    "contexts: [{ name: standin, context: { cluster: standin, user: nobody } }]",
    "current-context: standin",
    "",
  ].join("\n");
}
