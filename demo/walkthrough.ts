// The walkthrough itself: each step a heading, the command as typed, and its real output.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type Kube } from "../test/cluster/helpers.js";
import { bringUpCluster, type Cluster } from "./cluster.js";
import { startDemoDaemon, waitForTunnels, type DemoDaemon } from "./daemon.js";
import { exposeToLaptop } from "./expose.js";
import { httpGet, resolveFromHostsFile } from "./http.js";
import { showInClusterRequest } from "./in-cluster.js";
import { ensureBuilt, loc, runProcess } from "./loc-cli.js";
import type { DemoPorts } from "./prerequisites.js";
import { createSampleApp, NAMESPACE } from "./sample-app.js";
import { onTeardown } from "./teardown.js";
import { command, heading, output, say, shellQuote } from "./transcript.js";

export const IP_RANGE = "127.77.0.0/24";

export interface Running {
  cluster: Cluster;
  daemon: DemoDaemon;
  webAddress: string;
}

/** Shows a `loc` command as typed and prints its real output; a failing command ends the demo. */
async function showLoc(args: string[], stateDir: string, note?: string): Promise<string> {
  command(`loc ${args.map(shellQuote).join(" ")}`, note);
  const result = await loc(args, stateDir);
  output(result.output);
  if (result.code !== 0) throw new Error(`loc ${args.join(" ")} exited ${result.code}`);
  return result.output;
}

export async function walkthrough(ports: DemoPorts): Promise<Running> {
  await ensureBuilt();
  heading("A local Kubernetes control plane (no Docker, no kubelet: kwok plays the node)");
  const cluster = await bringUpCluster();
  const kube: Kube = connect(cluster.kubeconfig);
  const tempDir = mkdtempSync(path.join(os.tmpdir(), "loc-demo-"));
  onTeardown(tempDir, async () => (rmSync(tempDir, { recursive: true, force: true }), `removed ${tempDir}`));

  heading(`A sample app: namespace ${NAMESPACE} with web, api (2 replicas) and a headless db StatefulSet`);
  const app = await createSampleApp(kube, ports.apiPod);
  say("kwok pods run no containers: each pod's port is an HTTP server on this machine that names the pod");
  for (const [pod, address] of app.standIns) say(`  pod ${pod} -> ${address}`);
  await showKubectl(cluster, ["-n", NAMESPACE, "get", "deployments,statefulsets,services,pods"]);

  heading("loc daemon, without root: its own state dir, hosts file and address range");
  const daemon = await startDemoDaemon(tempDir, cluster.kubeconfig, IP_RANGE, NAMESPACE);
  command(`LOC_STATE_DIR=${daemon.stateDir} loc ${daemon.args.join(" ")} &`, `its output goes to ${daemon.logFile}`);
  output(daemon.log());
  await waitForTunnels(daemon.stateDir, [`${NAMESPACE}/web`, `${NAMESPACE}/api`, `${NAMESPACE}/db`]);
  say(`from here on, loc is this checkout's CLI, run with LOC_STATE_DIR=${daemon.stateDir}`);

  heading("Every Service gets an address and a tunnel");
  await showLoc(["list"], daemon.stateDir);

  heading(`A request to web.${NAMESPACE} through its tunnel`);
  const webAddress = resolveFromHostsFile(daemon.hostsFile, `web.${NAMESPACE}`);
  if (!webAddress) throw new Error(`web.${NAMESPACE} is not in ${daemon.hostsFile}:\n${daemon.log()}`);
  command(
    `curl -i http://web.${NAMESPACE}:8080/`,
    `the demo's built-in HTTP client: web.${NAMESPACE} resolves to ${webAddress} through the demo's hosts file ` +
      `${daemon.hostsFile} (not /etc/hosts); with curl: curl --resolve web.${NAMESPACE}:8080:${webAddress} http://web.${NAMESPACE}:8080/`,
  );
  output(await httpGet(webAddress, 8080, `web.${NAMESPACE}`));

  heading(`Send ${NAMESPACE}/api's in-cluster traffic to this laptop (the api pods keep running)`);
  await exposeToLaptop(kube, ports, (args, note) => showLoc(args, daemon.stateDir, note));
  say("a request through the in-cluster path now reaches the laptop's server:");
  await showInClusterRequest(cluster.bin, cluster.kubeconfig, NAMESPACE, "api", 8080);

  heading("Stop the expose: the cluster is put back");
  await showLoc(["expose", "--stop", `${NAMESPACE}/api`], daemon.stateDir);
  say("the same in-cluster request reaches the app's own pods again:");
  await showInClusterRequest(cluster.bin, cluster.kubeconfig, NAMESPACE, "api", 8080);
  // The daemon's api tunnel followed the Service to the proxy pod and back: the story ends with it forwarding.
  await waitForTunnels(daemon.stateDir, [`${NAMESPACE}/api`]);

  heading("Everything loc did, from its event log");
  await showLoc(["history", "--limit", "20"], daemon.stateDir);
  return { cluster, daemon, webAddress };
}

async function showKubectl(cluster: Cluster, args: string[]): Promise<void> {
  const full = ["--kubeconfig", cluster.kubeconfig, ...args];
  command(`kubectl ${full.join(" ")}`);
  const result = await runProcess(path.join(cluster.bin, "kubectl"), full, {});
  output(result.output);
}
