import type { Socket } from "node:net";
import { asyncScheduler, exhaustMap, fromEvent, Observable, of, startWith, take, throttleTime } from "rxjs";
import type { DaemonCore } from "../daemon/core.js";

/** Watchers get at most one status per this interval; the newest one always arrives. */
export const WATCH_THROTTLE_MS = 200;

/**
 * Calls `sendStatus` now, then on changes: at most every WATCH_THROTTLE_MS (the trailing edge
 * carries the newest status), and never faster than the client reads. Returns the stop function.
 */
export function watchStatusThrottled(socket: Socket, core: DaemonCore, sendStatus: () => void): () => void {
  const changes = new Observable<void>((subscriber) => core.onChange(() => subscriber.next()));
  const subscription = changes
    .pipe(
      startWith(undefined),
      throttleTime(WATCH_THROTTLE_MS, asyncScheduler, { leading: true, trailing: true }),
      // A slow reader gets only the newest status once it catches up, not a backlog: changes while
      // its buffer drains are dropped, and the status is built when it is sent.
      exhaustMap(() => (socket.writableNeedDrain ? fromEvent(socket, "drain").pipe(take(1)) : of(undefined))),
    )
    .subscribe(sendStatus);
  return () => subscription.unsubscribe();
}
