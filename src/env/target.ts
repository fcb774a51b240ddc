import { LocError } from "../errors.js";

/** What `loc env` reads the environment of. */
export type EnvTarget =
  | { kind: "Service"; namespace: string; name: string }
  | { kind: "Deployment" | "StatefulSet" | "Pod"; namespace: string; name: string };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
// Pod and workload names are DNS subdomains (dots allowed).
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const KINDS: Record<string, "Deployment" | "StatefulSet" | "Pod"> = {
  deploy: "Deployment",
  deployment: "Deployment",
  sts: "StatefulSet",
  statefulset: "StatefulSet",
  pod: "Pod",
};

/** `ns/svc`, `ns/deploy/NAME`, `ns/sts/NAME` or `ns/pod/NAME`. */
export function parseEnvTarget(text: string): EnvTarget {
  const parts = text.split("/");
  const [namespace = "", second = "", third] = parts;
  if (parts.length === 2 && DNS_LABEL.test(namespace) && DNS_LABEL.test(second)) return { kind: "Service", namespace, name: second };
  const kind = KINDS[second.toLowerCase()];
  if (parts.length === 3 && kind && DNS_LABEL.test(namespace) && third !== undefined && DNS_SUBDOMAIN.test(third)) return { kind, namespace, name: third };
  throw new LocError(`"${text}" is not something loc env can read`, "write ns/svc, ns/deploy/NAME, ns/sts/NAME or ns/pod/NAME, e.g. shop/web", "BAD_ENV_TARGET");
}

export function describeTarget(target: EnvTarget): string {
  return target.kind === "Service" ? `${target.namespace}/${target.name}` : `${target.kind} ${target.namespace}/${target.name}`;
}
