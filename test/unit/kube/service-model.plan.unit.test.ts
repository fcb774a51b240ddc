import { describe, expect, it } from "vitest";
import { describePorts, planService, sliceServiceKey, type EndpointSliceObject, type ServiceObject } from "../../../src/kube/service-model.js";

const service = (spec: ServiceObject["spec"]): ServiceObject => ({ metadata: { namespace: "shop", name: "web" }, spec });
const slice = (endpoints: EndpointSliceObject["endpoints"], ports: EndpointSliceObject["ports"]): EndpointSliceObject => ({
  metadata: { namespace: "shop", name: "web-abc", labels: { "kubernetes.io/service-name": "web" } },
  addressType: "IPv4",
  ports,
  endpoints,
});
const pod = (name: string, ready: boolean | undefined = true, hostname?: string) => ({
  addresses: ["10.0.0.1"],
  hostname,
  conditions: { ready },
  targetRef: { kind: "Pod", name, namespace: "shop" },
});

describe("planService", () => {
  it("resolves named and numeric target ports from the slices, keeping only ready pod endpoints", () => {
    const plan = planService(
      service({
        clusterIP: "10.96.0.5",
        ports: [
          { name: "http", port: 80, targetPort: "web" },
          { name: "admin", port: 9000, targetPort: 9090 },
          { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
        ],
      }),
      [slice([pod("web-2"), pod("web-1"), pod("web-3", false), { addresses: ["10.0.0.9"], conditions: { ready: true } }], [
        { name: "http", port: 8080 },
        { name: "admin", port: 9090 },
      ])],
    );
    expect(plan).toMatchObject({ kind: "clusterIP", ports: [{ name: "http", port: 80 }, { name: "admin", port: 9000 }], unsupportedPorts: ["53/udp"] });
    if (plan.kind === "skipped") throw new Error("unexpected");
    expect(plan.endpoints.map((e) => e.pod)).toEqual(["web-1", "web-2"]);
    expect(describePorts(plan.ports, plan.endpoints[0])).toEqual(["80->8080/tcp", "9000->9090/tcp"]);
    expect(sliceServiceKey(slice([], []))).toBe("shop/web");
  });

  it("marks headless services and keeps StatefulSet hostnames", () => {
    const plan = planService(service({ clusterIP: "None", ports: [{ port: 5432, targetPort: 5432 }] }), [
      slice([pod("db-0", true, "db-0"), pod("db-1", undefined, "db-1")], [{ port: 5432 }]),
    ]);
    expect(plan).toMatchObject({ kind: "headless", endpoints: [{ pod: "db-0", hostname: "db-0", podPorts: { "": 5432 } }, { pod: "db-1" }] });
  });

  it("skips ExternalName and UDP-only services with a reason", () => {
    expect(planService(service({ type: "ExternalName", externalName: "db.example.com" }), [])).toMatchObject({
      kind: "skipped",
      reason: expect.stringMatching(/^ExternalName service \(resolves to db.example.com/),
    });
    expect(planService(service({ ports: [{ port: 53, protocol: "UDP" }] }), [])).toMatchObject({ kind: "skipped", reason: expect.stringMatching(/no TCP ports \(53\/udp\)/) });
  });
});
