// The WatchPort contract against the in-memory twin (test/support/memory-cluster.ts); the same suite
// runs against the real API server in test/e2e/kube/kube-watch-port.contract.e2e.test.ts.
import { KubeRequestError } from "../../../src/kube/cluster-port.js";
import { MemoryCluster } from "../../support/memory-cluster.js";
import { watchPortContract } from "../../helpers/watch-port-contract.js";

watchPortContract("MemoryCluster", async () => {
  const cluster = new MemoryCluster();
  const path = "/api/v1/namespaces/contract/configmaps";
  const refused = "/api/v1/namespaces/contract/nosuchresources";
  cluster.refuse(refused, new KubeRequestError("the server could not find the requested resource", 404));
  const configMap = (name: string, data: Record<string, string>) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { namespace: "contract", name }, data });
  return {
    port: cluster,
    ref: { path },
    create: async (name, data) => cluster.upsert(path, configMap(name, data)),
    update: async (name, data) => cluster.upsert(path, configMap(name, data)),
    remove: async (name) => cluster.remove(path, "contract", name),
    endWatches: () => cluster.endWatches(),
    expire: () => cluster.compact(),
    refusedRef: { path: refused },
    waitMs: 2_000,
    dispose: async () => undefined,
  };
});
