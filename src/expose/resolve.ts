import { LocError } from "../errors.js";
import type { ExposeCluster, PodInfo, WorkloadRef, WorkloadState } from "../kube/expose-cluster.js";
import { ANNOTATION_OWNER, ANNOTATION_SESSION, LABEL_OWNER, LABEL_SERVICE, LABEL_SESSION } from "./identity.js";
import { planPorts, type MapFlag, type PortMapping } from "./ports.js";
import { annotationsOf, type ResolvedService } from "./selector.js";
import type { ExposeStrategy } from "./strategy.js";

/** What the saga will change, read from the cluster before anything is changed. */
export interface ExposePlan {
  /** `ns/svc`. */
  service: string;
  namespace: string;
  name: string;
  selector: Record<string, string>;
  strategy: ExposeStrategy;
  /** The Service as read (the selector strategy's undo information and patch precondition). */
  target: ResolvedService;
  /** The backing workloads as they were when resolved (the scale strategy's undo information; none for selector). */
  workloads: WorkloadState[];
  ports: PortMapping[];
}

/**
 * Step 1 of the saga, read-only: the Service, its pods and the workloads that own them
 * (Pod → ReplicaSet → Deployment, Pod → StatefulSet; ownerReferences never cross namespaces).
 * Anything loc cannot undo exactly is refused here, before the first mutation.
 */
export async function resolveExpose(cluster: ExposeCluster, namespace: string, name: string, maps: readonly MapFlag[], owner: string, strategy: ExposeStrategy): Promise<ExposePlan> {
  const ref = `${namespace}/${name}`;
  if (!(await namespaceMayExist(cluster, namespace))) {
    throw new LocError(`namespace "${namespace}" does not exist`, "check the name: kubectl get namespaces", "NAMESPACE_NOT_FOUND");
  }
  const service = await cluster.getService(namespace, name);
  if (!service) throw new LocError(`service ${ref} does not exist`, `check the name: kubectl get services -n ${namespace}`, "SERVICE_NOT_FOUND");
  const selector = service.spec?.selector ?? {};
  if (service.spec?.type === "ExternalName" || Object.keys(selector).length === 0) {
    throw new LocError(
      `service ${ref} has no selector, so no pods of its own to stand in for`,
      "loc expose needs a Service that selects pods (its endpoints are managed by hand or it is an ExternalName)",
      "NO_SELECTOR",
    );
  }
  const claim = annotationsOf(service);
  if (claim[ANNOTATION_SESSION]) throw alreadyExposed(ref, claim[ANNOTATION_OWNER], claim[ANNOTATION_SESSION], owner);
  await refuseIfExposed(cluster, namespace, name, owner);
  const pods = (await cluster.listPods(namespace, selector)).filter((pod) => pod.labels[LABEL_SESSION] === undefined);
  // The selector strategy changes no workload, so it also stands in for bare pods and other controllers.
  const workloads = strategy === "scale" ? await backingWorkloads(cluster, ref, pods, owner) : [];
  const containerPorts = new Map(pods.flatMap((pod) => Object.entries(pod.containerPorts ?? {})));
  const ports = planPorts(service, maps, containerPorts);
  const target = { name, uid: service.metadata?.uid ?? "", resourceVersion: service.metadata?.resourceVersion ?? "", selector };
  return { service: ref, namespace, name, selector, strategy, target, workloads, ports };
}

/** A namespaced Role cannot grant reads of namespaces; then the Service lookup below tells. */
async function namespaceMayExist(cluster: ExposeCluster, namespace: string): Promise<boolean> {
  try {
    return await cluster.namespaceExists(namespace);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 403) return true;
    throw error;
  }
}

async function refuseIfExposed(cluster: ExposeCluster, namespace: string, name: string, owner: string): Promise<void> {
  const proxies = (await cluster.findPods(`${LABEL_SERVICE}=${name}`, namespace)).filter((pod) => !pod.deleting);
  const proxy = proxies[0];
  if (proxy) throw alreadyExposed(`${namespace}/${name}`, proxy.labels[LABEL_OWNER], proxy.labels[LABEL_SESSION], owner);
}

function alreadyExposed(ref: string, by: string | undefined, session: string | undefined, owner: string): LocError {
  if (by === owner) {
    return new LocError(`${ref} is already exposed by this machine (session ${session ?? "?"})`, `stop it first: loc expose --stop ${ref}`, "ALREADY_EXPOSED");
  }
  return new LocError(
    `${ref} is already exposed by another loc (owner ${by ?? "unknown"}, session ${session ?? "?"})`,
    "ask its owner to stop it (loc expose --stop on their machine)",
    "EXPOSED_BY_OTHER",
  );
}

async function backingWorkloads(cluster: ExposeCluster, ref: string, pods: readonly PodInfo[], owner: string): Promise<WorkloadState[]> {
  const refs = new Map<string, { workload: WorkloadRef; uid: string }>();
  for (const pod of pods) {
    const found = await workloadOf(cluster, pod);
    refs.set(`${found.workload.kind}/${found.workload.name}`, found);
  }
  const workloads: WorkloadState[] = [];
  for (const [key, { workload, uid }] of [...refs].sort(([a], [b]) => a.localeCompare(b))) {
    const state = await cluster.readWorkload(workload);
    if (!state || state.uid !== uid) {
      throw new LocError(`${key} behind ${ref} is gone or was replaced while loc looked`, "try again once the rollout settles", "WORKLOAD_CHANGED");
    }
    const session = state.annotations[ANNOTATION_SESSION];
    if (session) throw alreadyExposed(ref, state.annotations[ANNOTATION_OWNER], session, owner);
    workloads.push(state);
  }
  return workloads;
}

async function workloadOf(cluster: ExposeCluster, pod: PodInfo): Promise<{ workload: WorkloadRef; uid: string }> {
  const where = `pod ${pod.namespace}/${pod.name}`;
  const controller = pod.ownerReferences.find((owner) => owner.controller);
  if (!controller) {
    throw new LocError(
      `${where} has no controller (a bare pod), so loc could not bring it back after scaling it away`,
      "run it from a Deployment or StatefulSet, or delete it yourself before exposing",
      "NO_CONTROLLER",
    );
  }
  if (controller.kind === "StatefulSet") return { workload: { kind: "StatefulSet", namespace: pod.namespace, name: controller.name }, uid: controller.uid };
  if (controller.kind !== "ReplicaSet") throw unsupported(where, `${controller.kind}/${controller.name}`);
  const replicaSet = await cluster.readReplicaSet(pod.namespace, controller.name);
  if (!replicaSet || replicaSet.uid !== controller.uid) {
    throw new LocError(`ReplicaSet ${controller.name} owning ${where} is gone`, "a rollout is moving pods; try again in a moment", "WORKLOAD_CHANGED");
  }
  const deployment = replicaSet.ownerReferences.find((owner) => owner.controller);
  if (deployment?.kind !== "Deployment") throw unsupported(where, `ReplicaSet/${controller.name} (not managed by a Deployment)`);
  return { workload: { kind: "Deployment", namespace: pod.namespace, name: deployment.name }, uid: deployment.uid };
}

function unsupported(where: string, owner: string): LocError {
  return new LocError(
    `${where} is controlled by ${owner}, which loc cannot scale down and restore`,
    "loc expose supports pods of Deployments and StatefulSets",
    "UNSUPPORTED_OWNER",
  );
}
