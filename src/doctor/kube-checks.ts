import { errorCode, errorMessage, LocError } from "../errors.js";
import { fail, pass, warn, type CheckResult } from "./check.js";
import type { ClusterProbe, OpenCluster } from "./cluster-probe.js";
import { canIHint, COMMAND_PERMISSIONS, describeMissing, permissionLabel, whereLabel, type Permission } from "./permissions.js";

export const VERSION_TIMEOUT_MS = 5_000;

/** The kubeconfig check; hands back the probe when the kubeconfig is usable. */
export async function checkKubeconfig(open: OpenCluster): Promise<{ result: CheckResult; probe?: ClusterProbe }> {
  try {
    const probe = await open();
    const { source, context, cluster, server, user } = probe.identity;
    return { result: pass("kubeconfig", `${source}, context ${context} (cluster ${cluster} at ${server}, user ${user})`), probe };
  } catch (error) {
    if (error instanceof LocError) return { result: fail("kubeconfig", error.message, error.hint) };
    return { result: fail("kubeconfig", `cannot read the kubeconfig: ${firstLine(errorMessage(error))}`, "check it with: kubectl config view") };
  }
}

/** GET /version with a deadline; says which of the usual failures it is. */
export async function checkApiServer(probe: ClusterProbe, now: () => number = performance.now.bind(performance)): Promise<CheckResult> {
  const { server } = probe.identity;
  const started = now();
  try {
    const version = await probe.version(VERSION_TIMEOUT_MS);
    return pass("api server", `${server} answered in ${Math.round(now() - started)} ms (Kubernetes ${version})`);
  } catch (error) {
    const { detail, hint } = describeApiFailure(error, server);
    return fail("api server", detail, hint);
  }
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|TLS|SSL|EPROTO/;

function describeApiFailure(error: unknown, server: string): { detail: string; hint: string } {
  const code = errorCode(error);
  const status = httpStatus(error);
  if ((error as { name?: string }).name === "AbortError" || code === "ETIMEDOUT") {
    return { detail: `${server} did not answer within ${VERSION_TIMEOUT_MS / 1000} s`, hint: "is the cluster up, and the VPN or tunnel to it connected?" };
  }
  if (code === "ECONNREFUSED") return { detail: `${server} refused the connection (ECONNREFUSED)`, hint: "is the cluster running? check the server address with: kubectl config view --minify" };
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return { detail: `cannot resolve the host of ${server} (${code})`, hint: "check the server address with: kubectl config view --minify" };
  if (TLS_CODES.test(code)) {
    return { detail: `TLS with ${server} failed (${code}): ${firstLine(errorMessage(error))}`, hint: "the kubeconfig's certificate-authority does not match the server; fetch a fresh kubeconfig" };
  }
  if (status === 401) return { detail: `${server} rejected the credentials (401 Unauthorized)`, hint: "the token or certificate expired or is wrong; log in again or fetch a fresh kubeconfig" };
  if (status === 403) return { detail: `${server} forbids GET /version (403 Forbidden)`, hint: "ask the cluster admin; every authenticated user may normally read /version" };
  return { detail: `cannot reach ${server}: ${firstLine(errorMessage(error))}`, hint: "check the cluster with: kubectl version" };
}

/**
 * One check per command and namespace, each asking a SelfSubjectAccessReview per permission. A
 * missing optional permission only warns; the line names exactly what is missing.
 */
export async function checkPermissions(probe: ClusterProbe, namespaces: readonly string[]): Promise<CheckResult[]> {
  const checks = COMMAND_PERMISSIONS.flatMap(({ command, permissions }) => namespaces.map((namespace) => checkCommand(probe, command, permissions, namespace)));
  return Promise.all(checks);
}

async function checkCommand(probe: ClusterProbe, command: string, permissions: readonly Permission[], namespace: string): Promise<CheckResult> {
  const where = whereLabel(namespace);
  let answers: boolean[];
  try {
    answers = await Promise.all(permissions.map((permission) => probe.canI(permission, namespace)));
  } catch (error) {
    return fail(command, `cannot ask the API server what this user may do in ${where}: ${firstLine(errorMessage(error))}`, "check the cluster with: kubectl auth can-i --list");
  }
  const missing = permissions.filter((_, index) => !answers[index]);
  const required = missing.filter((permission) => !permission.optional);
  const first = required[0] ?? missing[0];
  if (first === undefined) return pass(command, `has the ${permissions.length} permissions it needs in ${where}`);
  const hint = canIHint(first, namespace) + (missing.length > 1 ? ` (and ${missing.length - 1} more)` : "");
  const detail = `cannot ${describeMissing(missing)} in ${where}`;
  const result = required.length > 0 ? fail(command, detail, hint) : warn(command, `${detail} (optional: loc works without it)`, hint);
  return { ...result, missing: missing.map(permissionLabel) };
}

/** KubeRequestError carries `statusCode`, client-node's ApiException a numeric `code`. */
function httpStatus(error: unknown): number | undefined {
  const { statusCode, code } = (error ?? {}) as { statusCode?: unknown; code?: unknown };
  if (typeof statusCode === "number") return statusCode;
  return typeof code === "number" ? code : undefined;
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? "";
}
