/**
 * Names of the event log's streams. They are part of the persisted contract (recovery and
 * `loc history --stream` find events by them), so they are built in this one place only.
 */

/** The daemon's own lifecycle: started, stopped, watch failures, hosts writes. */
export const DAEMON_STREAM = "daemon";

/** Every `loc recover` run: started, each action, completed. */
export const RECOVERY_STREAM = "recovery";

const EXPOSE_PREFIX = "expose:";

/** One expose session: its intents, outcomes and steps; what recovery folds. */
export function exposeStream(sessionId: string): string {
  return `${EXPOSE_PREFIX}${sessionId}`;
}

/** The session id of an `expose:<id>` stream, or undefined for any other stream. */
export function sessionIdOf(stream: string): string | undefined {
  return stream.startsWith(EXPOSE_PREFIX) ? stream.slice(EXPOSE_PREFIX.length) : undefined;
}

/** One tunnel (`ns/svc`, or `ns/svc/pod` for a headless Service's pod): its states and addresses. */
export function tunnelStream(key: string): string {
  return `tunnel:${key}`;
}

/** A multiplexing transport's session to one pod (`ns/pod`). */
export function podSessionStream(pod: string): string {
  return `session:${pod}`;
}
