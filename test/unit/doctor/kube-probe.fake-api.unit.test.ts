// `loc doctor` through the real CLI and the real client-node probe, against a small fake API
// server: the questions it asks (SelfSubjectAccessReviews), how failures read, and that the
// kubeconfig's token is sent but never printed. (client-node speaks plain HTTP only with
// insecure-skip-tls-verify.)
import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loc } from "../../helpers/run-cli.js";
import { tempDir } from "../../helpers/temp.js";

const TOKEN = "eyJhbGciOiJSUzI1NiJ9.doctor-test-secret";

interface Attributes {
  verb: string;
  resource: string;
  group?: string;
  subresource?: string;
  namespace?: string;
}

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** Answers /version and SelfSubjectAccessReviews for TOKEN; denies `verb resource[/sub]@ns` keys in `denied`. */
async function fakeApiServer(denied: string[] = []): Promise<{ url: string; asked: Attributes[] }> {
  const asked: Attributes[] = [];
  server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const send = (status: number, value: unknown) => response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
      if (request.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { kind: "Status", code: 401, message: "Unauthorized" });
      if (request.method === "GET" && request.url === "/version") return send(200, { gitVersion: "v1.36.3" });
      if (request.method === "POST" && request.url === "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") {
        const review = JSON.parse(body) as { spec: { resourceAttributes: Attributes } };
        const attributes = review.spec.resourceAttributes;
        asked.push(attributes);
        const key = `${attributes.verb} ${attributes.resource}${attributes.subresource ? `/${attributes.subresource}` : ""}@${attributes.namespace ?? ""}`;
        return send(201, { ...review, status: { allowed: !denied.includes(key) } });
      }
      send(404, { kind: "Status", code: 404 });
    })();
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked };
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => resolve(body));
  });
}

function kubeconfigFor(dir: string, server: string, token = TOKEN): string {
  const path = join(dir, "kubeconfig");
  writeFileSync(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters: [{ name: fake, cluster: { server: " + JSON.stringify(server) + ", insecure-skip-tls-verify: true } }]",
      "users: [{ name: dev-user, user: { token: " + JSON.stringify(token) + " } }]",
      "contexts: [{ name: fake-ctx, context: { cluster: fake, user: dev-user } }]",
      "current-context: fake-ctx",
      "",
    ].join("\n"),
  );
  return path;
}

/** `loc doctor` with a hosts file and state dir of the test's own. */
async function doctor(dir: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const hosts = join(dir, "hosts");
  writeFileSync(hosts, "127.0.0.1 localhost\n");
  return loc(["doctor", "--hosts-file", hosts, "--state-dir", join(dir, "state"), ...args], env);
}

describe("loc doctor with the real kubeconfig loader and client", () => {
  it("asks one SelfSubjectAccessReview per permission in each -n namespace and names what is missing", async () => {
    const dir = tempDir();
    const api = await fakeApiServer(["update statefulsets/scale@pay", "watch endpointslices@pay"]);
    const { code, stdout } = await doctor(dir, ["--kubeconfig", kubeconfigFor(dir, api.url), "-n", "shop", "-n", "pay"]);
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toBe(`✓ kubeconfig: ${join(dir, "kubeconfig")}, context fake-ctx (cluster fake at ${api.url}, user dev-user)`);
    expect(lines[1]).toMatch(/^✓ api server: .* answered in \d+ ms \(Kubernetes v1\.36\.3\)$/);
    expect(lines).toContain("✓ daemon: has the 5 permissions it needs in shop");
    expect(lines).toContain("✗ daemon: cannot watch endpointslices in pay (hint: kubectl auth can-i watch endpointslices.discovery.k8s.io -n pay)");
    expect(lines).toContain("✗ expose: cannot update statefulsets/scale in pay (hint: kubectl auth can-i update statefulsets.apps --subresource=scale -n pay)");
    expect(api.asked).toHaveLength(2 * (5 + 18));
    expect(api.asked).toContainEqual({ verb: "create", resource: "pods", group: "", subresource: "portforward", namespace: "shop" });
    expect(api.asked).toContainEqual({ verb: "watch", resource: "endpointslices", group: "discovery.k8s.io", namespace: "pay" });
    expect(stdout).toContain(`✗ socket: no loc daemon is running (no socket at ${join(dir, "state", "daemon.sock")})`);
    expect(stdout).not.toContain(TOKEN);
    expect(code).toBe(1);
  });

  it("without -n asks about all namespaces (namespace \"\")", async () => {
    const dir = tempDir();
    const api = await fakeApiServer();
    const { stdout } = await doctor(dir, ["--kubeconfig", kubeconfigFor(dir, api.url), "--json"]);
    const report = JSON.parse(stdout) as { checks: { name: string; ok: unknown; detail: string }[] };
    expect(report.checks.filter((c) => c.name === "expose")).toEqual([{ name: "expose", ok: true, detail: "has the 18 permissions it needs in all namespaces" }]);
    expect(new Set(api.asked.map((a) => a.namespace ?? ""))).toEqual(new Set([""]));
  });

  it("says a 401 is the credentials, and prints no token", async () => {
    const dir = tempDir();
    const api = await fakeApiServer();
    const wrong = "eyJhbGciOiJSUzI1NiJ9.a-wrong-secret";
    const { code, stdout } = await doctor(dir, ["--kubeconfig", kubeconfigFor(dir, api.url, wrong), "--json"]);
    expect(stdout).toContain(`${api.url} rejected the credentials (401 Unauthorized)`);
    expect(stdout).not.toContain(wrong);
    expect(api.asked).toEqual([]);
    expect(code).toBe(1);
  });

  it("says a refused connection is ECONNREFUSED", async () => {
    const dir = tempDir();
    const api = await fakeApiServer();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    server = undefined;
    const { stdout } = await doctor(dir, ["--kubeconfig", kubeconfigFor(dir, api.url)]);
    expect(stdout).toContain(`✗ api server: ${api.url} refused the connection (ECONNREFUSED) (hint: is the cluster running?`);
  });

  it("without any kubeconfig it says where it looked, and never falls back to localhost:8080", async () => {
    const dir = tempDir();
    const { code, stdout } = await doctor(dir, [], { HOME: dir });
    expect(stdout.split("\n")[0]).toBe(`✗ kubeconfig: kubeconfig ${join(dir, ".kube", "config")} does not exist (hint: pass --kubeconfig PATH, or set KUBECONFIG)`);
    expect(stdout).not.toContain("api server");
    expect(code).toBe(1);
  });

  it("an unknown --context is one ✗ line naming the contexts there are", async () => {
    const dir = tempDir();
    const api = await fakeApiServer();
    const { stdout } = await doctor(dir, ["--kubeconfig", kubeconfigFor(dir, api.url), "--context", "nope"]);
    expect(stdout.split("\n")[0]).toBe('✗ kubeconfig: no context "nope" in the kubeconfig (hint: contexts: fake-ctx)');
  });
});
