import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Deployment,
  type V1Pod,
  type V1StatefulSet,
} from "@kubernetes/client-node";
import { KubeRequestError } from "./cluster-port.js";
import type {
  DeleteResult,
  ExposeCluster,
  OwnerObject,
  PodInfo,
  PodManifest,
  SecretInfo,
  SecretManifest,
  WorkloadKind,
  WorkloadRef,
  WorkloadState,
} from "./expose-cluster.js";
import { call, invalidField, orUndefined, toKubeRequestError } from "./kube-request-error.js";
import { listPodsMatching, readPod, readReplicaSetOwners, readService, toPodInfo, toServiceObject, toWorkloadState } from "./kube-objects.js";
import { DEFAULT_REQUEST_TIMEOUT_MS } from "./request-timeout.js";
import type { ServiceObject } from "./service-model.js";
import { makeTimedApiClient } from "./timed-api-client.js";

/** ExposeCluster through the API server with the kubeconfig's credentials (client-node). */
export class KubeExposeCluster implements ExposeCluster {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;

  /** `timeoutMs` bounds each request: a hung one fails with a KubeTimeoutError, retried like a 5xx. */
  constructor(config: KubeConfig, options: { timeoutMs?: number } = {}) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.core = makeTimedApiClient(config, CoreV1Api, timeoutMs);
    this.apps = makeTimedApiClient(config, AppsV1Api, timeoutMs);
  }

  async namespaceExists(namespace: string): Promise<boolean> {
    const found = await orUndefined(`read namespace ${namespace}`, () => this.core.readNamespace({ name: namespace }));
    return found !== undefined;
  }

  async getService(namespace: string, name: string): Promise<ServiceObject | undefined> {
    const service = await readService(this.core, namespace, name);
    return service && toServiceObject(service);
  }

  async listPods(namespace: string, selector: Record<string, string>): Promise<PodInfo[]> {
    return (await listPodsMatching(this.core, namespace, selector)).map(toPodInfo);
  }

  async findPods(labelSelector: string, namespace?: string): Promise<PodInfo[]> {
    const list = await call(`list pods ${labelSelector} in ${namespace ?? "all namespaces"}`, () =>
      namespace === undefined ? this.core.listPodForAllNamespaces({ labelSelector }) : this.core.listNamespacedPod({ namespace, labelSelector }),
    );
    return list.items.map(toPodInfo);
  }

  async readPod(namespace: string, name: string): Promise<PodInfo | undefined> {
    const pod = await readPod(this.core, namespace, name);
    return pod && toPodInfo(pod);
  }

  readReplicaSet(namespace: string, name: string): Promise<OwnerObject | undefined> {
    return readReplicaSetOwners(this.apps, namespace, name);
  }

  async readWorkload(ref: WorkloadRef): Promise<WorkloadState | undefined> {
    const { namespace, name } = ref;
    // One GET of the object gives uid, resourceVersion, annotations and replicas from the same
    // version; the scale subresource's spec.replicas is this very field.
    const object = await orUndefined<V1Deployment | V1StatefulSet>(`read ${describe(ref)}`, () =>
      ref.kind === "Deployment" ? this.apps.readNamespacedDeployment({ namespace, name }) : this.apps.readNamespacedStatefulSet({ namespace, name }),
    );
    return object && toWorkloadState(ref, object);
  }

  async scaleWorkload(ref: WorkloadRef, replicas: number, resourceVersion: string): Promise<WorkloadState> {
    const { namespace, name } = ref;
    // The Scale's resourceVersion is the workload's, so a stale one is a 409 Conflict.
    const body = { metadata: { name, namespace, resourceVersion }, spec: { replicas } };
    await call(`scale ${describe(ref)} to ${replicas}`, () =>
      ref.kind === "Deployment"
        ? this.apps.replaceNamespacedDeploymentScale({ namespace, name, body })
        : this.apps.replaceNamespacedStatefulSetScale({ namespace, name, body }),
    );
    return this.mustReadWorkload(ref);
  }

  async patchWorkloadAnnotations(ref: WorkloadRef, uid: string, annotations: Record<string, string | null>, resourceVersion?: string): Promise<WorkloadState> {
    const { namespace, name } = ref;
    // The uid in the patch makes it conditional: on an object with another uid (replaced under the
    // same name) the API server refuses to change metadata.uid, with 422 Invalid ("field is
    // immutable"), not 409. That refusal is reported as the 409 the interface promises.
    // A resourceVersion in a merge patch is optimistic concurrency: 409 when the object moved on.
    const body = { metadata: { uid, annotations, ...(resourceVersion ? { resourceVersion } : {}) } };
    const options = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
    const what = `annotate ${describe(ref)}`;
    try {
      const patched: V1Deployment | V1StatefulSet =
        ref.kind === "Deployment"
          ? await this.apps.patchNamespacedDeployment({ namespace, name, body }, options)
          : await this.apps.patchNamespacedStatefulSet({ namespace, name, body }, options);
      return toWorkloadState(ref, patched);
    } catch (error) {
      if (invalidField(error, "metadata.uid")) {
        throw new KubeRequestError(`${what}: precondition failed: uid ${uid} is not the current object's (it was deleted and recreated)`, 409);
      }
      throw toKubeRequestError(what, error);
    }
  }

  async createPod(namespace: string, manifest: PodManifest): Promise<PodInfo> {
    const pod = await call(`create pod ${namespace}/${manifest.metadata.name}`, () =>
      this.core.createNamespacedPod({ namespace, body: manifest as V1Pod }),
    );
    return toPodInfo(pod);
  }

  async deletePod(namespace: string, name: string, uid: string): Promise<DeleteResult> {
    return deleted(`delete pod ${namespace}/${name}`, () =>
      this.core.deleteNamespacedPod({ namespace, name, body: { preconditions: { uid }, gracePeriodSeconds: 0 } }),
    );
  }

  async createSecret(namespace: string, secret: SecretManifest): Promise<{ name: string; uid: string }> {
    const ownerReferences = secret.ownerPod ? [{ apiVersion: "v1", kind: "Pod", name: secret.ownerPod.name, uid: secret.ownerPod.uid }] : undefined;
    const created = await call(`create Secret ${namespace}/${secret.name}`, () =>
      this.core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: secret.name, labels: secret.labels, ...(ownerReferences ? { ownerReferences } : {}) },
          type: "Opaque",
          stringData: secret.data,
        },
      }),
    );
    return { name: created.metadata?.name ?? secret.name, uid: created.metadata?.uid ?? "" };
  }

  async readSecret(namespace: string, name: string): Promise<{ uid: string; labels: Record<string, string> } | undefined> {
    const secret = await orUndefined(`read Secret ${namespace}/${name}`, () => this.core.readNamespacedSecret({ namespace, name }));
    // Identity and labels only: the data never leaves this function.
    return secret && { uid: secret.metadata?.uid ?? "", labels: { ...secret.metadata?.labels } };
  }

  async deleteSecret(namespace: string, name: string, uid: string): Promise<DeleteResult> {
    return deleted(`delete Secret ${namespace}/${name}`, () => this.core.deleteNamespacedSecret({ namespace, name, body: { preconditions: { uid } } }));
  }

  async patchService(namespace: string, name: string, uid: string, resourceVersion: string, change: { selector: Record<string, string>; annotations: Record<string, string | null> }): Promise<ServiceObject> {
    const what = `patch Service ${namespace}/${name}`;
    const current = await this.getService(namespace, name);
    if (!current) throw new KubeRequestError(`${what}: not found`, 404);
    // A merge patch merges maps: every key of the selector as read is nulled, then the new ones set.
    // The resourceVersion makes the whole patch conditional on the Service loc read (409 otherwise).
    const removed = Object.fromEntries(Object.keys(current.spec?.selector ?? {}).map((key) => [key, null]));
    const body = { metadata: { uid, resourceVersion, annotations: change.annotations }, spec: { selector: { ...removed, ...change.selector } } };
    try {
      const patched = await this.core.patchNamespacedService({ namespace, name, body }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
      return toServiceObject(patched);
    } catch (error) {
      if (invalidField(error, "metadata.uid")) throw new KubeRequestError(`${what}: precondition failed: uid ${uid} is not the current object's`, 409);
      throw toKubeRequestError(what, error);
    }
  }

  async findSecrets(labelSelector: string, namespace?: string): Promise<SecretInfo[]> {
    const list = await call(`list Secrets ${labelSelector} in ${namespace ?? "all namespaces"}`, () =>
      namespace === undefined ? this.core.listSecretForAllNamespaces({ labelSelector }) : this.core.listNamespacedSecret({ namespace, labelSelector }),
    );
    // Identity only: the data (a host key) is dropped here and never leaves this function.
    return list.items.map((secret) => ({
      namespace: secret.metadata?.namespace ?? "",
      name: secret.metadata?.name ?? "",
      uid: secret.metadata?.uid ?? "",
      labels: { ...secret.metadata?.labels },
    }));
  }

  async findWorkloads(namespace?: string): Promise<WorkloadState[]> {
    const where = namespace ?? "all namespaces";
    const [deployments, statefulSets] = await Promise.all([
      call(`list Deployments in ${where}`, () => (namespace === undefined ? this.apps.listDeploymentForAllNamespaces() : this.apps.listNamespacedDeployment({ namespace }))),
      call(`list StatefulSets in ${where}`, () => (namespace === undefined ? this.apps.listStatefulSetForAllNamespaces() : this.apps.listNamespacedStatefulSet({ namespace }))),
    ]);
    const state = (kind: WorkloadKind, object: V1Deployment | V1StatefulSet) =>
      toWorkloadState({ kind, namespace: object.metadata?.namespace ?? "", name: object.metadata?.name ?? "" }, object);
    return [...deployments.items.map((d) => state("Deployment", d)), ...statefulSets.items.map((s) => state("StatefulSet", s))];
  }

  async findServices(namespace?: string): Promise<ServiceObject[]> {
    const list = await call(`list Services in ${namespace ?? "all namespaces"}`, () => (namespace === undefined ? this.core.listServiceForAllNamespaces() : this.core.listNamespacedService({ namespace })));
    return list.items.map(toServiceObject);
  }

  private async mustReadWorkload(ref: WorkloadRef): Promise<WorkloadState> {
    const state = await this.readWorkload(ref);
    if (!state) throw new KubeRequestError(`${describe(ref)} not found`, 404);
    return state;
  }
}

function describe(ref: WorkloadRef): string {
  return `${ref.kind} ${ref.namespace}/${ref.name}`;
}

/** Deletes with a uid precondition: 404 or a failed uid precondition (a replacement) is "gone". */
async function deleted(what: string, request: () => Promise<unknown>): Promise<DeleteResult> {
  try {
    await call(what, request);
    return "deleted";
  } catch (error) {
    if (error instanceof KubeRequestError && (error.statusCode === 404 || (error.statusCode === 409 && /precondition/i.test(error.message)))) {
      return "gone";
    }
    throw error;
  }
}
