import type { PodManifest } from "../kube/expose-cluster.js";
import type { ProxySide } from "../transports/transport.js";
import { LABEL_MANAGED_BY, LABEL_OWNER, LABEL_SERVICE, LABEL_SESSION } from "./identity.js";
import type { PortMapping } from "./ports.js";

/**
 * A public OpenSSH server image whose sshd runs fine as a non-root user (uid 911, `abc`). loc
 * starts sshd itself with its own config from the session's Secret, so nothing of the image's
 * init is relied on beyond the sshd binary and the user. `--image` and `--ssh-user` replace them.
 */
export const DEFAULT_PROXY_IMAGE = "lscr.io/linuxserver/openssh-server:latest";
export const DEFAULT_PROXY_USER = "abc";
export const DEFAULT_PROXY_UID = 911;
export const DEFAULT_SSH_PORT = 2222;

export interface ProxyPodSpec {
  name: string;
  sessionId: string;
  owner: string;
  /** The Service's name (label values cannot hold `ns/svc`; the pod's namespace is the rest). */
  serviceName: string;
  selector: Record<string, string>;
  image: string;
  runAsUser: number;
  proxy: ProxySide;
  ports: PortMapping[];
  /** The session's Secret: mounted as the proxy's config, and the pod's controller (see below). */
  configName: string;
  configUid: string;
  /** A partial Pod merged in (kubectl run --overrides style), e.g. nodeSelector or tolerations. */
  overrides?: Record<string, unknown>;
}

/** Labels that mark a proxy pod as loc's, on top of the Service's selector labels. */
export function proxyLabels(spec: Pick<ProxyPodSpec, "sessionId" | "owner" | "serviceName">): Record<string, string> {
  return { [LABEL_SESSION]: spec.sessionId, [LABEL_OWNER]: spec.owner, [LABEL_SERVICE]: spec.serviceName, [LABEL_MANAGED_BY]: "loc" };
}

/**
 * The proxy pod: the Service's selector labels (so the Service's endpoints become this pod), one
 * container running the transport's server with the session's files, and the target ports declared
 * (named ones keep their names, so named targetPorts resolve to this pod).
 *
 * Its controller ownerReference points at the session's Secret. Without a controller, the scaled-
 * down ReplicaSet or StatefulSet would adopt the pod (it matches their selector) and delete it at
 * once, since they want 0 replicas. The Secret as owner also means deleting it removes the pod.
 */
export function proxyPodManifest(spec: ProxyPodSpec): PodManifest {
  const base = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: spec.name,
      ownerReferences: [{ apiVersion: "v1", kind: "Secret", name: spec.configName, uid: spec.configUid, controller: true, blockOwnerDeletion: false }],
    },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 0,
      restartPolicy: "Always",
      securityContext: { runAsNonRoot: true, runAsUser: spec.runAsUser, runAsGroup: spec.runAsUser, fsGroup: spec.runAsUser },
      containers: [
        {
          name: "loc-proxy",
          image: spec.image,
          command: spec.proxy.command,
          ports: [
            { name: "loc-proxy", containerPort: spec.proxy.port, protocol: "TCP" },
            ...uniqueTargets(spec.ports).map((p) => ({ ...(p.targetPortName ? { name: p.targetPortName } : {}), containerPort: p.remotePort, protocol: "TCP" })),
          ],
          readinessProbe: { tcpSocket: { port: spec.proxy.port }, periodSeconds: 2 },
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
          volumeMounts: [{ name: "loc-proxy-config", mountPath: spec.proxy.mountPath, readOnly: true }],
        },
      ],
      // Group-readable for fsGroup; sshd accepts a host key owned by another uid (root, here).
      volumes: [{ name: "loc-proxy-config", secret: { secretName: spec.configName, defaultMode: 0o440 } }],
    },
  };
  const merged = deepMerge(base, spec.overrides ?? {}) as PodManifest;
  // loc's identity wins over anything in the overrides.
  merged.metadata = { ...merged.metadata, name: spec.name, labels: { ...(merged.metadata.labels ?? {}), ...spec.selector, ...proxyLabels(spec) } };
  return merged;
}

function uniqueTargets(ports: readonly PortMapping[]): PortMapping[] {
  const seen = new Set<number>();
  return ports.filter((p) => !seen.has(p.remotePort) && seen.add(p.remotePort));
}

/** Objects merge key by key; anything else (arrays included) is replaced by the override. */
export function deepMerge(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override === undefined ? base : override;
  const result: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) result[key] = deepMerge(base[key], value);
  return result;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
