// The real ClusterProbe (client-node). Imported lazily by `loc doctor`, so loc's other commands do
// not load the Kubernetes client for it.
import { AuthorizationV1Api, type KubeConfig } from "@kubernetes/client-node";
import fetch from "node-fetch";
import { LocError } from "../errors.js";
import { KubeRequestError } from "../kube/cluster-port.js";
import { kubeconfigFiles, loadKubeConfig } from "../kube/kubeconfig.js";
import { requestTimeoutMs } from "../kube/request-timeout.js";
import { makeTimedApiClient } from "../kube/timed-api-client.js";
import type { ClusterProbe, KubeIdentity } from "./cluster-probe.js";
import type { Permission } from "./permissions.js";

/** Reads the kubeconfig like every loc command: refused, never a default cluster, when there is none. */
export function openKubeProbe(path: string | undefined, context: string | undefined, env: NodeJS.ProcessEnv): ClusterProbe {
  const config = loadKubeConfig(path, context, env);
  const source = kubeconfigFiles(path, env).join(":");
  const identity = identityOf(config, source);
  // Each access review is bounded like every other API request of loc's.
  const authorization = makeTimedApiClient(config, AuthorizationV1Api, requestTimeoutMs(undefined, env));
  return {
    identity,
    version: (timeoutMs) => fetchVersion(config, identity.server, timeoutMs),
    canI: async (permission: Permission, namespace: string) => {
      const { verb, resource, group, subresource } = permission;
      const review = await authorization.createSelfSubjectAccessReview({
        body: { spec: { resourceAttributes: { verb, resource, group, subresource, namespace } } },
      });
      return review.status?.allowed === true;
    },
  };
}

function identityOf(config: KubeConfig, source: string): KubeIdentity {
  const contextName = config.getCurrentContext();
  const context = config.getContextObject(contextName);
  if (!contextName || !context) {
    throw new LocError("the kubeconfig has no current context", "pick one with --context, or kubectl config use-context NAME", "NO_CONTEXT");
  }
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new LocError(`context ${contextName} names no known cluster`, "check it with: kubectl config view", "NO_CLUSTER");
  return { source, context: contextName, cluster: cluster.name, server: cluster.server, user: config.getCurrentUser()?.name ?? "(none)" };
}

async function fetchVersion(config: KubeConfig, server: string, timeoutMs: number): Promise<string> {
  const init = await config.applyToFetchOptions({});
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetch(`${server.replace(/\/$/, "")}/version`, { ...init, method: "GET", signal: controller.signal });
    if (!response.ok) throw new KubeRequestError(`GET /version: ${response.status} ${response.statusText}`, response.status);
    const body = (await response.json()) as { gitVersion?: unknown };
    return typeof body.gitVersion === "string" ? body.gitVersion : "unknown version";
  } finally {
    clearTimeout(timer);
  }
}
