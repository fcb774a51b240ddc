import { KubeConfig } from "@kubernetes/client-node";
import { existsSync } from "node:fs";
import { LocError } from "../errors.js";

/** Loads `--kubeconfig` (else $KUBECONFIG, else ~/.kube/config) and selects `--context`. */
export function loadKubeConfig(path: string | undefined, context: string | undefined, env: NodeJS.ProcessEnv): KubeConfig {
  const config = new KubeConfig();
  const file = path ?? env.KUBECONFIG?.split(":")[0];
  if (file !== undefined && !existsSync(file)) {
    throw new LocError(`kubeconfig ${file} does not exist`, "pass --kubeconfig PATH, or set KUBECONFIG", "NO_KUBECONFIG");
  }
  try {
    if (path) config.loadFromFile(path);
    else config.loadFromDefault();
  } catch (error) {
    throw new LocError(`cannot read the kubeconfig: ${(error as Error).message.split("\n")[0]}`, "check the file with: kubectl config view", "BAD_KUBECONFIG");
  }
  if (context !== undefined) {
    if (!config.getContexts().some((c) => c.name === context)) {
      const known = config.getContexts().map((c) => c.name).join(", ") || "none";
      throw new LocError(`no context "${context}" in the kubeconfig`, `contexts: ${known}`, "BAD_CONTEXT");
    }
    config.setCurrentContext(context);
  }
  if (!config.getCurrentCluster()) {
    throw new LocError("the kubeconfig has no current cluster", "pick one with --context, or kubectl config use-context NAME", "NO_CLUSTER");
  }
  return config;
}
