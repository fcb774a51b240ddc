// Every retry loop of the daemon runs for hours against a cluster that may be down: a listener,
// timer or subscription left behind per cycle is a leak that only shows after days. Each loop here
// runs well over 1,000 failing cycles, and what it holds must stay flat.
import { getEventListeners } from "node:events";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServiceTunnel } from "../../../src/daemon/service-tunnel.js";
import { ExposeSession } from "../../../src/expose/session.js";
import { KubeRequestError } from "../../../src/kube/cluster-port.js";
import { informer } from "../../../src/kube/informer.js";
import { MemoryCluster } from "../../support/memory-cluster.js";
import { MemoryExposeCluster } from "../../support/memory-expose-cluster.js";
import type { ForwardTransport } from "../../../src/transports/transport.js";
import { FakeReverseTransport } from "../../helpers/fake-reverse.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Every AbortSignal that ever got an abort listener, so the live listeners can be counted. */
const signals = new Set<WeakRef<AbortSignal>>();
const tracked = new WeakSet<AbortSignal>();
const originalAdd = EventTarget.prototype.addEventListener;
const warnings: string[] = [];
const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
beforeAll(() => {
  EventTarget.prototype.addEventListener = function (this: EventTarget, type: string, ...rest: unknown[]) {
    if (type === "abort" && this instanceof AbortSignal && !tracked.has(this)) {
      tracked.add(this);
      signals.add(new WeakRef(this));
    }
    return (originalAdd as (...args: unknown[]) => void).call(this, type, ...rest);
  } as typeof originalAdd;
  process.on("warning", onWarning);
});
afterAll(() => {
  EventTarget.prototype.addEventListener = originalAdd;
  process.off("warning", onWarning);
});

function abortListeners(): number {
  let count = 0;
  for (const ref of signals) {
    const signal = ref.deref();
    if (signal === undefined) signals.delete(ref);
    else count += getEventListeners(signal, "abort").length;
  }
  return count;
}

const timers = () => process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function until(check: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Runs `cycles()` past a warm-up, then past 1,000 more failures, and compares what is held: abort
 * listeners and timers the same, the heap within a bound far below what 1,000 leaked closures and
 * their captured state would take.
 */
async function expectFlat(cycles: () => number, whatFails: string): Promise<void> {
  await until(() => cycles() >= 200, `${whatFails}: warm-up`);
  // The heap first: its collection also drops signals that are garbage but not yet collected.
  const heap = heapUsed();
  const before = { heap, listeners: abortListeners(), timers: timers(), at: cycles() };
  await until(() => cycles() >= before.at + 1_200, `${whatFails}: 1,200 more failures`);
  const heapAfter = heapUsed();
  const after = { heap: heapAfter, listeners: abortListeners(), timers: timers() };
  expect(after.listeners, `${whatFails}: abort listeners`).toBeLessThanOrEqual(before.listeners + 2);
  expect(after.timers, `${whatFails}: active timers`).toBeLessThanOrEqual(before.timers + 2);
  expect(after.heap - before.heap, `${whatFails}: heap growth over 1,200 failures`).toBeLessThan(1_000_000);
  expect(warnings).toEqual([]);
}

const TINY_BACKOFF = { baseMs: 0, capMs: 1, resetAfterMs: 60_000 };

describe("retry loops hold nothing per cycle (≥ 1,000 failures each)", () => {
  it("a watch whose list keeps failing", async () => {
    const cluster = new MemoryCluster();
    let failures = 0;
    cluster.list = async () => {
      failures += 1;
      throw new KubeRequestError("connect ECONNREFUSED 127.0.0.1:6443", undefined);
    };
    const subscription = informer({ port: cluster, ref: { path: "/api/v1/services" }, resource: "services", backoff: TINY_BACKOFF }).subscribe();
    try {
      await expectFlat(() => failures, "watch");
    } finally {
      subscription.unsubscribe();
    }
  });

  it("a tunnel whose pod never answers", async () => {
    let opens = 0;
    const transport: ForwardTransport = {
      kind: "forward",
      name: "refusing",
      open: async (_target, signal) => {
        opens += 1;
        // As the real transport does: listen for the caller's abort while the attempt runs.
        const onAbort = () => undefined;
        signal?.addEventListener("abort", onAbort, { once: true });
        await new Promise((resolve) => setImmediate(resolve));
        signal?.removeEventListener("abort", onAbort);
        throw new Error("port-forward refused: HTTP 502");
      },
    };
    const unit = new ServiceTunnel(
      { key: "shop/web", namespace: "shop", service: "shop/web", ip: "127.79.0.2", ports: [{ name: "http", port: 18080 }], names: ["web.shop"] },
      { transport, record: () => undefined, backoff: TINY_BACKOFF },
    );
    await unit.start();
    unit.setEndpoints([{ pod: "web-1", hostname: "web-1", podPorts: { http: 8080 } }]);
    try {
      await expectFlat(() => opens, "tunnel");
    } finally {
      await unit.stop("test over");
    }
  });

  it("an expose whose proxy pod keeps refusing reconnects", async () => {
    const cluster = new MemoryExposeCluster();
    cluster.addNamespace("shop");
    cluster.addService({ metadata: { namespace: "shop", name: "web" }, spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } });
    cluster.addDeployment("shop", "web", 1, { app: "web" });
    const transport = new FakeReverseTransport();
    const session = new ExposeSession(
      { namespace: "shop", name: "web", maps: [], image: "img", user: "abc", runAsUser: 911, sshPort: 2222, readyTimeoutMs: 2_000, connectTimeoutMs: 2_000, localHost: "127.0.0.1" },
      { cluster, transport, owner: "alice.laptop", record: () => undefined, pollMs: 5, backoff: TINY_BACKOFF, sessionId: "leak1" },
    );
    session.start();
    await until(() => session.status().state === "active", "active");
    transport.failConnects = Number.MAX_SAFE_INTEGER;
    transport.current?.lose("connection reset");
    try {
      await expectFlat(() => transport.connectAttempts, "expose reconnect");
    } finally {
      transport.failConnects = 0;
      await session.stop("test over");
    }
  });
});
