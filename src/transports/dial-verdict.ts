import type { Duplex } from "node:stream";

/**
 * Port-forward has no positive answer: the upgrade and the stream replies come from the API server
 * and the kubelet before the kubelet dials the pod's port, and a dial failure ("connection
 * refused", kwok's "no forward found") arrives afterwards, on the error stream. A probe that closes
 * its stream as soon as it opened proves only that the pod exists; this waits for the verdict.
 */
export class PodDialError extends Error {
  constructor(
    message: string,
    /** The server's own words, whole (containerd's run to 300 characters): for the daemon's log. */
    readonly detail = message,
  ) {
    super(message);
    this.name = "PodDialError";
  }
}

// What the known kubelets write when the dial itself failed, as opposed to a connection that was
// made and later broke ("read: connection reset by peer"): containerd and CRI-O ("failed to connect
// to localhost:9 inside namespace …: dial tcp4 127.0.0.1:9: connect: connection refused"), the
// dockershim's socat ("connection refused"), and kwok ("no forward found for port 8080").
const DIAL_FAILURE = /failed to connect|\bdial(ing)?\b|connection refused|no forward found/i;

/**
 * The error for text the server wrote on a connection's error stream. A dial failure gets a short
 * message (what `loc list` and `loc history` show) that leads with what is wrong, not with the
 * sandbox id and network namespace path containerd puts first.
 */
export function serverReportedError(text: string): Error {
  const message = `port-forward: ${text}`;
  if (!DIAL_FAILURE.test(text)) return new Error(message);
  const port = /\bport (\d+)\b/.exec(text)?.[1];
  if (port && /connection refused/i.test(text)) return new PodDialError(`port-forward: nothing listens on the pod's port ${port} (connection refused)`, message);
  const kwok = /no forward found for port \d+/.exec(text)?.[0];
  if (kwok) return new PodDialError(`port-forward: ${kwok}`, message);
  return new PodDialError(message);
}

/** How long without a word from the pod side counts as "the port took the connection". */
export const DIAL_VERDICT_SILENCE_MS = 750;

export interface DialVerdictOptions {
  /**
   * End our side first: a server that closes on EOF (most do) then gives its verdict at once. Only
   * for a transport with half-close; ending a v4 WebSocket closes the whole connection, and a dial
   * error sent at that moment could be lost.
   */
  halfClose: boolean;
  silenceMs?: number;
  signal?: AbortSignal;
}

/**
 * Resolves once the pod side took the connection: it sent bytes, closed cleanly, or said nothing for
 * `silenceMs` (a dial failure comes at once). Rejects with the stream's error (a `PodDialError` when
 * the server reported the dial failing). The stream is destroyed either way.
 */
export function awaitDialVerdict(stream: Duplex, options: DialVerdictOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const settle = (error?: Error) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", abort);
      stream.removeListener("data", accepted).removeListener("end", accepted).removeListener("close", closed).removeListener("error", settle);
      // Still reading when destroyed: a late error must not become an unhandled 'error' event.
      stream.on("error", () => undefined);
      stream.destroy();
      if (error) reject(error);
      else resolve();
    };
    const accepted = () => settle();
    const closed = () => settle(stream.errored ?? undefined);
    const abort = () => settle(new Error("port-forward aborted"));
    const timer = setTimeout(accepted, options.silenceMs ?? DIAL_VERDICT_SILENCE_MS);
    if (options.signal?.aborted) return abort();
    // The verdict may have come with the reply that opened the stream, before anyone listened.
    if (stream.errored) return settle(stream.errored);
    if (stream.readableEnded || stream.destroyed) return settle();
    options.signal?.addEventListener("abort", abort, { once: true });
    stream.once("data", accepted).once("end", accepted).once("close", closed).once("error", settle);
    if (options.halfClose) stream.end();
  });
}
