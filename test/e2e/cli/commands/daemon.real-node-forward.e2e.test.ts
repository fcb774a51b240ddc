// `loc daemon` forwarding to pods that run in real containers on the real node (ADR 0012), through
// the API server and a real kubelet's port-forward (containerd's streaming server), with each
// forward transport: bytes round-trip intact, traffic follows a replaced pod, a connection the pod
// resets mid-body fails alone, and a ready pod whose port nothing listens on is not called forwarding.
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, createNamespace, deleteNamespace, NotYet, waitFor, type Kube } from "../../../cluster/helpers.js";
import { startDaemonProcess, type DaemonProcess } from "../../fixtures/daemon-process.js";
import { deployApp, ensureRealNode, waitForAppPods } from "../../fixtures/real-node.js";

/** Every forward transport `loc daemon --transport` offers. */
const TRANSPORTS = ["spdy", "websocket"] as const;
const TEN_MB = 10 * 1024 * 1024;

interface Reply {
  status: number;
  body: Buffer;
}

function request(ip: string, path: string, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: ip, port: 80, path, method: body ? "POST" : "GET", agent: false, headers: { connection: "close" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => (res.complete ? resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }) : reject(new Error(`${path}: response ended early`))));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** The app's /bytes pattern (test/cluster/real-node/images/app). */
function pattern(n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + 7) % 251;
  return out;
}

describe("loc daemon against real containers on the real node", () => {
  let kube: Kube;
  let namespace: string;

  beforeAll(async () => {
    await ensureRealNode();
    kube = connect(inject("kubeconfig"));
    namespace = await createNamespace(kube, "real-fwd");
    await deployApp(kube, namespace, "web");
    // The same ready pods, on a port nothing in them listens on.
    await kube.core.createNamespacedService({ namespace, body: { metadata: { name: "deaf" }, spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: 9 as never }] } } });
    await waitForAppPods(kube, namespace, "web", 1);
  }, 300_000);

  afterAll(async () => {
    if (namespace) await deleteNamespace(kube, namespace);
  });

  describe.each(TRANSPORTS.map((transport, index) => ({ transport, index })))("--transport $transport", ({ transport, index }) => {
    let daemon: DaemonProcess;
    let ip = "";
    const tunnel = async () => (await daemon.list()).tunnels.find((t) => t.key === `${namespace}/web`);

    beforeAll(async () => {
      daemon = await startDaemonProcess(["-n", namespace, "--ip-range", `127.43.${index}.0/24`, "--transport", transport], inject("kubeconfig"));
      const forwarding = await waitFor("web forwarding", async () => ((await tunnel())?.state === "forwarding" ? await tunnel() : undefined), { timeoutMs: 60_000 });
      ip = forwarding?.ip ?? "";
    }, 120_000);

    afterAll(async () => {
      if (daemon) await daemon.stop();
    });

    it("a ready pod whose port nothing listens on: the tunnel says the kubelet's refusal, never forwarding", async () => {
      const deaf = await waitFor(
        "deaf backing off",
        async () => {
          const t = (await daemon.list()).tunnels.find((x) => x.key === `${namespace}/deaf`);
          if (t?.state === "backingOff" && t.reason) return t;
          throw new NotYet(`deaf: ${t?.state ?? "no tunnel"} ${t?.reason ?? ""}`);
        },
        { timeoutMs: 30_000 },
      );
      // containerd's streaming server dialled port 9 in the pod's network namespace and was refused.
      expect(deaf.reason).toBe("port-forward: nothing listens on the pod's port 9 (connection refused)");
      const story = await daemon.history(["--service", `${namespace}/deaf`, "--type", "tunnel.*"]);
      expect(story.map((e) => e.type)).not.toContain("tunnel.forwarding");
      expect(story.map((e) => e.type)).toContain("tunnel.backingOff");
    });

    it("round-trips 10 MB byte-identical each way", async () => {
      const pod = (await tunnel())?.pod ?? "";
      expect((await request(ip, "/")).body.toString()).toBe(`app ${pod}\n`);
      const sent = randomBytes(TEN_MB);
      const echoed = await request(ip, "/echo", sent);
      expect(echoed.body.length).toBe(TEN_MB);
      expect(sha256(echoed.body)).toBe(sha256(sent));
      const downloaded = await request(ip, `/bytes?n=${TEN_MB}`);
      expect(sha256(downloaded.body)).toBe(sha256(pattern(TEN_MB)));
    });

    it("a connection the pod resets mid-body fails alone", async () => {
      // A long download stays open across the reset on the same tunnel (the same pod session for spdy).
      const bystander = request(ip, `/bytes?n=${4 * TEN_MB}`);
      await expect(request(ip, "/reset")).rejects.toThrow();
      expect((await request(ip, "/")).status).toBe(200);
      expect(sha256((await bystander).body)).toBe(sha256(pattern(4 * TEN_MB)));
      expect((await tunnel())?.state).toBe("forwarding");
    });

    it("moves to the new pod when the serving pod is deleted", async () => {
      const before = (await tunnel())?.pod ?? "";
      await kube.core.deleteNamespacedPod({ namespace, name: before, gracePeriodSeconds: 0 });
      const [replacement] = await waitForAppPods(kube, namespace, "web", 1);
      const newPod = replacement?.metadata?.name ?? "";
      expect(newPod).not.toBe(before);
      const reply = await waitFor("a reply from the new pod", async () => {
        const text = (await request(ip, "/").catch(() => undefined))?.body.toString();
        return text === `app ${newPod}\n` ? text : undefined;
      }, { timeoutMs: 30_000, intervalMs: 250 });
      expect(reply).toBe(`app ${newPod}\n`);
      expect((await tunnel())?.pod).toBe(newPod);
    });
  });
});
