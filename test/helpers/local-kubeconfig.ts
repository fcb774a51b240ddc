import { KubeConfig } from "@kubernetes/client-node";
import type { AddressInfo } from "node:net";

/** A kubeconfig for an API server stand-in listening in this process on plain HTTP. */
export function localKubeConfig(server: { address(): AddressInfo | string | null }, token?: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: "c", server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: "u", token }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return config;
}
