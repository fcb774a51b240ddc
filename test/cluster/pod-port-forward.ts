// Two real clients of the API server's pods/portforward subresource, each exposed as a local
// 127.0.0.1 port: @kubernetes/client-node (WebSocket, v4.channel.k8s.io) and `kubectl port-forward`.
import { spawn } from "node:child_process";
import { Writable } from "node:stream";
import { PortForward, type KubeConfig } from "@kubernetes/client-node";
import { startTcpServer, type TcpServerHandle } from "./tcp.js";

/**
 * Each connection to the returned local port gets its own WebSocket port-forward to `pod:port`.
 * Errors the server reports on the forward's error stream are collected in `errors`.
 */
export async function clientNodePortForward(
  config: KubeConfig,
  namespace: string,
  pod: string,
  port: number,
): Promise<TcpServerHandle & { errors: string[] }> {
  const forwarder = new PortForward(config);
  const errors: string[] = [];
  const server = await startTcpServer((socket) => {
    const errorStream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        // The stream's first frame carries only the port number, which leaves an empty chunk.
        if (chunk.length > 0) {
          errors.push(chunk.toString("utf8"));
          socket.destroy();
        }
        done();
      },
    });
    forwarder
      .portForward(namespace, pod, [port], socket, errorStream, socket)
      .then((ws) => {
        // retryCount 0 gives the WebSocket itself; tie the two lifetimes together.
        if (typeof ws === "function") return;
        ws.on("close", () => socket.end());
        socket.on("close", () => ws.close());
      })
      .catch((error: unknown) => {
        errors.push(error instanceof Error ? error.message : String(error));
        socket.destroy();
      });
  });
  return { ...server, errors };
}

export interface KubectlPortForward {
  localPort: number;
  output(): string;
  stop(): Promise<void>;
}

/** Runs `kubectl port-forward` to pod:remotePort on a random 127.0.0.1 port; resolves once it listens. */
export function kubectlPortForward(
  kubectl: string,
  kubeconfig: string,
  namespace: string,
  pod: string,
  remotePort: number,
  timeoutMs = 30_000,
): Promise<KubectlPortForward> {
  const child = spawn(
    kubectl,
    ["--kubeconfig", kubeconfig, "-n", namespace, "port-forward"]
      .concat(["--address", "127.0.0.1", `pod/${pod}`, `:${remotePort}`]),
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`kubectl port-forward did not start within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      const listening = /Forwarding from 127\.0\.0\.1:(\d+) ->/.exec(output);
      if (listening?.[1]) {
        clearTimeout(timer);
        resolve({ localPort: Number(listening[1]), output: () => output, stop });
      }
    };
    child.stdout.on("data", onOutput);
    child.stderr.on("data", onOutput);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`kubectl port-forward exited (${signal ?? code}):\n${output}`));
    });
  });
}
