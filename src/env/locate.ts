import { LocError } from "../errors.js";
import { LABEL_SESSION } from "../expose/identity.js";
import type { ServiceObject } from "../kube/service-model.js";
import type { EnvCluster, EnvPod, EnvWorkload } from "./env-cluster.js";
import type { ContainerSpec, PodFacts, PodSpecLike } from "./model.js";
import { describeTarget, type EnvTarget } from "./target.js";

/** The container whose environment is wanted, with its pod spec and what the downward API can read. */
export interface Located {
  /** e.g. "Deployment shop/web" (what the messages name). */
  source: string;
  namespace: string;
  pod: PodSpecLike;
  container: ContainerSpec;
  facts: PodFacts;
}

/**
 * Finds the workload behind the target as `loc expose` does (Service → its pods → their controller:
 * ReplicaSet → Deployment, or StatefulSet), or by template when its pods are scaled to 0. The
 * container comes from the workload's template (what new pods get); fields only a pod has come
 * from one of its running pods.
 */
export async function locate(cluster: EnvCluster, target: EnvTarget, containerName: string | undefined): Promise<Located> {
  const { namespace } = target;
  if (target.kind === "Pod") {
    const pod = await cluster.readPod(namespace, target.name);
    if (!pod) throw notFound(target, `kubectl get pods -n ${namespace}`);
    return located(`pod ${namespace}/${pod.name}`, pod.spec, pick(pod.spec, containerName, [], `pod ${namespace}/${pod.name}`), podFacts(pod, `pod ${pod.name} is ${pod.phase}`));
  }
  let workload: EnvWorkload | undefined;
  let service: ServiceObject | undefined;
  if (target.kind === "Service") {
    service = await cluster.getService(namespace, target.name);
    if (!service) throw notFound(target, `kubectl get services -n ${namespace}`);
    const found = await workloadBehind(cluster, service, namespace, target.name);
    if ("pod" in found) {
      const pod = found.pod;
      return located(`pod ${namespace}/${pod.name}`, pod.spec, pick(pod.spec, containerName, targetPorts(service), `pod ${namespace}/${pod.name}`), podFacts(pod, `pod ${pod.name} is ${pod.phase}`));
    }
    workload = found.workload;
  } else {
    workload = await cluster.readWorkload(target.kind, namespace, target.name);
    if (!workload) throw notFound(target, `kubectl get ${target.kind.toLowerCase()}s -n ${namespace}`);
  }
  const source = `${workload.kind} ${namespace}/${workload.name}`;
  const pods = await podsOf(cluster, workload);
  const running = pods.find((pod) => pod.phase === "Running" && !pod.deleting);
  const spec = workload.template.spec;
  const container = pick(spec, containerName, service ? targetPorts(service) : [], source);
  const facts: PodFacts = running
    ? podFacts(running, "")
    : {
        running: false,
        namespace,
        labels: workload.template.labels,
        annotations: workload.template.annotations,
        ...(spec.serviceAccountName !== undefined ? { serviceAccountName: spec.serviceAccountName } : {}),
        podIPs: [],
        hostIPs: [],
        why: `no pod of ${source} is running`,
      };
  return located(source, spec, container, facts);

  function located(source: string, pod: PodSpecLike, container: ContainerSpec, facts: PodFacts): Located {
    return { source, namespace, pod, container, facts };
  }
}

async function workloadBehind(cluster: EnvCluster, service: ServiceObject, namespace: string, name: string): Promise<{ workload: EnvWorkload } | { pod: EnvPod }> {
  const ref = `${namespace}/${name}`;
  const selector = service.spec?.selector ?? {};
  if (Object.keys(selector).length === 0) {
    throw new LocError(`service ${ref} has no selector, so no pods whose environment loc could read`, "name the workload instead: loc env ns/deploy/NAME", "NO_SELECTOR");
  }
  // loc's own proxy pods (an expose in progress) carry the Service's labels but not its environment.
  const pods = (await cluster.listPods(namespace, selector)).filter((pod) => pod.labels[LABEL_SESSION] === undefined);
  const owners = new Map<string, { kind: "Deployment" | "StatefulSet"; name: string } | EnvPod>();
  for (const pod of pods) {
    const owner = await controllerOf(cluster, pod);
    owners.set(owner ? `${owner.kind} ${owner.name}` : `pod ${pod.name}`, owner ?? pod);
  }
  if (owners.size === 0) {
    // Scaled to 0 (by an expose, say): the workloads whose template the selector matches.
    const matching = (await cluster.listWorkloads(namespace)).filter((w) => Object.entries(selector).every(([k, v]) => w.template.labels[k] === v));
    if (matching.length === 1) return { workload: matching[0]! };
    if (matching.length === 0) throw new LocError(`service ${ref} selects no pods, and no Deployment or StatefulSet would create any`, `check its selector: kubectl get service ${name} -n ${namespace} -o yaml`, "NO_WORKLOAD");
    throw several(ref, matching.map((w) => `${w.kind} ${w.name}`), namespace);
  }
  if (owners.size > 1) throw several(ref, [...owners.keys()], namespace);
  const only = [...owners.values()][0]!;
  if ("uid" in only) return { pod: only };
  const workload = await cluster.readWorkload(only.kind, namespace, only.name);
  if (!workload) throw new LocError(`${only.kind} ${namespace}/${only.name} behind ${ref} is gone`, "try again once the rollout settles", "WORKLOAD_CHANGED");
  return { workload };
}

