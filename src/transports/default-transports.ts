import type { KubeConfig } from "@kubernetes/client-node";
import { DEFAULT_FORWARD_TRANSPORT } from "./forward-names.js";
import { KubePortForwardTransport } from "./kube-port-forward.js";
import { TransportRegistry } from "./registry.js";
import { SpdyPortForwardTransport } from "./spdy-port-forward.js";
import { SshReverseTransport } from "./ssh-reverse.js";
import type { ForwardTransport, ReverseTransport } from "./transport.js";

export type Transport = ForwardTransport | ReverseTransport;

export { checkForwardTransport, DEFAULT_FORWARD_TRANSPORT, FORWARD_TRANSPORTS } from "./forward-names.js";
export const DEFAULT_REVERSE_TRANSPORT = "ssh";

/**
 * The transports this build ships, for one cluster. New plugins register here. `forward` names the
 * forward transport the reverse ones ride: the SSH reverse transport reaches the proxy pod's sshd
 * through it.
 */
export function defaultTransports(config: KubeConfig, { forward = DEFAULT_FORWARD_TRANSPORT } = {}): TransportRegistry<Transport> {
  const registry = new TransportRegistry<Transport>().register(new SpdyPortForwardTransport(config)).register(new KubePortForwardTransport(config));
  return registry.register(new SshReverseTransport(registry.get("forward", forward)));
}
