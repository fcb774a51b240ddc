import { KubeRequestError } from "../../src/kube/cluster-port.js";
import type { OwnerObject } from "../../src/kube/expose-cluster.js";
import type { ServiceObject } from "../../src/kube/service-model.js";
import type { EnvCluster, EnvPod, EnvWorkload, EnvWorkloadKind } from "../../src/env/env-cluster.js";

/** EnvCluster in memory, for tests: objects put in by hand; `forbidSecrets` answers 403 as RBAC would. */
export class MemoryEnvCluster implements EnvCluster {
  readonly services = new Map<string, ServiceObject>();
  readonly pods: EnvPod[] = [];
  readonly replicaSets = new Map<string, OwnerObject>();
  readonly workloads: EnvWorkload[] = [];
  readonly configMaps = new Map<string, Record<string, string>>();
  readonly secrets = new Map<string, Record<string, string>>();
  readonly nodes = new Map<string, Record<string, string>>();
  forbidSecrets = false;
  forbidNodes = false;

  async getService(namespace: string, name: string): Promise<ServiceObject | undefined> {
    return this.services.get(`${namespace}/${name}`);
  }

  async listPods(namespace: string, selector: Record<string, string>): Promise<EnvPod[]> {
    return this.pods.filter((pod) => pod.namespace === namespace && Object.entries(selector).every(([k, v]) => pod.labels[k] === v));
  }

  async readPod(namespace: string, name: string): Promise<EnvPod | undefined> {
    return this.pods.find((pod) => pod.namespace === namespace && pod.name === name);
  }

  async readReplicaSet(namespace: string, name: string): Promise<OwnerObject | undefined> {
    return this.replicaSets.get(`${namespace}/${name}`);
  }

  async readWorkload(kind: EnvWorkloadKind, namespace: string, name: string): Promise<EnvWorkload | undefined> {
    return this.workloads.find((w) => w.kind === kind && w.namespace === namespace && w.name === name);
  }

  async listWorkloads(namespace: string): Promise<EnvWorkload[]> {
    return this.workloads.filter((w) => w.namespace === namespace);
  }

  async readConfigMap(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    const data = this.configMaps.get(`${namespace}/${name}`);
    return data && { ...data };
  }

  async readSecret(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    if (this.forbidSecrets) throw new KubeRequestError(`read Secret ${namespace}/${name}: forbidden`, 403);
    const data = this.secrets.get(`${namespace}/${name}`);
    return data && { ...data };
  }

  async readNodeAllocatable(name: string): Promise<Record<string, string> | undefined> {
    if (this.forbidNodes) throw new KubeRequestError(`read node ${name}: forbidden`, 403);
    return this.nodes.get(name);
  }
}