async function controllerOf(cluster: EnvCluster, pod: EnvPod): Promise<{ kind: "Deployment" | "StatefulSet"; name: string } | undefined> {
  const controller = pod.ownerReferences.find((owner) => owner.controller);
  if (controller?.kind === "StatefulSet") return { kind: "StatefulSet", name: controller.name };
  if (controller?.kind !== "ReplicaSet") return undefined;
  const replicaSet = await cluster.readReplicaSet(pod.namespace, controller.name);
  const deployment = replicaSet?.ownerReferences.find((owner) => owner.controller && owner.kind === "Deployment");
  return deployment ? { kind: "Deployment", name: deployment.name } : undefined;
}

/** Pods whose controller chain ends at this workload (a label match alone could be another's). */
async function podsOf(cluster: EnvCluster, workload: EnvWorkload): Promise<EnvPod[]> {
  if (Object.keys(workload.matchLabels).length === 0) return [];
  const pods = await cluster.listPods(workload.namespace, workload.matchLabels);
  const mine: EnvPod[] = [];
  for (const pod of pods) {
    const owner = await controllerOf(cluster, pod);
    if (owner?.kind === workload.kind && owner.name === workload.name) mine.push(pod);
  }
  return mine;
}

function podFacts(pod: EnvPod, why: string): PodFacts {
  return {
    running: pod.phase === "Running" && !pod.deleting,
    namespace: pod.namespace,
    name: pod.name,
    uid: pod.uid,
    labels: pod.labels,
    annotations: pod.annotations,
    ...(pod.spec.nodeName !== undefined ? { nodeName: pod.spec.nodeName } : {}),
    ...(pod.spec.serviceAccountName !== undefined ? { serviceAccountName: pod.spec.serviceAccountName } : {}),
    podIPs: pod.podIPs,
    hostIPs: pod.hostIPs,
    ...(why ? { why } : {}),
  };
}

/** The Service's target ports: numbers and names (a missing targetPort is the port itself). */
function targetPorts(service: ServiceObject): (number | string)[] {
  return (service.spec?.ports ?? []).map((port) => port.targetPort ?? port.port);
}

/** `-c NAME`, else the first container serving one of the Service's target ports, else the first. */
function pick(spec: PodSpecLike, name: string | undefined, ports: readonly (number | string)[], where: string): ContainerSpec {
  const all = [...spec.containers, ...(spec.initContainers ?? [])];
  if (name !== undefined) {
    const named = all.find((container) => container.name === name);
    if (!named) throw new LocError(`${where} has no container "${name}"`, `its containers: ${all.map((c) => c.name).join(", ")}`, "NO_CONTAINER");
    return named;
  }
  const serving = spec.containers.find((container) => (container.ports ?? []).some((port) => ports.includes(port.containerPort) || (port.name !== undefined && ports.includes(port.name))));
  const chosen = serving ?? spec.containers[0];
  if (!chosen) throw new LocError(`${where} has no containers`, "check the object: kubectl get -o yaml", "NO_CONTAINER");
  return chosen;
}

function notFound(target: EnvTarget, hint: string): LocError {
  return new LocError(`${describeTarget(target)} does not exist`, `check the name: ${hint}`, "ENV_TARGET_NOT_FOUND");
}

function several(ref: string, names: string[], namespace: string): LocError {
  const first = names[0]?.replace(/^Deployment /, "deploy/").replace(/^StatefulSet /, "sts/").replace(/^pod /, "pod/") ?? "";
  return new LocError(`${ref} is backed by ${names.join(", ")}; loc env reads one`, `name it: loc env ${namespace}/${first}`, "SEVERAL_WORKLOADS");
}
