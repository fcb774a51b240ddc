/**
 * `loc recover --from-cluster`: when the local event log is gone, the cluster's own record says
 * what this owner left behind: proxy pods and Secrets carry loc's labels, claimed workloads carry
 * loc's annotations (session, owner, replicas before the scale), and so do retargeted Services
 * (session, owner, selector before).
 */
import { ANNOTATION_ORIGINAL_REPLICAS, ANNOTATION_ORIGINAL_SELECTOR, ANNOTATION_OWNER, ANNOTATION_SESSION, LABEL_MANAGED_BY, LABEL_OWNER, LABEL_SERVICE, LABEL_SESSION } from "../expose/identity.js";
import { annotationsOf, parseSelectorText } from "../expose/selector.js";
import type { ExposeCluster } from "../kube/expose-cluster.js";
import type { RecoverableSession } from "./sessions.js";

export async function sessionsFromCluster(cluster: ExposeCluster, owner: string, namespace?: string): Promise<RecoverableSession[]> {
  const selector = `${LABEL_MANAGED_BY}=loc,${LABEL_OWNER}=${owner}`;
  const [pods, secrets, workloads, services] = await Promise.all([
    cluster.findPods(selector, namespace),
    cluster.findSecrets(selector, namespace),
    cluster.findWorkloads(namespace),
    cluster.findServices(namespace),
  ]);
  const sessions = new Map<string, RecoverableSession>();
  const sessionFor = (ns: string, id: string, serviceName: string | undefined): RecoverableSession => {
    const key = `${ns}/${id}`;
    let session = sessions.get(key);
    if (!session) {
      session = { id, service: `${ns}/${serviceName ?? "unknown"}`, namespace: ns, owner, workloads: [], services: [], proxies: [] };
      sessions.set(key, session);
    } else if (serviceName && session.service.endsWith("/unknown")) {
      session.service = `${ns}/${serviceName}`;
    }
    return session;
  };
  for (const object of [...pods, ...secrets]) {
    const id = object.labels[LABEL_SESSION];
    if (!id) continue;
    const session = sessionFor(object.namespace, id, object.labels[LABEL_SERVICE]);
    if (!session.proxies.includes(object.name)) session.proxies.push(object.name);
  }
  for (const workload of workloads) {
    const id = workload.annotations[ANNOTATION_SESSION];
    if (!id || workload.annotations[ANNOTATION_OWNER] !== owner) continue;
    const original = Number(workload.annotations[ANNOTATION_ORIGINAL_REPLICAS]);
    const session = sessionFor(workload.ref.namespace, id, undefined);
    // Without a readable original count loc cannot know what to scale back to: it only removes its annotations.
    session.workloads.push({ ref: workload.ref, uid: workload.uid, ...(Number.isInteger(original) && original >= 0 ? { scaledFrom: original } : {}) });
  }
  for (const service of services) {
    const annotations = annotationsOf(service);
    const id = annotations[ANNOTATION_SESSION];
    const name = service.metadata?.name ?? "";
    if (!id || annotations[ANNOTATION_OWNER] !== owner) continue;
    const session = sessionFor(service.metadata?.namespace ?? "", id, name);
    // An unreadable original selector is not guessed: the undo then leaves the Service and says why.
    const original = parseSelectorText(annotations[ANNOTATION_ORIGINAL_SELECTOR]);
    session.services.push({ name, uid: service.metadata?.uid ?? "", ...(original ? { selector: original } : {}) });
  }
  return [...sessions.values()].sort((a, b) => a.service.localeCompare(b.service) || a.id.localeCompare(b.id));
}
