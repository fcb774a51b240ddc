import type { Duplex } from "node:stream";

/** A pod port that bytes should reach. */
export interface PodTarget {
  namespace: string;
  pod: string;
  port: number;
}

/**
 * Carries one TCP connection's bytes from the laptop to a pod port. `open` is called once per
 * accepted local connection; the returned stream is that connection's alone, so its failure never
 * touches another connection or the tunnel.
 */
export interface ForwardTransport {
  readonly kind: "forward";
  readonly name: string;
  open(target: PodTarget, signal?: AbortSignal): Promise<Duplex>;
}
