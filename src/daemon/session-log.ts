import { podSessionStream } from "../store/streams.js";
import type { SessionEvent } from "../transports/transport.js";
import type { Recorder } from "./record.js";

/** Pods whose last session was lost, remembered so the next open reads as a replacement. */
const REMEMBERED_LOSSES = 1_000;

/**
 * Turns a multiplexing transport's session events into history: opened, lost, replaced (opened
 * after a loss) and closed (idle or shutdown), one stream per pod. Per session, never per
 * connection: 10,000 connections over one session are one event.
 */
export function sessionLog(transport: string, record: Recorder): (event: SessionEvent) => void {
  const lost = new Map<string, string>();
  return (event) => {
    const pod = `${event.pod.namespace}/${event.pod.pod}`;
    const stream = podSessionStream(pod);
    if (event.type === "opened") {
      const why = lost.get(pod);
      lost.delete(pod);
      const ms = Math.round(event.ms);
      if (why === undefined) record(stream, { type: "session.opened", data: { transport, pod, path: event.path, ms } });
      else record(stream, { type: "session.replaced", data: { transport, pod, path: event.path, ms, lost: why } });
      return;
    }
    if (event.cause !== "lost") {
      record(stream, { type: "session.closed", data: { transport, pod, reason: event.cause === "idle" ? "idle, no connections" : "daemon shut down" } });
      return;
    }
    record(stream, { type: "session.lost", data: { transport, pod, reason: event.reason } });
    // Oldest first out: a pod that never comes back must not be remembered forever.
    if (lost.size >= REMEMBERED_LOSSES) lost.delete(lost.keys().next().value ?? "");
    lost.set(pod, event.reason);
  };
}
