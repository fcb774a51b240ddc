import { LocError } from "../errors.js";
import { fieldRefValue, resourceFieldValue } from "./downward.js";
import { expand } from "./expand.js";
import type { EnvInput, EnvResult, EnvVarSpec, KeyRef, Origin, SourceLookup } from "./model.js";

/**
 * The container's environment as the kubelet builds it (makeEnvironmentVariables in
 * pkg/kubelet/kubelet_pods.go), from objects fetched beforehand: envFrom sources in order (a prefix
 * prepended to every key; an optional source that does not exist skipped), then `env` in order,
 * each `value` expanded against what is defined so far, each `valueFrom` resolved; a later
 * definition replaces an earlier one. Since Kubernetes 1.34 the kubelet no longer drops envFrom keys
 * that are not C identifiers, so neither does this. Not modelled: the Service link variables
 * (FOO_SERVICE_HOST…): locally, loc's names for Services replace them.
 * Throws a LocError where the kubelet would refuse to start the container.
 */
export function resolveEnvironment(input: EnvInput): EnvResult {
  const result: EnvResult = { vars: new Map(), origins: new Map(), unavailable: [], unreadSecrets: [] };
  const set = (name: string, value: string, origin: Origin) => {
    result.vars.set(name, value);
    result.origins.set(name, origin);
  };
  const where = `container ${input.container.name}`;

  for (const from of input.container.envFrom ?? []) {
    const isSecret = from.secretRef !== undefined;
    const ref = from.secretRef ?? from.configMapRef;
    if (!ref) continue;
    const name = ref.name ?? "";
    const lookup = sourceOf(input, isSecret, name);
    const kind = isSecret ? "Secret" : "ConfigMap";
    if (lookup.state === "missing") {
      if (ref.optional) continue;
      throw missingSource(kind, input.namespace, name, `envFrom of ${where}`);
    }
    if (lookup.state === "forbidden" || lookup.state === "skipped") {
      if (!isSecret) throw forbiddenConfigMap(input.namespace, name);
      result.unreadSecrets.push({ secret: name, key: "*", state: lookup.state });
      continue;
    }
    for (const [key, value] of Object.entries(lookup.data)) {
      set((from.prefix ?? "") + key, value, { from: isSecret ? "secret" : "configMap", name, key, via: "envFrom" });
    }
  }

  for (const variable of input.container.env ?? []) {
    if (variable.value) {
      set(variable.name, expand(variable.value, (name) => result.vars.get(name)), { from: "literal" });
      continue;
    }
    const source = variable.valueFrom;
    if (!source) {
      set(variable.name, "", { from: "literal" });
      continue;
    }
    if (source.fieldRef || source.resourceFieldRef) {
      const found = source.fieldRef ? fieldRefValue(source.fieldRef.fieldPath, input.facts) : resourceFieldValue(source.resourceFieldRef!, input.container, input);
      if ("unavailable" in found) {
        result.unavailable.push({ name: variable.name, reason: found.unavailable });
        // Whatever an earlier definition gave is not what the pod sees.
        result.vars.delete(variable.name);
        result.origins.delete(variable.name);
        continue;
      }
      const origin: Origin = source.fieldRef ? { from: "fieldRef", path: source.fieldRef.fieldPath } : { from: "resourceFieldRef", resource: source.resourceFieldRef!.resource };
      set(variable.name, found.value, origin);
      continue;
    }
    const keyRef = source.configMapKeyRef ?? source.secretKeyRef;
    if (keyRef) resolveKeyRef(input, result, variable, keyRef, source.secretKeyRef !== undefined, set);
  }
  return result;
}

function resolveKeyRef(
  input: EnvInput,
  result: EnvResult,
  variable: EnvVarSpec,
  ref: KeyRef,
  isSecret: boolean,
  set: (name: string, value: string, origin: Origin) => void,
): void {
  const name = ref.name ?? "";
  const kind = isSecret ? "Secret" : "ConfigMap";
  const lookup = sourceOf(input, isSecret, name);
  const what = `env ${variable.name} of container ${input.container.name}`;
  if (lookup.state === "forbidden" || lookup.state === "skipped") {
    if (!isSecret) throw forbiddenConfigMap(input.namespace, name);
    result.unreadSecrets.push({ secret: name, key: ref.key, variable: variable.name, state: lookup.state });
    result.vars.delete(variable.name);
    result.origins.delete(variable.name);
    return;
  }
  // An optional reference that resolves to nothing leaves any earlier value in place (the kubelet's `continue`).
  if (lookup.state === "missing") {
    if (ref.optional) return;
    throw missingSource(kind, input.namespace, name, what);
  }
  const value = lookup.data[ref.key];
  if (value === undefined) {
    if (ref.optional) return;
    throw new LocError(
      `${kind} ${input.namespace}/${name} has no key "${ref.key}" (needed by ${what})`,
      `the kubelet would not start this container either; add the key or mark the reference optional`,
      "ENV_KEY_MISSING",
    );
  }
  set(variable.name, value, { from: isSecret ? "secret" : "configMap", name, key: ref.key, via: "keyRef" });
}

function sourceOf(input: EnvInput, isSecret: boolean, name: string): SourceLookup {
  return (isSecret ? input.secrets : input.configMaps).get(name) ?? { state: "missing" };
}

function missingSource(kind: string, namespace: string, name: string, what: string): LocError {
  return new LocError(
    `${kind} ${namespace}/${name} does not exist (needed by ${what})`,
    `the kubelet would not start this container either; create it or mark the reference optional`,
    "ENV_SOURCE_MISSING",
  );
}

function forbiddenConfigMap(namespace: string, name: string): LocError {
  return new LocError(`not allowed to read ConfigMap ${namespace}/${name}`, `ask for get on configmaps in ${namespace}`, "ENV_FORBIDDEN");
}
