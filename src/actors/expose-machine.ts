import { assign, enqueueActions, type SnapshotFrom, type StateValueFrom } from "xstate";
import { NO_CHANGES } from "../expose/undo-steps.js";
import { DEFAULT_BACKOFF } from "../kube/backoff.js";
import { exposeSetup } from "./expose-setup.js";

export type { ExposeContext, ExposeEvent, ExposeInput, SessionFacts } from "./expose-types.js";
export { UNDO_ATTEMPTS } from "./expose-setup.js";

/**
 * One expose session as a saga: resolve → scale each workload down → create the proxy → wait until
 * it is Ready → connect the transport → active. The selector strategy scales nothing: once the
 * transport is up it points the Service at the proxy (retargeting), so traffic never meets a gap.
 * Every mutation is recorded as an intent before it is made; the session hands each intent back as
 * an `intent` event, folded into `changes` by the undo model, so a step that fails or whose outcome
 * is unknown is still undone. Any failure or stop undoes `changes` in the model's order. The
 * machine emits its own events (the stream's `expose.*`); implementations (cluster calls, the
 * transport) are injected with `provide`; timers run on XState's clock (simulated in tests). Live
 * handles (the SSH session) stay outside the context: only plain, persistable data lives here.
 */

/**
 * A stop while a mutation is in flight: said at once, honoured once the mutation has finished (the
 * phase's invoke goes on; its onDone sees `stopRequested`).
 */
const untilMutated = {
  initial: "working",
  states: {
    working: { on: { stop: { target: "stopping", actions: "requestStop" } } },
    stopping: { tags: "stopping", entry: "announceStopping" },
  },
} as const;

