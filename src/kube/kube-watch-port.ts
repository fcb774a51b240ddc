import { Watch, type KubeConfig } from "@kubernetes/client-node";
import fetch from "node-fetch";
import { errorMessage } from "../errors.js";
import { KubeRequestError, type CollectionRef, type KubeObject, type ListResult, type RawWatchEvent, type WatchPort } from "./cluster-port.js";

const PAGE_SIZE = 500;
/** Ask the server to end each watch within this window; the informer resumes from its version. */
const WATCH_TIMEOUT_SECONDS = 300;

/** List and watch through the API server with the kubeconfig's credentials (client-node). */
export class KubeWatchPort implements WatchPort {
  private readonly watcher: Watch;

  constructor(private readonly config: KubeConfig) {
    this.watcher = new Watch(config);
  }

  async list<T extends KubeObject>(ref: CollectionRef, signal: AbortSignal): Promise<ListResult<T>> {
    const items: T[] = [];
    let resourceVersion = "";
    let continueToken: string | undefined;
    do {
      const page = await this.get<{ items?: T[]; metadata?: { resourceVersion?: string; continue?: string } }>(
        ref,
        { limit: PAGE_SIZE, continue: continueToken },
        signal,
      );
      items.push(...(page.items ?? []));
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
    return { items, resourceVersion };
  }

  watch(ref: CollectionRef, resourceVersion: string, onEvent: (event: RawWatchEvent) => void, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (error: unknown) => {
        if (!error || signal.aborted) resolve();
        else reject(toRequestError(error));
      };
      this.watcher
        .watch(
          ref.path,
          {
            resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: WATCH_TIMEOUT_SECONDS,
            labelSelector: ref.labelSelector,
            fieldSelector: ref.fieldSelector,
          },
          (type: string, object: RawWatchEvent["object"]) => onEvent({ type: type as RawWatchEvent["type"], object }),
          done,
        )
        .then((controller) => {
          if (signal.aborted) controller.abort();
          else signal.addEventListener("abort", () => controller.abort(), { once: true });
        }, done);
    });
  }

  private async get<T>(ref: CollectionRef, query: Record<string, string | number | undefined>, signal: AbortSignal): Promise<T> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new KubeRequestError("the kubeconfig has no current cluster", undefined);
    const url = new URL(cluster.server + ref.path);
    const params = { ...query, labelSelector: ref.labelSelector, fieldSelector: ref.fieldSelector };
    for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, String(value));
    const init = await this.config.applyToFetchOptions({});
    let response;
    try {
      response = await fetch(url.toString(), { ...init, method: "GET", signal: signal as never });
    } catch (error) {
      throw toRequestError(error);
    }
    if (!response.ok) {
      const body = await response.text().catch(() => "");
      throw new KubeRequestError(statusMessage(body) ?? response.statusText, response.status);
    }
    return (await response.json()) as T;
  }
}

function toRequestError(error: unknown): KubeRequestError {
  if (error instanceof KubeRequestError) return error;
  const statusCode = (error as { statusCode?: number }).statusCode;
  const message = errorMessage(error);
  return new KubeRequestError(message, statusCode);
}

/** The `message` of a metav1.Status body, if the body is one. */
function statusMessage(body: string): string | undefined {
  try {
    const message = (JSON.parse(body) as { message?: unknown }).message;
    return typeof message === "string" ? message : undefined;
  } catch {
    return undefined;
  }
}
