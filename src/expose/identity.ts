import { createHash, randomBytes } from "node:crypto";
import { hostname, userInfo } from "node:os";

/** Labels and annotations loc puts on the objects it creates or changes: the cluster's own record. */
export const LABEL_SESSION = "loc.dev/session";
export const LABEL_OWNER = "loc.dev/owner";
export const LABEL_SERVICE = "loc.dev/service";
export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
export const ANNOTATION_SESSION = "loc.dev/session";
export const ANNOTATION_OWNER = "loc.dev/owner";
export const ANNOTATION_ORIGINAL_REPLICAS = "loc.dev/original-replicas";
/** On a Service the selector strategy retargeted: its selector before, as JSON (sorted keys). */
export const ANNOTATION_ORIGINAL_SELECTOR = "loc.dev/original-selector";

const LABEL_VALUE_MAX = 63;

/** A short random id: unique enough per owner, short enough for a pod name. */
export function newSessionId(): string {
  return randomBytes(4).toString("hex");
}

/**
 * Who owns a session: this user on this machine, as a label value (so other machines' loc can tell
 * the proxy pods apart). `$LOC_OWNER` overrides it, e.g. for two owners on one test cluster.
 */
export function ownerId(env: NodeJS.ProcessEnv = process.env): string {
  const raw = env.LOC_OWNER ?? `${safeUser()}.${hostname()}`;
  return labelValue(raw);
}

/** Any text as a valid label value: [A-Za-z0-9._-], alphanumeric at both ends, at most 63 chars. */
export function labelValue(raw: string): string {
  const cleaned = raw.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
  if (cleaned.length <= LABEL_VALUE_MAX && cleaned.length > 0) return cleaned;
  const digest = createHash("sha256").update(raw).digest("hex").slice(0, 8);
  const head = cleaned.slice(0, LABEL_VALUE_MAX - 9).replace(/[^A-Za-z0-9]+$/, "");
  return head ? `${head}-${digest}` : digest;
}

/** `loc-<svc>-<id>`, trimmed so it stays a valid pod name (a DNS label, 63 chars). */
export function proxyPodName(service: string, sessionId: string): string {
  const room = 63 - "loc-".length - sessionId.length - 1;
  const svc = service.slice(0, room).replace(/-+$/, "");
  return `loc-${svc}-${sessionId}`;
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? "user");
  }
}
