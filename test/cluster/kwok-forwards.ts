// kwok's stand-in for a container listening on a port: when the API server forwards a pod port to
// kwok's kubelet endpoint, kwok dials the target named by a PortForward (same name and namespace as
// the pod) or a ClusterPortForward (selected by namespace/pod name). Schema:
// sigs.k8s.io/kwok pkg/apis/v1alpha1/{port_forward_types,cluster_port_forward_types,object_selector}.go
import type { Kube } from "./kube.js";

const group = "kwok.x-k8s.io";
const version = "v1alpha1";

export interface ForwardTarget {
  address: string;
  port: number;
}

export interface Forward {
  /** Pod ports this rule answers; empty means every port. */
  ports: number[];
  target: ForwardTarget;
}

/** Forwards ports of one pod (the resource shares the pod's name and namespace). */
export async function createPodPortForward(
  kube: Kube,
  namespace: string,
  pod: string,
  forwards: Forward[],
): Promise<void> {
  await kube.custom.createNamespacedCustomObject({
    group,
    version,
    namespace,
    plural: "portforwards",
    body: { apiVersion: `${group}/${version}`, kind: "PortForward", metadata: { name: pod }, spec: { forwards } },
  });
}

/** The pod's "process" stops listening: kwok answers its port-forwards with "no forward found". */
export async function deletePodPortForward(kube: Kube, namespace: string, pod: string): Promise<void> {
  await kube.custom.deleteNamespacedCustomObject({ group, version, namespace, plural: "portforwards", name: pod });
}

export interface ClusterPortForwardSelector {
  matchNamespaces?: string[];
  matchNames?: string[];
}

/** Forwards ports of every pod the selector matches (cluster-scoped, so delete it afterwards). */
export async function createClusterPortForward(
  kube: Kube,
  name: string,
  selector: ClusterPortForwardSelector,
  forwards: Forward[],
): Promise<void> {
  await kube.custom.createClusterCustomObject({
    group,
    version,
    plural: "clusterportforwards",
    body: {
      apiVersion: `${group}/${version}`,
      kind: "ClusterPortForward",
      metadata: { name },
      spec: { selector, forwards },
    },
  });
}

export async function deleteClusterPortForward(kube: Kube, name: string): Promise<void> {
  await kube.custom.deleteClusterCustomObject({ group, version, plural: "clusterportforwards", name });
}
