/**
 * The expose machine's parts, named: actors (implementations provided by the session), actions,
 * guards and delays. The machine's states are in expose-machine.ts.
 */
import { assign, emit, fromCallback, fromPromise, setup } from "xstate";
import { errorMessage } from "../errors.js";
import type { ExposePlan } from "../expose/resolve.js";
import { describeLeftover, foldIntent, undoSteps, type UndoStep } from "../expose/undo-steps.js";
import { backoffDelay } from "../kube/backoff.js";
import type { WorkloadState } from "../kube/expose-cluster.js";
import { classifyConnectError, permanentReason } from "../transports/connect-errors.js";
import { activeEvent, failedEvent, stepEvent, stoppedEvent, undoFailedEvent, type AnnouncedStep } from "./expose-announce.js";
import type { ExposeContext, ExposeEmitted, ExposeEvent, ExposeInput } from "./expose-types.js";

/** Tries per undo step before it is recorded as failed and left to `loc recover`. */
export const UNDO_ATTEMPTS = 4;

const notProvided = (what: string) => () => Promise.reject(new Error(`${what} not provided`));

export const exposeSetup = setup({
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
    /** Closes the live transport session, if any (not a cluster change, so nothing to undo). */
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
});
