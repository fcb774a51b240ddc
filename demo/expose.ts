// `loc expose shop/api --strategy selector --detach`: the Service's selector moves to loc's proxy
// pod, whose sshd carries the traffic back to a server on this laptop. kwok runs no containers, so
// the proxy pod's sshd is played by a real local sshd (the e2e tests' playProxyPod).
import os from "node:os";
import type { Kube } from "../test/cluster/helpers.js";
import { kwokPlacement } from "../test/cluster/helpers.js";
import { playProxyPod } from "../test/e2e/fixtures/expose-fixture.js";
import { startReplyServer } from "./http.js";
import type { DemoPorts } from "./prerequisites.js";
import { NAMESPACE } from "./sample-app.js";
import { onTeardown } from "./teardown.js";
import { say } from "./transcript.js";

export const LAPTOP_REPLY = "hello from your laptop\n";

type ShowLoc = (args: string[], note?: string) => Promise<string>;

export async function exposeToLaptop(kube: Kube, ports: DemoPorts, showLoc: ShowLoc): Promise<void> {
  const laptop = await startReplyServer(LAPTOP_REPLY, ports.laptop);
  onTeardown("the laptop's server", async () => (await laptop.stop(), `stopped the laptop's server (127.0.0.1:${laptop.port})`));
  say(`the laptop's app: an HTTP server on 127.0.0.1:${laptop.port} answering "${LAPTOP_REPLY.trim()}"`);

  // detached: a Ctrl-C must not kill sshd before the teardown has ended its sessions.
  const played = playProxyPod(kube, NAMESPACE, "api", [ports.apiPod], { detached: true }).then((proxy) => {
    onTeardown(`the sshd playing proxy pod ${proxy.pod}`, async () => (await proxy.stop(), `stopped the sshd playing proxy pod ${proxy.pod} (127.0.0.1:${proxy.sshd.port})`));
    return proxy;
  });
  // Observed below; a failed expose must not also surface as an unhandled rejection.
  played.catch(() => undefined);
  const placement = { spec: { nodeSelector: kwokPlacement.nodeSelector, tolerations: kwokPlacement.tolerations } };
  await showLoc(
    [
      "expose", `${NAMESPACE}/api`, "--strategy", "selector", "--detach", "--map", `${laptop.port}:8080`,
      "--ssh-user", os.userInfo().username, "--overrides", JSON.stringify(placement),
    ],
    "--ssh-user and --overrides only because the demo's proxy pod lands on the kwok node and its sshd is a local one",
  );
  await played;
}
