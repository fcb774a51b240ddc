import { describe, expect, it } from "vitest";
import { withoutBookkeeping } from "../../../src/kube/kube-watch-port.js";

describe("withoutBookkeeping", () => {
  it("drops managedFields and kubectl's last-applied copy, and keeps everything loc reads", () => {
    const service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "web",
        namespace: "shop",
        resourceVersion: "42",
        labels: { app: "web" },
        annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"v1\"}", "loc.dev/owner": "alice.laptop" },
        managedFields: [{ manager: "kubectl", operation: "Apply", fieldsV1: { "f:spec": {} } }],
      },
      spec: { selector: { app: "web" }, ports: [{ port: 80 }] },
    };
    expect(withoutBookkeeping(service)).toEqual({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web", namespace: "shop", resourceVersion: "42", labels: { app: "web" }, annotations: { "loc.dev/owner": "alice.laptop" } },
      spec: { selector: { app: "web" }, ports: [{ port: 80 }] },
    });
  });

  it("leaves objects without metadata (a watch's ERROR status) alone", () => {
    const status = { kind: "Status", code: 410, reason: "Expired" };
    expect(withoutBookkeeping(status)).toEqual({ kind: "Status", code: 410, reason: "Expired" });
  });
});
