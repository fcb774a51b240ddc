/**
 * The slice of the Kubernetes API that watches need: list a collection, then watch it from a
 * resourceVersion. The real adapter talks to an API server; tests use an in-memory twin.
 */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string; [key: string]: unknown };
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export interface RawWatchEvent {
  type: WatchEventType;
  /** For ERROR events a metav1.Status (410 Gone means the resourceVersion is too old). */
  object: KubeObject & { code?: number; message?: string; reason?: string };
}

/** A failed request, with the HTTP status when there was one. */
export class KubeRequestError extends Error {
  constructor(
    message: string,
    readonly statusCode: number | undefined,
  ) {
    super(message);
    this.name = "KubeRequestError";
  }
}

/**
 * A request the API server did not answer within the request timeout. It has no status code, like
 * a network failure, and callers treat it as one: transient, retried like a 5xx, never read as a
 * 404 or 409 (the request may or may not have landed).
 */
export class KubeTimeoutError extends KubeRequestError {
  constructor(
    message: string,
    readonly timeoutMs: number,
  ) {
    super(message, undefined);
    this.name = "KubeTimeoutError";
  }
}

export interface CollectionRef {
  /** e.g. `/api/v1/services` or `/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface WatchPort {
  list<T extends KubeObject>(ref: CollectionRef, signal: AbortSignal): Promise<ListResult<T>>;
  /**
   * Streams events until the server ends the watch (resolves) or it fails (rejects with a
   * KubeRequestError). Aborting the signal ends it quietly.
   */
  watch(ref: CollectionRef, resourceVersion: string, onEvent: (event: RawWatchEvent) => void, signal: AbortSignal): Promise<void>;
}

export function objectKey(object: KubeObject): string {
  return `${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`;
}
