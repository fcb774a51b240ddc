import { KubeConfig } from "@kubernetes/client-node";
import { existsSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { LocError } from "../errors.js";

/**
 * Loads `--kubeconfig` (else every file of $KUBECONFIG, merged as kubectl does, else
 * ~/.kube/config of `env`'s HOME) and selects `--context`. Never falls back to the client library's
 * silent defaults (http://localhost:8080, or in-cluster credentials): no file, an empty one or no
 * current context is an error that says which file was looked for.
 */
export function loadKubeConfig(path: string | undefined, context: string | undefined, env: NodeJS.ProcessEnv): KubeConfig {
  const files = kubeconfigFiles(path, env);
  const found = files.filter((file) => existsSync(file));
  if (found.length === 0) {
    const what = files.length === 1 ? `kubeconfig ${files[0]} does not exist` : files.length === 0 ? "no kubeconfig: $HOME is not set" : `none of the kubeconfig files ${files.join(", ")} exists`;
    const sudoHint = env.SUDO_USER ? `; sudo drops $KUBECONFIG: pass --kubeconfig PATH` : "";
    throw new LocError(what, `pass --kubeconfig PATH, or set KUBECONFIG${sudoHint}`, "NO_KUBECONFIG");
  }
  const config = new KubeConfig();
  // An empty file is a kubeconfig with nothing in it (kubectl agrees), not a parse error.
  const loadable = found.filter((file) => readFileSync(file, "utf8").trim() !== "");
  if (loadable.length === 0) {
    throw new LocError(`the kubeconfig ${found.join(":")} has no contexts`, "add one with kubectl config set-context, or pass --kubeconfig PATH", "EMPTY_KUBECONFIG");
  }
  try {
    config.loadFromFile(loadable[0]!);
    for (const file of loadable.slice(1)) {
      const more = new KubeConfig();
      more.loadFromFile(file);
      config.mergeConfig(more);
    }
  } catch (error) {
    throw new LocError(`cannot read the kubeconfig ${found.join(":")}: ${(error as Error).message.split("\n")[0]}`, "check the file with: kubectl config view", "BAD_KUBECONFIG");
  }
  if (config.getContexts().length === 0) {
    throw new LocError(`the kubeconfig ${found.join(":")} has no contexts`, "add one with kubectl config set-context, or pass --kubeconfig PATH", "EMPTY_KUBECONFIG");
  }
  if (context !== undefined) {
    if (!config.getContexts().some((c) => c.name === context)) {
      const known = config.getContexts().map((c) => c.name).join(", ") || "none";
      throw new LocError(`no context "${context}" in the kubeconfig`, `contexts: ${known}`, "BAD_CONTEXT");
    }
    config.setCurrentContext(context);
  }
  if (!config.getCurrentContext() || !config.getContextObject(config.getCurrentContext())) {
    const known = config.getContexts().map((c) => c.name).join(", ");
    throw new LocError(`the kubeconfig ${found.join(":")} has no current context`, `pass --context NAME (one of: ${known}), or run kubectl config use-context NAME`, "NO_CONTEXT");
  }
  if (!config.getCurrentCluster()) {
    throw new LocError("the kubeconfig's current context names no cluster", "pick one with --context, or kubectl config use-context NAME", "NO_CLUSTER");
  }
  return config;
}

/** The files kubectl would read, in its order of precedence. */
export function kubeconfigFiles(path: string | undefined, env: NodeJS.ProcessEnv): string[] {
  if (path !== undefined) return [path];
  const fromEnv = (env.KUBECONFIG ?? "").split(delimiter).filter(Boolean);
  if (fromEnv.length > 0) return fromEnv;
  return env.HOME ? [join(env.HOME, ".kube", "config")] : [];
}
