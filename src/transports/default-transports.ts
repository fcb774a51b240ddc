import type { KubeConfig } from "@kubernetes/client-node";
import { KubePortForwardTransport } from "./kube-port-forward.js";
import { TransportRegistry } from "./registry.js";
import { SshReverseTransport } from "./ssh-reverse.js";
import type { ForwardTransport, ReverseTransport } from "./transport.js";

export type Transport = ForwardTransport | ReverseTransport;

/** The transports this build ships, for one cluster. New plugins register here. */
export function defaultTransports(config: KubeConfig): TransportRegistry<Transport> {
  const portForward = new KubePortForwardTransport(config);
  // The SSH reverse transport reaches the proxy pod's sshd through the same port-forward.
  return new TransportRegistry<Transport>().register(portForward).register(new SshReverseTransport(portForward));
}

export const DEFAULT_FORWARD_TRANSPORT = "port-forward";
export const DEFAULT_REVERSE_TRANSPORT = "ssh";
