// The expose machine alone, model-based, on a simulated clock: every cluster call, pod watch and
// transport the test settles by hand, in any order, with stops, losses and time in between. The
// machine must announce each phase it enters (and a stop once, at once), end in exactly one
// terminal event, and undo exactly what its recorded intents say it may have changed: the
// Service's selector, then the proxy, then the workloads last-scaled first.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createActor, fromCallback, fromPromise, SimulatedClock, type Actor } from "xstate";
import { EXPOSE_PHASES, exposeMachine, phaseOf, UNDO_ATTEMPTS, type ExposeEvent } from "../../../src/actors/expose-machine.js";
import type { ExposePlan } from "../../../src/expose/resolve.js";
import type { UndoStep } from "../../../src/expose/undo-steps.js";
import type { WorkloadState } from "../../../src/kube/expose-cluster.js";
import type { NewEvent } from "../../../src/store/events.js";

const POLICY = { baseMs: 500, capMs: 30_000, resetAfterMs: 60_000 };
const READY_MS = 20_000;
const CONNECT_MS = 15_000;

type Step =
  | { kind: "settle"; ok: boolean }
  | { kind: "pod"; event: "pod.ready" | "pod.failed" | "pod.pending" }
  | { kind: "lost" }
  | { kind: "stop" }
  | { kind: "advance"; ms: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ kind: "settle" as const, ok: true }) },
  { weight: 1, arbitrary: fc.constant({ kind: "settle" as const, ok: false }) },
  { weight: 3, arbitrary: fc.constant({ kind: "pod" as const, event: "pod.ready" as const }) },
  { weight: 1, arbitrary: fc.constantFrom("pod.failed" as const, "pod.pending" as const).map((event) => ({ kind: "pod" as const, event })) },
  { weight: 1, arbitrary: fc.constant({ kind: "lost" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "stop" as const }) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 40_000 }).map((ms) => ({ kind: "advance" as const, ms })) },
);

const workload = (name: string, replicas: number): WorkloadState => ({ ref: { kind: "Deployment", namespace: "shop", name }, uid: `uid-${name}`, resourceVersion: "1", replicas, annotations: {} });

function planFor(strategy: "scale" | "selector", workloads: number): ExposePlan {
  return {
    service: "shop/web",
    namespace: "shop",
    name: "web",
    selector: { app: "web" },
    strategy,
    target: { name: "web", uid: "uid-svc", resourceVersion: "1", selector: { app: "web" } },
    workloads: strategy === "scale" ? [workload("web", 2), workload("web-canary", 1)].slice(0, workloads) : [],
    ports: [{ name: "", servicePort: 80, remotePort: 8080, localPort: 8080 }],
  };
}

/** The machine with every implementation in the test's hands; intents are handed back as the session does. */
function harness(plan: ExposePlan) {
  const clock = new SimulatedClock();
  const pending: { what: string; settle: (ok: boolean) => void }[] = [];
  const undone: UndoStep[] = [];
  const emitted: NewEvent[] = [];
  const intents: NewEvent[] = [];
  const intent = (action: string, target: string, original?: Record<string, unknown>) => {
    const data = { service: "shop/web", action, target, ...(original ? { original } : {}) };
    intents.push({ type: "expose.intent", data });
    // Like the session: the intent is handed to the machine once recorded (the actor exists by then).
    actor.send({ type: "intent", intent: data });
  };
  const call = <T>(what: string, value: T, intents: () => void = () => undefined) =>
    new Promise<T>((resolve, reject) => {
      // Recorded before the call, like every mutation: counted whether or not the call succeeds.
      intents();
      pending.push({ what, settle: (ok) => (ok ? resolve(value) : reject(new Error(`${what} failed`))) });
    });
  const machine = exposeMachine.provide({
    actors: {
      resolve: fromPromise(() => call("resolve", plan)),
      scaleDown: fromPromise(({ input }) =>
        call<void>("scaleDown", undefined, () => {
          const target = `Deployment/${input.workload.ref.name}`;
          intent("annotate", target, { uid: input.workload.uid });
          intent("scale", target, { uid: input.workload.uid, replicas: input.workload.replicas, to: 0 });
        }),
      ),
      createProxy: fromPromise(() =>
        call("createProxy", { name: "loc-web-s1", uid: "uid-pod" }, () => {
          intent("createConfig", "Secret/loc-web-s1");
          intent("createPod", "Pod/loc-web-s1");
        }),
      ),
      watchPod: fromCallback<ExposeEvent, { pod: string }>(() => undefined),
      connect: fromPromise(() => call<void>("connect", undefined)),
      retarget: fromPromise(() => call<void>("retarget", undefined, () => intent("retarget", "Service/web", { uid: "uid-svc", selector: { app: "web" } }))),
      watchTransport: fromCallback<ExposeEvent, void>(() => undefined),
      podExists: fromPromise(() => call("podExists", true)),
      undo: fromPromise<void, UndoStep>(({ input }) => call<void>("undo", undefined, () => undone.push(input))),
    },
  });
  const actor: Actor<typeof exposeMachine> = createActor(machine, {
    clock,
    input: {
      service: "shop/web",
      about: { sessionId: "s1", podName: "loc-web-s1", image: "img", localHost: "127.0.0.1", transport: { name: "ssh", port: 2222, fingerprint: "SHA256:x" } },
      readyTimeoutMs: READY_MS,
      connectTimeoutMs: CONNECT_MS,
      backoff: POLICY,
      random: () => 0.5,
    },
  });
  actor.on("*", (event) => emitted.push(event));
  actor.start();
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { actor, clock, pending, undone, emitted, intents, settle };
}

