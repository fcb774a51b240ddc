import { KubeRequestError, objectKey, type CollectionRef, type KubeObject, type ListResult, type RawWatchEvent, type WatchPort } from "../../src/kube/cluster-port.js";

interface Watcher {
  path: string;
  onEvent: (event: RawWatchEvent) => void;
  end: (error?: Error) => void;
}

/**
 * In-memory twin of the API server's list/watch, for unit and property tests: resourceVersions,
 * resume from a version, 410 Gone after compaction, server-side watch ends and injected failures.
 * Never a stand-in for the e2e proof, which runs against a real control plane.
 */
export class MemoryCluster implements WatchPort {
  private version = 0;
  private readonly collections = new Map<string, Map<string, KubeObject>>();
  private history: { path: string; version: number; event: RawWatchEvent }[] = [];
  private compactedBelow = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly failures: { path: string; error: Error }[] = [];
  private readonly refused = new Map<string, Error>();
  readonly calls = { list: 0, watch: 0 };

  upsert(path: string, object: KubeObject): void {
    const collection = this.collection(path);
    const key = objectKey(object);
    const type = collection.has(key) ? "MODIFIED" : "ADDED";
    const stored = { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.version) } };
    collection.set(key, stored);
    this.publish(path, { type, object: stored });
  }

  remove(path: string, namespace: string, name: string): void {
    const collection = this.collection(path);
    const existing = collection.get(`${namespace}/${name}`);
    if (!existing) return;
    collection.delete(`${namespace}/${name}`);
    this.publish(path, { type: "DELETED", object: { ...existing, metadata: { ...existing.metadata, resourceVersion: String(++this.version) } } });
  }

  /** Forget history: watches from older versions now get 410 Gone, like etcd compaction. */
  compact(): void {
    this.compactedBelow = this.version;
    this.history = [];
  }

  /** The next list or watch of `path` fails with `error`. */
  failNext(path: string, error: Error = new KubeRequestError("connection refused", undefined)): void {
    this.failures.push({ path, error });
  }

  /** Every list and watch of `path` fails with `error` from now on (a resource the server does not serve). */
  refuse(path: string, error: Error): void {
    this.refused.set(path, error);
  }

  /** The server ends every open watch, as on its timeout (or, with an error, as on a crash). */
  endWatches(error?: Error): void {
    for (const watcher of [...this.watchers]) watcher.end(error);
  }

  /** Sends an ERROR event (a metav1.Status) on every open watch of `path`. */
  sendError(path: string, code: number, message: string): void {
    for (const watcher of this.watchers) if (watcher.path === path) watcher.onEvent({ type: "ERROR", object: { code, message } });
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  async list<T extends KubeObject>(ref: CollectionRef): Promise<ListResult<T>> {
    this.calls.list += 1;
    this.takeFailure(ref.path);
    return { items: [...this.collection(ref.path).values()] as T[], resourceVersion: String(this.version) };
  }

  watch(ref: CollectionRef, resourceVersion: string, onEvent: (event: RawWatchEvent) => void, signal: AbortSignal): Promise<void> {
    this.calls.watch += 1;
    try {
      this.takeFailure(ref.path);
    } catch (error) {
      return Promise.reject(error as Error); // as the real port fails: a rejected promise, never a throw
    }
    const from = Number(resourceVersion);
    if (from < this.compactedBelow) return Promise.reject(new KubeRequestError("too old resource version", 410));
    return new Promise((resolve, reject) => {
      const watcher: Watcher = {
        path: ref.path,
        onEvent,
        end: (error) => {
          this.watchers.delete(watcher);
          if (error) reject(error);
          else resolve();
        },
      };
      this.watchers.add(watcher);
      signal.addEventListener("abort", () => watcher.end(), { once: true });
      for (const entry of this.history) if (entry.path === ref.path && entry.version > from) onEvent(entry.event);
    });
  }

  private takeFailure(path: string): void {
    const refusal = this.refused.get(path);
    if (refusal) throw refusal;
    const index = this.failures.findIndex((f) => f.path === path);
    if (index < 0) return;
    const [failure] = this.failures.splice(index, 1);
    if (failure) throw failure.error;
  }

  private publish(path: string, event: RawWatchEvent): void {
    this.history.push({ path, version: this.version, event });
    for (const watcher of this.watchers) if (watcher.path === path) watcher.onEvent(event);
  }

  private collection(path: string): Map<string, KubeObject> {
    let collection = this.collections.get(path);
    if (!collection) this.collections.set(path, (collection = new Map()));
    return collection;
  }
}
