import { Observable, ReplaySubject, share } from "rxjs";
import { errorMessage } from "../errors.js";
import { classifyApiError, type ApiProblem } from "./api-errors.js";
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff.js";
import { KubeRequestError, objectKey, type CollectionRef, type KubeObject, type RawWatchEvent, type WatchPort } from "./cluster-port.js";

export type Snapshot<T> = ReadonlyMap<string, T>;

/** What subscribers see: state changes with the full snapshot, and every trouble as an event. */
export type InformerEvent<T> =
  | { type: "synced"; objects: Snapshot<T> }
  | { type: "upserted"; key: string; object: T; objects: Snapshot<T> }
  | { type: "deleted"; key: string; object: T; objects: Snapshot<T> }
  | { type: "relisting"; resource: string; reason: string }
  | { type: "failed"; resource: string; message: string; retryInMs: number; problem: ApiProblem };

export interface InformerOptions {
  port: WatchPort;
  ref: CollectionRef;
  /** Human name for messages, e.g. `services` or `endpointslices in shop`. */
  resource: string;
  backoff?: BackoffPolicy;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

/** A watch that ends this fast without delivering anything is treated as a failure, not a timeout. */
const MIN_HEALTHY_WATCH_MS = 1_000;

/** A backoff sleep that leaves nothing behind: the abort listener goes when the timer fires. */
const realSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });

class WatchEnded extends Error {
  constructor(readonly event: RawWatchEvent) {
    super(event.object.message ?? `watch error ${event.object.code ?? ""}`.trim());
  }
}

/**
 * List+watch of one collection as a shared, never-silently-ending Observable: resumes from the last
 * resourceVersion when the server ends a watch, relists on 410 Gone, retries every other failure
 * with jittered backoff and reports it as a `failed` event. One subscription = one watch, however
 * many subscribers; late subscribers get the latest event (which carries the whole snapshot).
 */
export function informer<T extends KubeObject>(options: InformerOptions): Observable<InformerEvent<T>> {
  return new Observable<InformerEvent<T>>((subscriber) => {
    const stop = new AbortController();
    void runInformer<T>(options, (event) => subscriber.next(event), stop.signal).catch((error: unknown) => subscriber.error(error));
    return () => stop.abort();
  }).pipe(share({ connector: () => new ReplaySubject(1), resetOnRefCountZero: true }));
}

async function runInformer<T extends KubeObject>(options: InformerOptions, emit: (event: InformerEvent<T>) => void, signal: AbortSignal): Promise<void> {
  const { port, ref, resource } = options;
  const policy = options.backoff ?? DEFAULT_BACKOFF;
  const sleep = options.sleep ?? realSleep;
  const now = options.now ?? Date.now;
  let objects = new Map<string, T>();
  let resourceVersion: string | undefined;
  let attempt = 0;

  const apply = (event: RawWatchEvent) => {
    const object = event.object as T;
    resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
    if (event.type === "BOOKMARK") return;
    const key = objectKey(object);
    if (event.type === "DELETED") {
      objects.delete(key);
      emit({ type: "deleted", key, object, objects: new Map(objects) });
    } else {
      objects.set(key, object);
      emit({ type: "upserted", key, object, objects: new Map(objects) });
    }
  };

  while (!signal.aborted) {
    const started = now();
    let delivered = 0;
    try {
      if (resourceVersion === undefined) {
        const list = await port.list<T>(ref, signal);
        objects = new Map(list.items.map((item) => [objectKey(item), item]));
        resourceVersion = list.resourceVersion;
        emit({ type: "synced", objects: new Map(objects) });
      }
      const watchAbort = new AbortController();
      const onAbort = () => watchAbort.abort();
      signal.addEventListener("abort", onAbort, { once: true });
      let ended: RawWatchEvent | undefined;
      try {
        await port.watch(
          ref,
          resourceVersion,
          (event) => {
            if (ended) return;
            if (event.type === "ERROR") {
              ended = event;
              watchAbort.abort();
              return;
            }
            delivered += 1;
            apply(event);
          },
          watchAbort.signal,
        );
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
      if (ended) throw new WatchEnded(ended);
      if (signal.aborted) return;
      if (now() - started >= policy.resetAfterMs) attempt = 0;
      if (delivered === 0 && now() - started < MIN_HEALTHY_WATCH_MS) throw new Error("watch closed immediately");
      // The server ended the watch (timeout): resume from where we are, no relist needed.
    } catch (error) {
      if (signal.aborted) return;
      if (isGone(error)) {
        resourceVersion = undefined;
        emit({ type: "relisting", resource, reason: "resourceVersion too old (410 Gone)" });
        continue;
      }
      if (now() - started >= policy.resetAfterMs) attempt = 0;
      // After a failure the next try lists again: a fresh list is the proof the server answers (so
      // the daemon can say so at once instead of when the next object changes), and it catches up
      // on whatever the broken watch missed.
      resourceVersion = undefined;
      const retryInMs = backoffDelay(attempt++, policy, options.random);
      emit({ type: "failed", resource, message: describe(error), retryInMs, problem: classifyApiError(error) });
      await sleep(retryInMs, signal);
    }
  }
}

function isGone(error: unknown): boolean {
  if (error instanceof WatchEnded) return error.event.object.code === 410;
  return error instanceof KubeRequestError && error.statusCode === 410;
}

function describe(error: unknown): string {
  if (error instanceof KubeRequestError && error.statusCode !== undefined) return `${error.message} (HTTP ${error.statusCode})`;
  return errorMessage(error);
}
