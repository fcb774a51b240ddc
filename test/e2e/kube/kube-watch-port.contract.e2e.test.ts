// The WatchPort contract against the real API server of the test cluster: KubeWatchPort over the
// kubeconfig the e2e global setup provides, the same suite the twin passes in
// test/unit/kube/cluster-port.watch-contract.unit.test.ts. The port asks the server to end each
// watch after 2 s (timeoutSeconds), so "the server ends a watch" is the server's own doing; for
// "a version too old" the API server is restarted (its watch cache then starts at the current version).
import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { KubeWatchPort } from "../../../src/kube/kube-watch-port.js";
import { connect, createNamespace, deleteNamespace, restartApiServer } from "../../cluster/helpers.js";
import { watchPortContract } from "../../helpers/watch-port-contract.js";

const WATCH_TIMEOUT_SECONDS = 2;

watchPortContract("KubeWatchPort", async () => {
  const kube = connect(inject("kubeconfig"));
  const namespace = await createNamespace(kube, "watch-contract");
  // The namespace gets objects of its own (kube-root-ca.crt): the suite sees only its labelled ones.
  const labels = { "loc.test/watch-contract": randomBytes(4).toString("hex") };
  const labelSelector = Object.entries(labels).map(([key, value]) => `${key}=${value}`).join(",");
  return {
    port: new KubeWatchPort(kube.config, { watchTimeoutSeconds: WATCH_TIMEOUT_SECONDS }),
    ref: { path: `/api/v1/namespaces/${namespace}/configmaps`, labelSelector },
    create: async (name, data) => void (await kube.core.createNamespacedConfigMap({ namespace, body: { metadata: { name, labels }, data } })),
    update: async (name, data) => void (await kube.core.replaceNamespacedConfigMap({ namespace, name, body: { metadata: { name, labels }, data } })),
    remove: async (name) => void (await kube.core.deleteNamespacedConfigMap({ namespace, name })),
    endWatches: () => undefined, // the server does, after WATCH_TIMEOUT_SECONDS
    // A restarted API server's watch cache begins at the current version: older ones are 410 Expired.
    expire: async () => void (await restartApiServer()),
    refusedRef: { path: `/api/v1/namespaces/${namespace}/nosuchresources` },
    waitMs: 4 * WATCH_TIMEOUT_SECONDS * 1000 + 10_000,
    dispose: () => deleteNamespace(kube, namespace),
  };
});