/** What the recorded intents say to undo, in order, written out independently of the undo model. */
function expectedUndo(intents: NewEvent[]): string[] {
  const actions = intents.flatMap((e) => (e.type === "expose.intent" ? [e.data] : []));
  const scaled = [...new Set(actions.filter((a) => a.action === "annotate").map((a) => a.target))];
  return [
    ...(actions.some((a) => a.action === "retarget") ? ["restoreSelector Service/web"] : []),
    ...(actions.some((a) => a.action === "createPod" || a.action === "createConfig") ? ["deleteProxy loc-web-s1"] : []),
    ...scaled.reverse().map((target) => `restoreWorkload ${target}`),
  ];
}

const describeStep = (step: UndoStep) =>
  step.kind === "restoreSelector" ? `restoreSelector Service/${step.service.name}` : step.kind === "deleteProxy" ? `deleteProxy ${step.pod}` : `restoreWorkload Deployment/${step.workload.ref.name}`;

describe("expose machine, model-based", () => {
  it("announces every phase, says a stop once, ends once, and undoes exactly what its intents recorded, in order", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("scale" as const, "selector" as const), fc.integer({ min: 0, max: 2 }), fc.array(stepArb, { maxLength: 40 }), async (strategy, workloads, steps) => {
        const { actor, clock, pending, undone, emitted, intents, settle } = harness(planFor(strategy, workloads));
        let stops = 0;
        let firstStop: string | undefined;
        const run = async (step: Step) => {
          const running = actor.getSnapshot().status === "active";
          if (step.kind === "settle") pending.shift()?.settle(step.ok);
          else if (!running) return;
          else if (step.kind === "pod") actor.send(step.event === "pod.pending" ? { type: "pod.pending", reason: "ContainerCreating" } : step.event === "pod.failed" ? { type: "pod.failed", error: "ImagePullBackOff" } : { type: "pod.ready" });
          else if (step.kind === "lost") actor.send({ type: "transport.lost", error: "connection reset" });
          else if (step.kind === "advance") clock.increment(step.ms);
          else {
            stops += 1;
            firstStop ??= `stop ${stops}`;
            actor.send({ type: "stop", reason: `stop ${stops}` });
          }
          await settle();
        };
        for (const step of steps) {
          await run(step);
          const snapshot = actor.getSnapshot();
          expect(EXPOSE_PHASES).toContain(phaseOf(snapshot));
          // Every event is the session's; a terminal one comes last and only once.
          expect(emitted.every((e) => (e.data as { service: string }).service === "shop/web")).toBe(true);
          const terminals = emitted.filter((e) => e.type === "expose.stopped" || e.type === "expose.failed");
          expect(terminals.length).toBe(snapshot.status === "done" ? 1 : 0);
        }

        // Liveness: a stop, then every call succeeds in time: the machine ends.
        await run({ kind: "stop" });
        for (let i = 0; i < 200 && actor.getSnapshot().status !== "done"; i++) {
          await run({ kind: "settle", ok: true });
          if (pending.length === 0) await run({ kind: "advance", ms: POLICY.capMs });
        }
        const end = actor.getSnapshot();
        expect(end.status).toBe("done");
        const last = emitted[emitted.length - 1];
        expect(last?.type).toBe(end.value === "stopped" ? "expose.stopped" : "expose.failed");
        expect(end.context.stopReason).toBe(firstStop);

        // Each phase entered is announced by name; a stop while running is said once, at once.
        const announced = emitted.flatMap((e) => (e.type === "expose.step" ? [e.data.step] : []));
        for (const name of announced) expect([...EXPOSE_PHASES, "stopping"]).toContain(name);
        expect(announced.filter((s) => s === "stopping").length).toBe(firstStop === undefined ? 0 : 1);
        // Once undoing, no phase but a stop is announced.
        if (announced.includes("compensating")) expect(announced.slice(announced.indexOf("compensating") + 1).filter((s) => s !== "stopping")).toEqual([]);

        // Compensation: the recorded intents, undone in the model's order, each step tried at most UNDO_ATTEMPTS times.
        const order = [...new Set(undone.map(describeStep))];
        expect(order).toEqual(expectedUndo(intents));
        for (const step of order) expect(undone.filter((u) => describeStep(u) === step).length).toBeLessThanOrEqual(UNDO_ATTEMPTS);
        // Cleanly stopped only when everything was undone and nothing failed first.
        if (end.value === "stopped") expect(end.context.leftovers).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});
