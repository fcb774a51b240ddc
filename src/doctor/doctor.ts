import { errorMessage } from "../errors.js";
import { fail, type CheckResult } from "./check.js";
import type { OpenCluster } from "./cluster-probe.js";
import { checkApiServer, checkKubeconfig, checkPermissions } from "./kube-checks.js";
import { checkDaemon, checkHostsFile, checkImage, checkStateDir } from "./local-checks.js";
import type { LocalSystem } from "./local-system.js";

export interface DoctorInputs {
  /** Namespaces to check permissions in; "" means all namespaces. */
  namespaces: readonly string[];
  hostsFile: string;
  stateDir: string;
  image: string;
  imageIsDefault: boolean;
}

export interface DoctorDeps {
  openCluster: OpenCluster;
  system: LocalSystem;
  now?: () => number;
}

/**
 * Runs every check in a fixed order. The cluster checks build on each other: no kubeconfig, no
 * API call; an unreachable API server, no permission questions (they would all fail alike).
 */
export async function runDoctor(inputs: DoctorInputs, deps: DoctorDeps): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const { result, probe } = await checkKubeconfig(deps.openCluster);
  results.push(result);
  if (probe) {
    const api = await checkApiServer(probe);
    results.push(api);
    if (api.ok) results.push(...(await checkPermissions(probe, inputs.namespaces)));
  }
  results.push(
    await guarded("hosts file", () => checkHostsFile(inputs.hostsFile, deps.system)),
    await guarded("state dir", () => checkStateDir(inputs.stateDir, deps.system)),
    ...[await guarded("socket", () => checkDaemon(inputs.stateDir, deps.system, deps.now))].flat(),
    checkImage(inputs.image, inputs.imageIsDefault),
  );
  return results;
}

/** A check that could not even look (e.g. EACCES on stat) fails with the reason instead of ending the report. */
async function guarded<T extends CheckResult | CheckResult[]>(name: string, check: () => Promise<T>): Promise<T | CheckResult> {
  try {
    return await check();
  } catch (error) {
    return fail(name, `could not check: ${errorMessage(error)}`, "run loc doctor as the user who runs loc");
  }
}
