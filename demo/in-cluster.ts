// The in-cluster path to a Service, from this machine: `kubectl port-forward svc/<name>` asks the API
// server to forward to a pod the Service's selector picks, which is what a client inside the
// cluster reaches. Pod IPs are not routable on the test cluster (kwok), so this is the honest way in.
import { spawn } from "node:child_process";
import path from "node:path";
import { httpGet } from "./http.js";
import { command, output } from "./transcript.js";

export async function showInClusterRequest(bin: string, kubeconfig: string, namespace: string, service: string, port: number): Promise<string> {
  const args = ["--kubeconfig", kubeconfig, "-n", namespace, "port-forward", "--address", "127.0.0.1", `svc/${service}`, `:${port}`];
  command(`kubectl ${args.join(" ")} &`, "the API server forwards to a pod behind the Service, picked by its selector");
  const child = spawn(path.join(bin, "kubectl"), args, { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  try {
    const forwarding = await new Promise<string>((resolve, reject) => {
      let seen = "";
      const timer = setTimeout(() => reject(new Error(`kubectl port-forward did not start in 30 s: ${seen}`)), 30_000);
      const onData = (chunk: Buffer) => {
        seen += chunk.toString();
        const line = /Forwarding from 127\.0\.0\.1:\d+ -> \d+/.exec(seen);
        if (line) {
          clearTimeout(timer);
          resolve(line[0]);
        }
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.once("close", (code) => (clearTimeout(timer), reject(new Error(`kubectl port-forward exited ${code}: ${seen.trim()}`))));
    });
    output(forwarding);
    const localPort = Number(/127\.0\.0\.1:(\d+)/.exec(forwarding)?.[1]);
    command(`curl -i http://127.0.0.1:${localPort}/`);
    const reply = await httpGet("127.0.0.1", localPort, "127.0.0.1");
    output(reply);
    return reply;
  } finally {
    child.kill("SIGTERM");
    await exited;
    command("kill %1", "stop the port-forward");
  }
}
