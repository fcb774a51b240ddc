import { parseMapFlag, type MapFlag } from "../expose/ports.js";
import type { ProxySettings } from "../expose/session.js";
import { parseStrategy, type ExposeStrategy } from "../expose/strategy.js";
import { formatServiceRef, parseServiceRef, type ServiceRef } from "../kube/service-ref.js";
import { EXPOSE_DEFAULTS } from "./expose-defaults.js";
import type { ExposeParams, UnexposeParams } from "./protocol.js";

/** An expose request checked and completed with EXPOSE_DEFAULTS: what the daemon's expose manager consumes. */
export interface ExposeSpec extends ProxySettings {
  /** `ns/svc`, normalised. */
  service: string;
  ref: ServiceRef;
  transport: string;
  strategy: ExposeStrategy;
  maps: MapFlag[];
  detach: boolean;
}

/**
 * Checks what the fields mean (the Service reference, each `--map`, the strategy) and fills in the
 * defaults. Throws the LocError a user can act on. The CLI runs it before asking the daemon, to fail
 * fast; the daemon runs it on what arrives, since any client may write to the socket.
 */
export function toExposeSpec(params: ExposeParams): ExposeSpec {
  const ref = parseServiceRef(params.service);
  return {
    service: formatServiceRef(ref),
    ref,
    transport: params.transport ?? EXPOSE_DEFAULTS.transport,
    strategy: parseStrategy(params.strategy ?? EXPOSE_DEFAULTS.strategy),
    maps: (params.maps ?? []).map(parseMapFlag),
    image: params.image ?? EXPOSE_DEFAULTS.image,
    user: params.user ?? EXPOSE_DEFAULTS.user,
    runAsUser: params.runAsUser ?? EXPOSE_DEFAULTS.runAsUser,
    sshPort: params.sshPort ?? EXPOSE_DEFAULTS.sshPort,
    readyTimeoutMs: params.readyTimeoutMs ?? EXPOSE_DEFAULTS.readyTimeoutMs,
    connectTimeoutMs: params.connectTimeoutMs ?? EXPOSE_DEFAULTS.connectTimeoutMs,
    ...(params.overrides !== undefined ? { overrides: params.overrides } : {}),
    detach: params.detach === true,
  };
}

/** Shape only: every field has its type. Meaning is toExposeSpec's. */
export function isExposeParams(value: unknown): value is ExposeParams {
  if (!isRecord(value) || typeof value.service !== "string") return false;
  const { maps, overrides } = value;
  return (
    optional(value.transport, "string") &&
    optional(value.strategy, "string") &&
    (maps === undefined || (Array.isArray(maps) && maps.every((map) => typeof map === "string"))) &&
    optional(value.image, "string") &&
    optional(value.user, "string") &&
    optional(value.runAsUser, "number") &&
    optional(value.sshPort, "number") &&
    optional(value.readyTimeoutMs, "number") &&
    optional(value.connectTimeoutMs, "number") &&
    (overrides === undefined || (isRecord(overrides) && !Array.isArray(overrides))) &&
    optional(value.detach, "boolean")
  );
}

export function isUnexposeParams(value: unknown): value is UnexposeParams {
  return isRecord(value) && typeof value.service === "string" && optional(value.session, "string");
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function optional(value: unknown, type: "string" | "number" | "boolean"): boolean {
  return value === undefined || typeof value === type;
}
