/**
 * The selector strategy's one cluster change: the Service's selector replaced by the session's own
 * label, so its endpoints become the proxy pod alone while the application's pods keep running.
 * The original selector is in the intent (the log) and in an annotation (the cluster), and every
 * write is conditional on the Service's resourceVersion: someone else's edit is never overwritten.
 */
import type { ServiceObject } from "../kube/service-model.js";
import { ANNOTATION_ORIGINAL_SELECTOR, ANNOTATION_OWNER, ANNOTATION_SESSION, LABEL_SESSION } from "./identity.js";
import { mutate, retryOnConflict, type MutationScope } from "./mutation.js";

/** The selector loc gives a retargeted Service: only this session's proxy pod matches it. */
export function sessionSelector(sessionId: string): Record<string, string> {
  return { [LABEL_SESSION]: sessionId };
}

export function serviceTarget(name: string): string {
  return `Service/${name}`;
}

/** Same keys and values, whatever the order. */
export function sameSelector(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const left = Object.entries(a ?? {});
  return left.length === Object.keys(b ?? {}).length && left.every(([key, value]) => b?.[key] === value);
}

/** Sorted keys, so the annotation is the same text for the same selector. */
export function selectorText(selector: Record<string, string>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(selector).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

/** A map of strings: what a selector read back from JSON (an annotation, a recorded intent) must be. */
export function isSelector(value: unknown): value is Record<string, string> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === "string");
}

/** The annotation back to a selector; undefined when it is missing, empty or not a map of strings. */
export function parseSelectorText(text: string | undefined): Record<string, string> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isSelector(value) && Object.keys(value).length > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

export function annotationsOf(service: ServiceObject): Record<string, string> {
  return { ...(service.metadata?.annotations as Record<string, string> | undefined) };
}

/** The Service as resolved: identity, version and selector before loc touched it. */
export interface ResolvedService {
  name: string;
  uid: string;
  resourceVersion: string;
  selector: Record<string, string>;
}

/**
 * Points the Service at the proxy pod. On a conflict it re-reads: a change of metadata only is retried
 * with the new version; a new selector, another uid or another loc's claim fails the step.
 */
export async function retarget(scope: MutationScope, service: ResolvedService): Promise<void> {
  const to = sessionSelector(scope.sessionId);
  const claim = { [ANNOTATION_SESSION]: scope.sessionId, [ANNOTATION_OWNER]: scope.owner, [ANNOTATION_ORIGINAL_SELECTOR]: selectorText(service.selector) };
  const target = serviceTarget(service.name);
  const original = { uid: service.uid, resourceVersion: service.resourceVersion, selector: service.selector, to };
  await mutate(scope, "retarget", target, original, () =>
    retryOnConflict(
      service.resourceVersion,
      (version) => scope.cluster.patchService(scope.namespace, service.name, service.uid, version, { selector: to, annotations: claim }),
      async (error) => {
        const now = await scope.cluster.getService(scope.namespace, service.name);
        if (!now || now.metadata?.uid !== service.uid) throw new Error(`${target} was deleted or replaced meanwhile`, { cause: error });
        const holder = annotationsOf(now)[ANNOTATION_SESSION];
        // A timed-out request that did land: the Service already is this session's.
        if (holder === scope.sessionId && sameSelector(now.spec?.selector, to)) return { landed: now };
        if (holder) throw new Error(`${target} was taken over meanwhile by loc session ${holder}`, { cause: error });
        if (!sameSelector(now.spec?.selector, service.selector)) throw new Error(`${target}'s selector was changed meanwhile to ${selectorText(now.spec?.selector ?? {})}`, { cause: error });
        return now.metadata.resourceVersion ?? "";
      },
    ),
  );
}
