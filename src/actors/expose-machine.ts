import { assign, emit, enqueueActions, fromCallback, fromPromise, setup, type SnapshotFrom, type StateValueFrom } from "xstate";
import { errorMessage } from "../errors.js";
import type { ExposePlan } from "../expose/resolve.js";
import { describeLeftover, foldIntent, NO_CHANGES, undoSteps, type UndoStep } from "../expose/undo-steps.js";
import { backoffDelay, DEFAULT_BACKOFF } from "../kube/backoff.js";
import type { WorkloadState } from "../kube/expose-cluster.js";
import { classifyConnectError, permanentReason } from "../transports/connect-errors.js";
import { activeEvent, failedEvent, stepEvent, stoppedEvent, undoFailedEvent, type AnnouncedStep } from "./expose-announce.js";
import type { ExposeContext, ExposeEmitted, ExposeEvent, ExposeInput } from "./expose-types.js";

export type { ExposeContext, ExposeEvent, ExposeInput, SessionFacts } from "./expose-types.js";

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

/** Tries per undo step before it is recorded as failed and left to `loc recover`. */
export const UNDO_ATTEMPTS = 4;

const notProvided = (what: string) => () => Promise.reject(new Error(`${what} not provided`));

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

export const exposeMachine = setup({
  types: { context: {} as ExposeContext, events: {} as ExposeEvent, input: {} as ExposeInput, emitted: {} as ExposeEmitted, tags: {} as "stopping" },
  actors: {
    resolve: fromPromise<ExposePlan, void>(notProvided("resolve")),
    scaleDown: fromPromise<void, { workload: WorkloadState }>(notProvided("scaleDown")),
    /** `replacing`: a previous proxy pod of this session existed (a recreation after it was lost). */
    createProxy: fromPromise<{ name: string; uid: string }, { plan: ExposePlan; replacing: boolean }>(notProvided("createProxy")),
    /** Sends pod.ready, pod.pending (with why) or pod.failed (a state that will not heal, e.g. ImagePullBackOff). */
    watchPod: fromCallback<ExposeEvent, { pod: string }>(() => undefined),
    connect: fromPromise<void, { pod: string; plan: ExposePlan }>(notProvided("connect")),
    retarget: fromPromise<void, { plan: ExposePlan }>(notProvided("retarget")),
    /** Sends transport.lost when the live session ends by itself. */
    watchTransport: fromCallback<ExposeEvent, void>(() => undefined),
    podExists: fromPromise<boolean, { pod: string }>(notProvided("podExists")),
    undo: fromPromise<void, UndoStep>(notProvided("undo")),
  },
  actions: {
    /** A new phase began: said (and so recorded and shown) before any of its steps run. */
    announce: emit(({ context }, params: { step: AnnouncedStep }) => stepEvent(params.step, context)),
    announceStopping: emit(({ context }) => stepEvent("stopping", context)),
    announceActive: emit(({ context }) => activeEvent(context)),
    announceStopped: emit(({ context }) => stoppedEvent(context)),
    announceFailed: emit(({ context }) => failedEvent(context)),
    /** Closes the live transport session, if any (not a cluster mutation, so not on the undo stack). */
    closeTransport: () => undefined,
    /** Says which undo step failed; compensation goes on with the next one. */
    undoFailed: emit(({ context, event }) => undoFailedEvent(context, context.undo[0], (event as { error?: unknown }).error)),
    foldIntent: assign({ changes: ({ context, event }) => (event.type === "intent" ? foldIntent(context.changes, event.intent, context.namespace) : context.changes) }),
    planUndo: assign({ undo: ({ context }) => undoSteps(context.changes) }),
    recordError: assign(({ event }) => {
      const error = (event as { error?: unknown }).error;
      const hint = (error as { hint?: unknown } | undefined)?.hint;
      return { error: errorMessage(error), hint: typeof hint === "string" ? hint : undefined };
    }),
    /** A connect failure no retry can fix: said as such, with the transport's reason. */
    recordPermanentConnectError: assign(({ event }) => {
      const error = (event as { error?: unknown }).error;
      return { error: `could not connect to the proxy pod (${permanentReason(error) ?? "permanent"} failure, not retried): ${errorMessage(error)}` };
    }),
    /** The error just recorded failed the session, unless a stop already ended it. */
    markFailure: assign({ failure: ({ context }) => context.failure ?? (context.stopReason === undefined ? (context.error ?? "unknown error") : undefined) }),
    noteLeftover: assign({
      leftovers: ({ context, event }) => {
        const step = context.undo[0];
        const what = step ? describeLeftover(step) : "undo not finished";
        return [...context.leftovers, `${what}: ${errorMessage((event as { error?: unknown }).error)}`];
      },
    }),
    requestStop: assign({ stopReason: ({ context, event }) => context.stopReason ?? (event.type === "stop" ? event.reason : "stopped") }),
    popUndo: assign({ undo: ({ context }) => context.undo.slice(1), undoAttempt: 0 }),
    /** Every retry, first connection or reconnect, waits a full-jitter backoff that grows with the attempts. */
    scheduleRetry: assign(({ context }) => ({ retryInMs: backoffDelay(context.attempt, context.backoff, context.random), attempt: context.attempt + 1 })),
    resetAttempts: assign({ attempt: 0 }),
  },
  guards: {
    stopRequested: ({ context }) => context.stopReason !== undefined,
    noStopYet: ({ context }) => context.stopReason === undefined,
    allScaled: ({ context }) => context.nextWorkload >= (context.plan?.workloads.length ?? 0),
    /** The resolved plan takes the traffic over by the Service's selector, not by scaling. */
    selectorStrategy: ({ event }) => (event as { output?: ExposePlan }).output?.strategy === "selector",
    /** Connected for the first time under the selector strategy: the Service is not pointed here yet. */
    mustRetarget: ({ context }) => context.plan?.strategy === "selector" && context.changes.services.length === 0,
    nothingResolved: ({ context }) => context.plan === undefined,
    nothingToUndo: ({ context }) => context.undo.length === 0,
    stoppedCleanly: ({ context }) => context.stopReason !== undefined && context.failure === undefined && context.leftovers.length === 0,
    undoRetriesLeft: ({ context }) => context.undoAttempt + 1 < UNDO_ATTEMPTS,
    podExists: ({ event }) => (event as { output?: unknown }).output === true,
    /** A refused key, a host key that is not the pinned one, no common protocol, RBAC saying no. */
    permanentConnectError: ({ event }) => classifyConnectError((event as { error?: unknown }).error) === "permanent",
  },
  delays: {
    readyTimeout: ({ context }) => context.readyTimeoutMs,
    connectTimeout: ({ context }) => context.connectTimeoutMs,
    retryDelay: ({ context }) => context.retryInMs,
    undoRetryDelay: ({ context }) => backoffDelay(context.undoAttempt, context.backoff, context.random),
    stableAfter: ({ context }) => context.backoff.resetAfterMs,
  },
}).createMachine({
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
