import { LocError } from "../errors.js";

export interface ServiceRef {
  namespace: string;
  name: string;
}

// RFC 1123 labels: what Kubernetes accepts for namespace and Service names.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A namespace flag, refused with the usual one-line error when Kubernetes would refuse it. */
export function checkNamespaceName(namespace: string): string {
  if (!DNS_LABEL.test(namespace)) throw new LocError(`"${namespace}" is not a namespace name`, "namespaces are lowercase letters, digits and '-'", "BAD_FLAG");
  return namespace;
}

/** Parses `ns/svc`, refusing anything Kubernetes itself would refuse. */
export function parseServiceRef(text: string): ServiceRef {
  const parts = text.split("/");
  const [namespace, name] = parts;
  if (parts.length !== 2 || !namespace || !name || !DNS_LABEL.test(namespace) || !DNS_LABEL.test(name)) {
    throw new LocError(
      `"${text}" is not a service reference`,
      "write it as namespace/service, e.g. default/web (lowercase letters, digits and '-')",
      "BAD_SERVICE_REF",
    );
  }
  return { namespace, name };
}

export function formatServiceRef(ref: ServiceRef): string {
  return `${ref.namespace}/${ref.name}`;
}
