import { exhaustMap, Observable, takeUntil, type OperatorFunction } from "rxjs";

/** Runs `callback` after `delayMs`; returns a function that cancels it. */
export type Scheduler = (callback: () => void, delayMs: number) => () => void;

export const timerScheduler: Scheduler = (callback, delayMs) => {
  const timer = setTimeout(callback, delayMs);
  return () => clearTimeout(timer);
};

/**
 * One emission per window: the first value opens a window of `delayMs` (timed by `schedule`, so
 * tests fire it by hand), later values join it, and its end emits once. A window, not a debounce:
 * a steady stream of values cannot postpone the emission forever. A value from `close$` ends the
 * open window without emitting and cancels its timer: its owner is about to act at once itself.
 */
export function coalesceWindows(schedule: Scheduler, delayMs: number, close$: Observable<unknown>): OperatorFunction<unknown, void> {
  const windowEnd = new Observable<void>((subscriber) => {
    let fired = false;
    const cancel = schedule(() => {
      fired = true;
      subscriber.next();
      subscriber.complete();
    }, delayMs);
    return () => {
      if (!fired) cancel();
    };
  });
  // exhaustMap ignores values while a window is open: they are already in it.
  return (source) => source.pipe(exhaustMap(() => windowEnd.pipe(takeUntil(close$))));
}
