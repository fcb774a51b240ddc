// A kubeconfig for an identity with only the given namespaced permissions: a ServiceAccount bound
// to a Role, authenticated by a bound token from the TokenRequest API. For tests that prove what
// loc does when RBAC forbids part of what it needs.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { KubeConfig, RbacAuthorizationV1Api, type V1PolicyRule } from "@kubernetes/client-node";
import type { Kube } from "./kube.js";

/** How long the token is valid; tests are far shorter. */
const TOKEN_SECONDS = 3600;

/**
 * Creates a ServiceAccount, a Role with `rules` and a RoleBinding in `namespace` (all removed with
 * the namespace), and writes a kubeconfig for the account (same server and CA as `kube.config`,
 * bearer token) into `dir` with mode 0600. Returns the kubeconfig's path. The authorizer learns of
 * new Roles through a watch, so the first requests may still be forbidden for a moment.
 */
export async function createLimitedKubeconfig(kube: Kube, namespace: string, rules: V1PolicyRule[], dir: string): Promise<string> {
  const name = `limited-${randomBytes(3).toString("hex")}`;
  const rbac = kube.config.makeApiClient(RbacAuthorizationV1Api);
  await kube.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace }],
    },
  });
  const request = await kube.core.createNamespacedServiceAccountToken({
    name,
    namespace,
    // No audiences: the token is for the API server's own audience.
    body: { spec: { audiences: [], expirationSeconds: TOKEN_SECONDS } },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);

  const cluster = kube.config.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  const caData = cluster.caData ?? (cluster.caFile ? (await readFile(cluster.caFile)).toString("base64") : undefined);
  const limited = new KubeConfig();
  limited.loadFromOptions({
    clusters: [{ name: "cluster", server: cluster.server, caData, skipTLSVerify: cluster.skipTLSVerify, tlsServerName: cluster.tlsServerName }],
    users: [{ name, token }],
    contexts: [{ name, cluster: "cluster", user: name, namespace }],
    currentContext: name,
  });
  const path = join(dir, `${name}.kubeconfig`);
  await writeFile(path, limited.exportConfig(), { mode: 0o600 });
  return path;
}
