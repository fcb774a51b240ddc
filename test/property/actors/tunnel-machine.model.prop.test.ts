import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createActor, fromPromise, SimulatedClock } from "xstate";
import { tunnelMachine, type TunnelEmitted } from "../../../src/actors/tunnel-machine.js";

const PODS = ["web-a", "web-b", "web-c", "web-d"];
const POLICY = { baseMs: 500, capMs: 30_000, resetAfterMs: 60_000 };

type Step =
  | { kind: "endpoints"; pods: string[] }
  | { kind: "probeOk" }
  | { kind: "probeFails" }
  | { kind: "podFailed"; pod: string }
  | { kind: "advance"; ms: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.subarray(PODS).map((pods) => ({ kind: "endpoints" as const, pods })),
  fc.constant({ kind: "probeOk" as const }),
  fc.constant({ kind: "probeFails" as const }),
  fc.constantFrom(...PODS).map((pod) => ({ kind: "podFailed" as const, pod })),
  fc.integer({ min: 1, max: 40_000 }).map((ms) => ({ kind: "advance" as const, ms })),
);

/** Runs the machine with a probe the test settles by hand and a simulated clock. */
function harness() {
  const clock = new SimulatedClock();
  const pending: { pod: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  const machine = tunnelMachine.provide({
    actors: {
      probe: fromPromise<void, { service: string; pod: string }>(
        ({ input }) => new Promise<void>((resolve, reject) => pending.push({ pod: input.pod, resolve, reject })),
      ),
    },
  });
  const actor = createActor(machine, { input: { service: "shop/web", backoff: POLICY, random: () => 0.5 }, clock });
  const emitted: TunnelEmitted[] = [];
  actor.on("*", (event) => emitted.push(event));
  actor.start();
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { clock, pending, actor, settle, emitted };
}

describe("tunnel machine, model-based", () => {
  it("under any order of endpoint changes, probe results and time, stays consistent and never gets stuck", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 40 }), async (steps) => {
        const { clock, pending, actor, settle } = harness();
        let ready: string[] = [];
        for (const step of steps) {
          if (step.kind === "endpoints") {
            ready = [...step.pods].sort();
            actor.send({ type: "endpoints", pods: step.pods });
          } else if (step.kind === "advance") {
            clock.increment(step.ms);
          } else if (step.kind === "podFailed") {
            actor.send({ type: "podFailed", pod: step.pod, error: "connection refused" });
          } else {
            // Only the newest probe matters; older ones belong to exited states and are ignored.
            const probe = pending.pop();
            if (probe && step.kind === "probeOk") probe.resolve();
            else if (probe) probe.reject(new Error("pod refused"));
          }
          await settle();

          const snapshot = actor.getSnapshot();
          const { pod, endpoints, retryInMs } = snapshot.context;
          expect(endpoints).toEqual(ready);
          expect(retryInMs).toBeLessThanOrEqual(POLICY.capMs);
          if (snapshot.matches("waitingForEndpoints")) expect(ready).toEqual([]);
          if (snapshot.matches("connecting") || snapshot.matches("forwarding")) expect(ready).toContain(pod);
          expect(["waitingForEndpoints", "connecting", "forwarding", "backingOff"]).toContain(snapshot.value);
        }

        // Liveness: with a ready pod that answers, the tunnel reaches forwarding to it, from anywhere.
        actor.send({ type: "endpoints", pods: ["web-z"] });
        for (let i = 0; i < 5 && !actor.getSnapshot().matches("forwarding"); i++) {
          clock.increment(POLICY.capMs);
          await settle();
          pending.pop()?.resolve();
          await settle();
        }
        expect(actor.getSnapshot().value).toBe("forwarding");
        expect(actor.getSnapshot().context.pod).toBe("web-z");
        actor.send({ type: "stop", reason: "test over" });
        expect(actor.getSnapshot().status).toBe("done");
      }),
      { numRuns: 150 },
    );
  });

  it("says every state it enters, with the pod it chose, and nothing while it stays", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 40 }), async (steps) => {
        const { clock, pending, actor, settle, emitted } = harness();
        const said = (state: string, pod: string | undefined) => `${state} ${state === "waitingForEndpoints" || state === "backingOff" ? "" : (pod ?? "")}`;
        const sayings = () => emitted.map((e) => said(e.type, "pod" in e ? e.pod : undefined));
        expect(sayings()).toEqual(["waitingForEndpoints "]);
        for (const step of steps) {
          const before = emitted.length;
          const was = said(String(actor.getSnapshot().value), actor.getSnapshot().context.pod);
          if (step.kind === "endpoints") actor.send({ type: "endpoints", pods: step.pods });
          else if (step.kind === "advance") clock.increment(step.ms);
          else if (step.kind === "podFailed") actor.send({ type: "podFailed", pod: step.pod, error: "connection refused" });
          else if (step.kind === "probeOk") pending.pop()?.resolve();
          else pending.pop()?.reject(new Error("pod refused"));
          await settle();
          const snapshot = actor.getSnapshot();
          const now = said(String(snapshot.value), snapshot.context.pod);
          // The last thing said is where it is; a change of state or pod is always said.
          expect(sayings().at(-1)).toBe(now);
          if (now !== was) expect(emitted.length).toBeGreaterThan(before);
          else expect(emitted.length).toBe(before);
          const last = emitted.at(-1);
          if (last?.type === "backingOff") expect(last.delayMs).toBe(snapshot.context.retryInMs);
          expect(snapshot.hasTag("waiting")).toBe(snapshot.matches("waitingForEndpoints"));
          expect(snapshot.hasTag("retrying")).toBe(snapshot.matches("backingOff"));
        }
        actor.send({ type: "stop", reason: "test over" });
        expect(emitted.at(-1)).toEqual({ type: "stopped", reason: "test over" });
      }),
      { numRuns: 200 },
    );
  });

  it("a connection the serving pod cannot take sends it to another ready pod, after backoff; another pod's failure changes nothing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.subarray(PODS, { minLength: 2 }), fc.constantFrom(...PODS), async (ready, other) => {
        const { clock, pending, actor, settle, emitted } = harness();
        actor.send({ type: "endpoints", pods: ready });
        await settle();
        pending.pop()?.resolve();
        await settle();
        const serving = actor.getSnapshot().context.pod ?? "";
        expect(actor.getSnapshot().value).toBe("forwarding");
        if (other !== serving) {
          actor.send({ type: "podFailed", pod: other, error: "late news of a pod it left" });
          expect(actor.getSnapshot().value).toBe("forwarding");
        }
        actor.send({ type: "podFailed", pod: serving, error: "no forward found for port 8080" });
        expect(actor.getSnapshot().value).toBe("backingOff");
        expect(emitted.at(-1)).toMatchObject({ type: "backingOff", error: "no forward found for port 8080" });
        clock.increment(actor.getSnapshot().context.retryInMs);
        await settle();
        expect(actor.getSnapshot().value).toBe("connecting");
        expect(actor.getSnapshot().context.pod).not.toBe(serving);
        expect(ready).toContain(actor.getSnapshot().context.pod);
        actor.send({ type: "stop", reason: "test over" });
      }),
      { numRuns: 100 },
    );
  });
});