export const exposeMachine = exposeSetup.createMachine({
  id: "expose",
  context: ({ input }) => ({
    service: input.service,
    namespace: input.service.split("/")[0] ?? "",
    about: input.about,
    plan: undefined,
    nextWorkload: 0,
    changes: NO_CHANGES,
    undo: [],
    pod: undefined,
    pending: undefined,
    error: undefined,
    hint: undefined,
    stopReason: undefined,
    failure: undefined,
    leftovers: [],
    attempt: 0,
    retryInMs: 0,
    undoAttempt: 0,
    backoff: input.backoff ?? DEFAULT_BACKOFF,
    random: input.random ?? Math.random,
    readyTimeoutMs: input.readyTimeoutMs,
    connectTimeoutMs: input.connectTimeoutMs,
  }),
  initial: "resolving",
  on: { intent: { actions: "foldIntent" } },
  states: {
    // Read-only: a stop here has nothing to undo.
    resolving: {
      entry: { type: "announce", params: { step: "resolving" } },
      invoke: {
        src: "resolve",
        onDone: [
          { guard: "selectorStrategy", target: "creatingProxy", actions: assign({ plan: ({ event }) => event.output }) },
          { target: "scalingDown", actions: assign({ plan: ({ event }) => event.output }) },
        ],
        onError: { target: "failed", actions: "recordError" },
      },
      on: { stop: { target: "stopping", actions: "requestStop" } },
    },
    scalingDown: {
      entry: { type: "announce", params: { step: "scalingDown" } },
      initial: "next",
      states: {
        next: {
          always: [
            { guard: "stopRequested", target: "#expose.compensating" },
            { guard: "allScaled", target: "#expose.creatingProxy" },
            { target: "scaling" },
          ],
        },
        scaling: {
          ...untilMutated,
          invoke: {
            src: "scaleDown",
            input: ({ context }) => ({ workload: context.plan!.workloads[context.nextWorkload]! }),
            onDone: { target: "next", actions: assign({ nextWorkload: ({ context }) => context.nextWorkload + 1 }) },
            onError: { target: "#expose.compensating", actions: ["recordError", "markFailure"] },
          },
        },
      },
    },
    creatingProxy: {
      entry: { type: "announce", params: { step: "creatingProxy" } },
      ...untilMutated,
      invoke: {
        src: "createProxy",
        input: ({ context }) => ({ plan: context.plan!, replacing: context.pod !== undefined }),
        onDone: [
          { guard: "stopRequested", target: "compensating" },
          { target: "waitingReady", actions: assign({ pod: ({ event }) => event.output, pending: undefined }) },
        ],
        onError: { target: "compensating", actions: ["recordError", "markFailure"] },
      },
    },
    waitingReady: {
      entry: { type: "announce", params: { step: "waitingReady" } },
      invoke: { src: "watchPod", input: ({ context }) => ({ pod: context.pod?.name ?? "" }) },
      after: {
        readyTimeout: {
          target: "compensating",
          actions: [
            assign({ error: ({ context }) => `proxy pod ${context.pod?.name} was not Ready after ${context.readyTimeoutMs / 1000} s${context.pending ? `: ${context.pending}` : ""}` }),
            "markFailure",
          ],
        },
      },
      on: {
        "pod.ready": "establishing",
        "pod.pending": { actions: assign({ pending: ({ event }) => event.reason }) },
        "pod.failed": { target: "compensating", actions: [assign({ error: ({ context, event }) => `proxy pod ${context.pod?.name} cannot start: ${event.error}` }), "markFailure"] },
        stop: { target: "stopping", actions: "requestStop" },
      },
    },
    // The first connection: bounded by connectTimeout, then the expose fails and is undone.
    establishing: {
      entry: { type: "announce", params: { step: "establishing" } },
      initial: "connecting",
      after: {
        connectTimeout: {
          target: "compensating",
          actions: [assign({ error: ({ context }) => `could not connect to the proxy pod within ${context.connectTimeoutMs / 1000} s: ${context.error ?? "no answer"}` }), "markFailure"],
        },
      },
      on: { stop: { target: "stopping", actions: "requestStop" } },
      states: {
        connecting: {
          invoke: {
            src: "connect",
            input: ({ context }) => ({ pod: context.pod?.name ?? "", plan: context.plan! }),
            onDone: [
              { guard: "mustRetarget", target: "#expose.retargeting", actions: "resetAttempts" },
              { target: "#expose.active", actions: "resetAttempts" },
            ],
            onError: [
              // Every retry would be refused the same way: fail now rather than after the timeout.
              { guard: "permanentConnectError", target: "#expose.compensating", actions: ["recordError", "recordPermanentConnectError", "markFailure"] },
              { target: "retrying", actions: "recordError" },
            ],
          },
        },
        retrying: { entry: "scheduleRetry", after: { retryDelay: "connecting" } },
      },
    },
    // Selector strategy: the tunnel is up, now the Service's endpoints become the proxy pod.
    retargeting: {
      entry: { type: "announce", params: { step: "retargeting" } },
      ...untilMutated,
      invoke: {
        src: "retarget",
        input: ({ context }) => ({ plan: context.plan! }),
        onDone: [{ guard: "stopRequested", target: "compensating" }, { target: "active" }],
        onError: { target: "compensating", actions: ["recordError", "markFailure"] },
      },
    },
    active: {
      entry: "announceActive",
      invoke: { src: "watchTransport" },
      after: { stableAfter: { actions: "resetAttempts" } },
      on: {
        "transport.lost": { target: "reconnecting", actions: assign({ error: ({ event }) => event.error }) },
        stop: { target: "stopping", actions: "requestStop" },
      },
    },
    // After a loss: retry forever with capped backoff, unless a retry cannot help; the pod is
    // recreated only if it is gone.
    reconnecting: {
      entry: { type: "announce", params: { step: "reconnecting" } },
      initial: "retrying",
      on: { stop: { target: "stopping", actions: "requestStop" } },
      states: {
        retrying: {
          entry: "scheduleRetry",
          after: { retryDelay: "checkingPod" },
        },
        checkingPod: {
          invoke: {
            src: "podExists",
            input: ({ context }) => ({ pod: context.pod?.name ?? "" }),
            onDone: [{ guard: "podExists", target: "connecting" }, { target: "#expose.creatingProxy" }],
            onError: { target: "retrying", actions: "recordError" },
          },
        },
        connecting: {
          invoke: {
            src: "connect",
            input: ({ context }) => ({ pod: context.pod?.name ?? "", plan: context.plan! }),
            onDone: "#expose.active",
            onError: [
              // The proxy answered once with this session's keys; now it refuses them or shows another
              // host key: the pod was replaced by something else, or someone is in the middle. Retrying
              // forever would keep the workload scaled down while nobody serves it, so the session
              // fails and is undone, naming why.
              { guard: "permanentConnectError", target: "#expose.compensating", actions: ["recordError", "recordPermanentConnectError", "markFailure"] },
              { target: "retrying", actions: "recordError" },
            ],
          },
        },
      },
    },
    // A stop that can act at once: said, then undone (nothing to undo before the plan is resolved).
    stopping: {
      tags: "stopping",
      entry: "announceStopping",
      always: [{ guard: "nothingResolved", target: "stopped" }, { target: "compensating" }],
    },
    compensating: {
      entry: ["planUndo", { type: "announce", params: { step: "compensating" } }],
      initial: "undoing",
      // A stop while undoing a failure is said, and changes nothing: the undo runs to the end either way.
      on: { stop: { guard: "noStopYet", actions: ["requestStop", "announceStopping"] } },
      states: {
        undoing: {
          // The tunnel stays up while the Service still points at the proxy: its clients keep being
          // served until the selector is back, then the transport closes before the proxy goes.
          entry: enqueueActions(({ context, enqueue }) => {
            if (context.undo[0]?.kind !== "restoreSelector") enqueue("closeTransport");
          }),
          always: { guard: "nothingToUndo", target: "#expose.finishing" },
          invoke: {
            src: "undo",
            input: ({ context }) => context.undo[0]!,
            onDone: { target: "undoing", reenter: true, actions: "popUndo" },
            onError: [
              // A transient API error must not leave a workload at 0: try again after a backoff.
              { guard: "undoRetriesLeft", target: "retryingUndo", actions: assign({ undoAttempt: ({ context }) => context.undoAttempt + 1 }) },
              {
                target: "undoing",
                reenter: true,
                actions: ["undoFailed", "noteLeftover", "popUndo"],
              },
            ],
          },
        },
        retryingUndo: { after: { undoRetryDelay: "undoing" } },
      },
    },
    finishing: { always: [{ guard: "stoppedCleanly", target: "stopped" }, { target: "failed" }] },
    stopped: { type: "final", entry: "announceStopped" },
    failed: { type: "final", entry: "announceFailed" },
  },
});

/** The machine's phases (its top-level states), derived from it. */
export type ExposePhase = TopLevel<StateValueFrom<typeof exposeMachine>>;
type TopLevel<V> = V extends string ? V : keyof V & string;

export const EXPOSE_PHASES = Object.keys(exposeMachine.root.states) as ExposePhase[];

export function phaseOf(snapshot: SnapshotFrom<typeof exposeMachine>): ExposePhase {
  return EXPOSE_PHASES.find((phase) => snapshot.matches(phase)) ?? "resolving";
}
