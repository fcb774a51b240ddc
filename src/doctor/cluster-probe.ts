import type { Permission } from "./permissions.js";

/** Who and where the kubeconfig says loc acts as; names only, never credentials. */
export interface KubeIdentity {
  /** The kubeconfig file(s) read. */
  source: string;
  context: string;
  cluster: string;
  server: string;
  user: string;
}

/** What the doctor asks of a cluster; the real one is in kube-probe.ts, tests pass fakes. */
export interface ClusterProbe {
  identity: KubeIdentity;
  /** GET /version: the server's gitVersion. Rejects on any failure, `AbortError` after `timeoutMs`. */
  version(timeoutMs: number): Promise<string>;
  /** A SelfSubjectAccessReview for `permission` in `namespace` ("" = all namespaces). */
  canI(permission: Permission, namespace: string): Promise<boolean>;
}

/** Reads the kubeconfig; throws a LocError when there is none or it names no usable context. */
export type OpenCluster = () => Promise<ClusterProbe>;
