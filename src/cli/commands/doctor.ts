import { allPassed, formatCheck } from "../../doctor/check.js";
import { runDoctor, type DoctorDeps } from "../../doctor/doctor.js";
import { nodeSystem } from "../../doctor/local-system.js";
import { EXPOSE_DEFAULTS } from "../../ipc/expose-defaults.js";
import { checkNamespaceName } from "../../kube/service-ref.js";
import { resolveStateDir } from "../../store/state-dir.js";
import type { CliIO } from "../io.js";

export interface DoctorFlags {
  stateDir?: string;
  kubeconfig?: string;
  context?: string;
  namespace?: string[];
  hostsFile?: string;
  image?: string;
  json?: boolean;
}

/**
 * `loc doctor`: read the flags → run every check (read-only; nothing is created or changed) →
 * print one line per check, or one JSON document. Exit 1 when any check failed; warnings pass.
 */
export async function doctorCommand(flags: DoctorFlags, io: CliIO, deps: Partial<DoctorDeps> = {}): Promise<number> {
  const namespaces = (flags.namespace ?? []).map((namespace) => checkNamespaceName(String(namespace)));
  const inputs = {
    namespaces: namespaces.length > 0 ? namespaces : [""],
    hostsFile: flags.hostsFile === undefined ? "/etc/hosts" : String(flags.hostsFile),
    stateDir: resolveStateDir(flags.stateDir, io.env),
    image: flags.image === undefined ? EXPOSE_DEFAULTS.image : String(flags.image),
    imageIsDefault: flags.image === undefined,
  };
  const kubeconfig = flags.kubeconfig === undefined ? undefined : String(flags.kubeconfig);
  const context = flags.context === undefined ? undefined : String(flags.context);
  const results = await runDoctor(inputs, {
    // Loaded only here: the Kubernetes client is heavy and the other commands need not pay for it.
    openCluster: deps.openCluster ?? (async () => (await import("../../doctor/kube-probe.js")).openKubeProbe(kubeconfig, context, io.env)),
    system: deps.system ?? nodeSystem,
    now: deps.now,
  });
  const ok = allPassed(results);
  if (flags.json) io.stdout(JSON.stringify({ ok, checks: results }, null, 2) + "\n");
  else io.stdout(results.map(formatCheck).join("\n") + "\n");
  return ok ? 0 : 1;
}
