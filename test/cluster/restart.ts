// Restarts the test cluster's kube-apiserver alone (`cluster.sh restart-apiserver`): etcd, the
// controller-manager, the scheduler and kwok keep running, so cluster state survives while every
// client connection breaks, as in an API server rollout or crash. For tests of watch recovery.
import { clusterScript, runClusterScript } from "./cluster-script.js";

/**
 * Kills the running kube-apiserver, starts it again with kwokctl (same command line, pid file and
 * log) and resolves once /readyz is ok. `downMs` is the time from the kill to /readyz ok (about
 * 2-3 s). Clients see connection errors meanwhile; their watches end and must be re-established.
 */
export async function restartApiServer(): Promise<{ downMs: number }> {
  const stdout = await runClusterScript("restart-apiserver");
  const downMs = Number(stdout);
  if (stdout === "" || !Number.isFinite(downMs)) {
    throw new Error(`\`bash ${clusterScript} restart-apiserver\` printed ${JSON.stringify(stdout)}, not milliseconds`);
  }
  return { downMs };
}
