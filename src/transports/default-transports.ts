import type { KubeConfig } from "@kubernetes/client-node";
import { KubePortForwardTransport } from "./kube-port-forward.js";
import { TransportRegistry } from "./registry.js";
import type { ForwardTransport } from "./transport.js";

/** The transports this build ships, for one cluster. New plugins register here. */
export function defaultTransports(config: KubeConfig): TransportRegistry<ForwardTransport> {
  return new TransportRegistry<ForwardTransport>().register(new KubePortForwardTransport(config));
}

export const DEFAULT_FORWARD_TRANSPORT = "port-forward";
