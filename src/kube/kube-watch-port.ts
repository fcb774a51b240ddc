import type { KubeConfig } from "@kubernetes/client-node";
import fetch, { type RequestInit, type Response } from "node-fetch";
import { createInterface } from "node:readline";
import { errorCode, errorMessage } from "../errors.js";
import { KubeRequestError, type CollectionRef, type KubeObject, type ListResult, type RawWatchEvent, type WatchPort } from "./cluster-port.js";
import { DEFAULT_REQUEST_TIMEOUT_MS, RequestDeadline, timeoutError } from "./request-timeout.js";

const PAGE_SIZE = 500;
/** Ask the server to end each watch within this window; the informer resumes from its version. */
const WATCH_TIMEOUT_SECONDS = 300;

/**
 * List and watch through the API server with the kubeconfig's credentials. Each list page must be
 * answered within `timeoutMs`; a watch must send its response headers within it (its stream is
 * long-lived by design and has no deadline). A miss is a KubeTimeoutError: the informer retries it.
 */
export class KubeWatchPort implements WatchPort {
  private readonly timeoutMs: number;
  private readonly watchTimeoutSeconds: number;

  /** `watchTimeoutSeconds` is for tests that need the server to end watches soon (default 300). */
  constructor(
    private readonly config: KubeConfig,
    options: { timeoutMs?: number; watchTimeoutSeconds?: number } = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.watchTimeoutSeconds = options.watchTimeoutSeconds ?? WATCH_TIMEOUT_SECONDS;
  }

  async list<T extends KubeObject>(ref: CollectionRef, signal: AbortSignal): Promise<ListResult<T>> {
    const items: T[] = [];
    let resourceVersion = "";
    let continueToken: string | undefined;
    do {
      const page = await this.get<{ items?: T[]; metadata?: { resourceVersion?: string; continue?: string } }>(ref, { limit: PAGE_SIZE, continue: continueToken }, signal);
      for (const item of page.items ?? []) items.push(withoutBookkeeping(item));
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
    return { items, resourceVersion };
  }

  async watch(ref: CollectionRef, resourceVersion: string, onEvent: (event: RawWatchEvent) => void, signal: AbortSignal): Promise<void> {
    const query = { watch: "true", resourceVersion, allowWatchBookmarks: "true", timeoutSeconds: this.watchTimeoutSeconds };
    const deadline = new RequestDeadline(this.timeoutMs, signal);
    try {
      const init = await this.credentials();
      const response = await this.send(ref, query, deadline, init);
      // Headers are in: from here on only the caller's abort (or the server) ends the stream.
      deadline.stopTimer();
      keepAlive(init);
      await readEvents(response, onEvent);
    } catch (error) {
      if (signal.aborted) return;
      throw error;
    } finally {
      deadline.dispose();
    }
  }

  /**
   * The request options with credentials; an exec plugin or auth provider that fails (an expired
   * cloud login) is marked as such, so the daemon says "cannot get credentials", not "cannot reach".
   */
  private async credentials(): Promise<RequestInit> {
    try {
      return await this.config.applyToFetchOptions({});
    } catch (error) {
      let message = errorMessage(error).trim().split("\n")[0] || "the credential plugin failed without a message";
      // sudo resets PATH to its secure_path: a plugin in ~/google-cloud-sdk/bin or ~/.krew/bin is not found.
      if (errorCode(error) === "ENOENT") message = `credential plugin not found (${message})${process.env.SUDO_USER ? `; sudo reset PATH: run sudo env "PATH=$PATH" loc daemon` : ""}`;
      throw Object.assign(new KubeRequestError(message, undefined), { problem: "credentials" });
    }
  }

  private async get<T>(ref: CollectionRef, query: Record<string, string | number | undefined>, signal: AbortSignal): Promise<T> {
    const deadline = new RequestDeadline(this.timeoutMs, signal);
    try {
      const response = await this.send(ref, query, deadline, await this.credentials());
      // The body is read under the same deadline as the headers.
      return (await response.json().catch((error: unknown) => Promise.reject(requestError(error, deadline, "GET", ref.path)))) as T;
    } finally {
      deadline.dispose();
    }
  }

  /** The GET's response once its headers are in and its status is 200; a KubeRequestError otherwise. */
  private async send(ref: CollectionRef, query: Record<string, string | number | undefined>, deadline: RequestDeadline, init: RequestInit): Promise<Response> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new KubeRequestError("the kubeconfig has no current cluster", undefined);
    const url = new URL(cluster.server + ref.path);
    const params = { ...query, labelSelector: ref.labelSelector, fieldSelector: ref.fieldSelector };
    for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, String(value));
    let response: Response;
    try {
      response = await fetch(url.toString(), { ...init, method: "GET", signal: deadline.signal });
    } catch (error) {
      throw requestError(error, deadline, "GET", url.toString());
    }
    if (!response.ok) {
      const body = await response.text().catch(() => "");
      throw new KubeRequestError(statusMessage(body) ?? response.statusText, response.status);
    }
    return response;
  }
}

/** One JSON watch event a line, until the stream ends (resolves) or breaks (rejects). */
function readEvents(response: Response, onEvent: (event: RawWatchEvent) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = response.body;
    body.on("error", (error) => reject(requestError(error)));
    const lines = createInterface({ input: body, crlfDelay: Infinity });
    lines.on("error", (error) => reject(requestError(error)));
    lines.on("line", (line) => {
      if (!line.trim()) return;
      let event: RawWatchEvent;
      try {
        event = JSON.parse(line) as RawWatchEvent;
      } catch {
        return; // Not an event (a proxy's noise): the next line may be.
      }
      onEvent({ type: event.type, object: withoutBookkeeping(event.object) });
    });
    lines.on("close", () => resolve());
  });
}

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

/**
 * Drops what the API server keeps for its own bookkeeping and loc never reads: `managedFields`
 * (~1 KB an object) and `kubectl apply`'s copy of the whole manifest in an annotation (often
 * several KB). The daemon holds every Service and EndpointSlice it watches for its whole life.
 */
export function withoutBookkeeping<T extends KubeObject>(object: T): T {
  const metadata = object?.metadata;
  if (!metadata) return object;
  delete metadata.managedFields;
  const annotations = metadata.annotations as Record<string, string> | undefined;
  if (annotations && LAST_APPLIED in annotations) delete annotations[LAST_APPLIED];
  return object;
}

/** TCP keep-alive on the watch's socket, as client-node's Watch does: a peer gone silent is noticed. */
function keepAlive(init: RequestInit): void {
  const agent = init.agent;
  if (!agent || typeof agent !== "object" || !("sockets" in agent)) return;
  for (const socket of Object.values(agent.sockets).flat()) socket?.setKeepAlive(true, 30_000);
}

function requestError(error: unknown, deadline?: RequestDeadline, method?: string, url?: string): KubeRequestError {
  if (error instanceof KubeRequestError) return error;
  if (deadline?.expired && method && url) return timeoutError(method, url, deadline.timeoutMs);
  const statusCode = (error as { statusCode?: number }).statusCode;
  return new KubeRequestError(errorMessage(error), statusCode);
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
