import { LocError } from "../errors.js";
import type { EnvResult, Origin } from "./model.js";

/** Lines for stderr about what is not in the output and why: names and reasons, never values. */
export function warnings(result: EnvResult, skipped: readonly { name: string; reason: string }[]): string[] {
  const lines = result.unavailable.map(({ name, reason }) => `${name} left out: ${reason}`);
  for (const unread of result.unreadSecrets.filter((u) => u.state === "skipped")) {
    lines.push(unread.key === "*" ? `every key of Secret ${unread.secret} left out (--skip-secrets)` : `${unread.variable ?? unread.key} left out: Secret ${unread.secret} key ${unread.key} (--skip-secrets)`);
  }
  for (const { name, reason } of skipped) lines.push(`${name} left out: ${reason}`);
  return lines;
}

/** Without `get` on secrets: which Secrets and keys could not be read, as one error. */
export function forbiddenSecretsError(result: EnvResult, namespace: string): LocError | undefined {
  const forbidden = result.unreadSecrets.filter((u) => u.state === "forbidden");
  if (forbidden.length === 0) return undefined;
  const bySecret = new Map<string, string[]>();
  for (const { secret, key, variable } of forbidden) {
    const what = key === "*" ? "every key (envFrom)" : `${key} for ${variable ?? key}`;
    bySecret.set(secret, [...(bySecret.get(secret) ?? []), what]);
  }
  const list = [...bySecret].map(([secret, keys]) => `${namespace}/${secret} (${keys.join(", ")})`).join("; ");
  return new LocError(`not allowed to read Secret ${list}`, `ask for get on secrets in ${namespace}, or pass --skip-secrets to leave those variables out`, "ENV_SECRETS_FORBIDDEN");
}

/** "3 literal, 2 from ConfigMap app, 1 from Secret db, 1 fieldRef": where the values came from, by name. */
export function describeOrigins(origins: ReadonlyMap<string, Origin>): string {
  const counts = new Map<string, number>();
  for (const origin of origins.values()) {
    const label = origin.from === "configMap" ? `from ConfigMap ${origin.name}` : origin.from === "secret" ? `from Secret ${origin.name}` : origin.from;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return [...counts].map(([label, n]) => `${n} ${label}`).join(", ") || "none";
}
