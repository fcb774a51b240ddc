// Vitest globalSetup for the e2e project: brings the real test cluster up once per run (reusing one
// that is already healthy), hands its kubeconfig to the tests and deletes it afterwards unless
// LOC_KEEP_CLUSTER=1. There is no skip path: without a cluster the e2e tests must fail, loudly.
import type { TestProject } from "vitest/node";
import { runClusterScript } from "./cluster-script.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Path of the test cluster's kubeconfig (also in process.env.KUBECONFIG / LOC_E2E_KUBECONFIG). */
    kubeconfig: string;
    /** Directory with the cached cluster binaries, kubectl among them (also LOC_E2E_BIN). */
    clusterBin: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  let kubeconfig: string;
  let bin: string;
  try {
    kubeconfig = await runClusterScript("up");
    bin = await runClusterScript("bin");
  } catch (error) {
    throw new Error(
      `${(error as Error).message}\n\n` +
        "The e2e tests need the local test cluster (see docs/adr/0002-test-cluster.md). To fix:\n" +
        "  - install Go >= 1.26 (the first run builds Kubernetes, etcd and kwok from the Go module proxy);\n" +
        "  - run `bash test/cluster/cluster.sh up` by hand to see the failing step (its messages name the logs).",
      { cause: error },
    );
  }
  console.error(`[cluster] ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${kubeconfig}`);

  project.provide("kubeconfig", kubeconfig);
  project.provide("clusterBin", bin);
  // Child processes started by tests (the loc CLI, kubectl) find the cluster the usual way.
  process.env.KUBECONFIG = kubeconfig;
  process.env.LOC_E2E_KUBECONFIG = kubeconfig;
  process.env.LOC_E2E_BIN = bin;

  return async () => {
    if (process.env.LOC_KEEP_CLUSTER === "1") {
      console.error("[cluster] LOC_KEEP_CLUSTER=1: leaving the cluster running");
      return;
    }
    await runClusterScript("down");
  };
}
