import { assign, enqueueActions, fromCallback, fromPromise, setup } from "xstate";
import { errorMessage } from "../errors.js";
import type { ExposePlan } from "../expose/resolve.js";
import { serviceTarget, type RecordedService } from "../expose/selector.js";
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from "../kube/backoff.js";
import type { WorkloadState } from "../kube/expose-cluster.js";
import { classifyConnectError, permanentReason } from "../transports/connect-errors.js";

/**
 * One expose session as a saga: resolve → scale each workload down → create the proxy → wait until
 * it is Ready → connect the transport → active. The selector strategy scales nothing: once the
 * transport is up it points the Service at the proxy (retargeting), so traffic never meets a gap.
 * Every mutating step first pushes its undo onto `undo` (before it runs, so a step that fails or
 * whose outcome is unknown is still undone), and any failure or stop runs the stack in reverse. Implementations (cluster calls, transport, recording)
 * are injected with `provide`; timers run on XState's clock (simulated in tests). Live handles (the
 * SSH session) stay outside the context: only plain, persistable data lives here.
 */
export type UndoStep = { kind: "restoreWorkload"; workload: WorkloadState } | { kind: "deleteProxy"; pod: string } | { kind: "restoreSelector"; service: RecordedService };

/** What an undo step puts back, for warnings and leftovers. */
export function describeUndoStep(step: UndoStep | undefined, podName: string): string {
  switch (step?.kind) {
    case "restoreWorkload":
      return `restore ${step.workload.ref.kind}/${step.workload.ref.name}`;
    case "restoreSelector":
      return `restore ${serviceTarget(step.service.name)}'s selector`;
    default:
      return `delete proxy ${podName}`;
  }
}

export interface ExposeContext {
  service: string;
  plan: ExposePlan | undefined;
  /** Index of the next workload to scale down. */
  nextWorkload: number;
  undo: UndoStep[];
  pod: { name: string; uid: string } | undefined;
  /** Why the proxy pod is not Ready yet, for the timeout message. */
  pending: string | undefined;
  error: string | undefined;
  /** The hint of a LocError that failed the session (a refusal while resolving), for the CLI. */
  hint: string | undefined;
  /** Set by a stop that arrives while a mutation is in flight; honoured once it has finished. */
  stopReason: string | undefined;
  /** What failed the session (a stop that came first is not overridden by it, nor the reverse). */
  failure: string | undefined;
  /** Undo steps that failed every try: what is still changed in the cluster. */
  leftovers: string[];
  attempt: number;
  retryInMs: number;
  /** Failed tries of the undo step on top of the stack; it is retried before it is given up. */
  undoAttempt: number;
  backoff: BackoffPolicy;
  random: () => number;
  readyTimeoutMs: number;
  connectTimeoutMs: number;
}

export type ExposeEvent =
  | { type: "stop"; reason: string }
  | { type: "pod.ready" }
  | { type: "pod.pending"; reason: string }
  | { type: "pod.failed"; error: string }
  | { type: "transport.lost"; error: string };

export interface ExposeInput {
  service: string;
  readyTimeoutMs: number;
  connectTimeoutMs: number;
  backoff?: BackoffPolicy;
  random?: () => number;
}

/** Tries per undo step before it is recorded as failed and left to `loc recover`. */
export const UNDO_ATTEMPTS = 4;

const notProvided = (what: string) => () => Promise.reject(new Error(`${what} not provided`));

export const exposeMachine = setup({
  types: { context: {} as ExposeContext, events: {} as ExposeEvent, input: {} as ExposeInput },
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
    /** A new phase began: recorded and shown before any of its steps run. */
    announce: (_, _params: { step: ExposeStateName }) => undefined,
    /** Closes the live transport session, if any (not a cluster mutation, so not on the undo stack). */
    closeTransport: () => undefined,
    /** Records an undo step that failed; compensation goes on with the next one. */
    undoFailed: (_, _params: { step: UndoStep | undefined; error: unknown }) => undefined,
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
        const step = context.undo[context.undo.length - 1];
        const what =
          step?.kind === "restoreWorkload" ? `${step.workload.ref.kind}/${step.workload.ref.name} not restored` : step?.kind === "restoreSelector" ? `${serviceTarget(step.service.name)}'s selector not restored` : "proxy pod not deleted";
        return [...context.leftovers, `${what}: ${errorMessage((event as { error?: unknown }).error)}`];
      },
    }),
    requestStop: assign({ stopReason: ({ context, event }) => context.stopReason ?? (event.type === "stop" ? event.reason : "stopped") }),
    pushWorkloadUndo: assign({
      undo: ({ context }) => {
        const workload = context.plan?.workloads[context.nextWorkload];
        return workload ? [...context.undo, { kind: "restoreWorkload", workload }] : context.undo;
      },
    }),
    pushProxyUndo: assign({
      // A recreated proxy reuses its name, so one deleteProxy step covers every incarnation.
      undo: ({ context }) => (context.undo.some((s) => s.kind === "deleteProxy") ? context.undo : [...context.undo, { kind: "deleteProxy", pod: "" }]),
    }),
    pushSelectorUndo: assign({
      undo: ({ context }) => {
        const target = context.plan?.target;
        return target ? [...context.undo, { kind: "restoreSelector", service: { name: target.name, uid: target.uid, selector: target.selector } }] : context.undo;
      },
    }),
    popUndo: assign({ undo: ({ context }) => context.undo.slice(0, -1), undoAttempt: 0 }),
    /** Every retry, first connection or reconnect, waits a full-jitter backoff that grows with the attempts. */
    scheduleRetry: assign(({ context }) => ({ retryInMs: backoffDelay(context.attempt, context.backoff, context.random), attempt: context.attempt + 1 })),
    resetAttempts: assign({ attempt: 0 }),
  },
  guards: {
    stopRequested: ({ context }) => context.stopReason !== undefined,
    allScaled: ({ context }) => context.nextWorkload >= (context.plan?.workloads.length ?? 0),
    /** The resolved plan takes the traffic over by the Service's selector, not by scaling. */
    selectorStrategy: ({ event }) => (event as { output?: ExposePlan }).output?.strategy === "selector",
    /** Connected for the first time under the selector strategy: the Service is not pointed here yet. */
    mustRetarget: ({ context }) => context.plan?.strategy === "selector" && !context.undo.some((step) => step.kind === "restoreSelector"),
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
    plan: undefined,
    nextWorkload: 0,
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
      on: { stop: { target: "stopped", actions: "requestStop" } },
    },
    scalingDown: {
      entry: { type: "announce", params: { step: "scalingDown" } },
      initial: "next",
      on: { stop: { actions: "requestStop" } },
      states: {
        next: {
          always: [
            { guard: "stopRequested", target: "#expose.compensating" },
            { guard: "allScaled", target: "#expose.creatingProxy" },
            { target: "scaling" },
          ],
        },
        scaling: {
          entry: "pushWorkloadUndo",
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
      entry: ["pushProxyUndo", { type: "announce", params: { step: "creatingProxy" } }],
      invoke: {
        src: "createProxy",
        input: ({ context }) => ({ plan: context.plan!, replacing: context.pod !== undefined }),
        onDone: [
          { guard: "stopRequested", target: "compensating" },
          { target: "waitingReady", actions: assign({ pod: ({ event }) => event.output, pending: undefined }) },
        ],
        onError: { target: "compensating", actions: ["recordError", "markFailure"] },
      },
      on: { stop: { actions: "requestStop" } },
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
        stop: { target: "compensating", actions: "requestStop" },
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
      on: { stop: { target: "compensating", actions: "requestStop" } },
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
      entry: ["pushSelectorUndo", { type: "announce", params: { step: "retargeting" } }],
      invoke: {
        src: "retarget",
        input: ({ context }) => ({ plan: context.plan! }),
        onDone: [{ guard: "stopRequested", target: "compensating" }, { target: "active" }],
        onError: { target: "compensating", actions: ["recordError", "markFailure"] },
      },
      on: { stop: { actions: "requestStop" } },
    },
    active: {
      entry: { type: "announce", params: { step: "active" } },
      invoke: { src: "watchTransport" },
      after: { stableAfter: { actions: "resetAttempts" } },
      on: {
        "transport.lost": { target: "reconnecting", actions: assign({ error: ({ event }) => event.error }) },
        stop: { target: "compensating", actions: "requestStop" },
      },
    },
    // After a loss: retry forever with capped backoff, unless a retry cannot help; the pod is
    // recreated only if it is gone.
    reconnecting: {
      entry: { type: "announce", params: { step: "reconnecting" } },
      initial: "retrying",
      on: { stop: { target: "compensating", actions: "requestStop" } },
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
    compensating: {
      entry: { type: "announce", params: { step: "compensating" } },
      initial: "undoing",
      // A second stop while undoing changes nothing: the undo runs to the end either way.
      on: { stop: { actions: "requestStop" } },
      states: {
        undoing: {
          // The tunnel stays up while the Service still points at the proxy: its clients keep being
          // served until the selector is back, then the transport closes before the proxy goes.
          entry: enqueueActions(({ context, enqueue }) => {
            if (context.undo[context.undo.length - 1]?.kind !== "restoreSelector") enqueue("closeTransport");
          }),
          always: { guard: "nothingToUndo", target: "#expose.finishing" },
          invoke: {
            src: "undo",
            input: ({ context }) => context.undo[context.undo.length - 1]!,
            onDone: { target: "undoing", reenter: true, actions: "popUndo" },
            onError: [
              // A transient API error must not leave a workload at 0: try again after a backoff.
              { guard: "undoRetriesLeft", target: "retryingUndo", actions: assign({ undoAttempt: ({ context }) => context.undoAttempt + 1 }) },
              {
                target: "undoing",
                reenter: true,
                actions: [{ type: "undoFailed", params: ({ context, event }) => ({ step: context.undo[context.undo.length - 1], error: event.error }) }, "noteLeftover", "popUndo"],
              },
            ],
          },
        },
        retryingUndo: { after: { undoRetryDelay: "undoing" } },
      },
    },
    finishing: { always: [{ guard: "stoppedCleanly", target: "stopped" }, { target: "failed" }] },
    stopped: { type: "final", entry: { type: "announce", params: { step: "stopped" } } },
    failed: { type: "final", entry: { type: "announce", params: { step: "failed" } } },
  },
});

export type ExposeStateName = "resolving" | "scalingDown" | "creatingProxy" | "waitingReady" | "establishing" | "retargeting" | "active" | "reconnecting" | "compensating" | "finishing" | "stopped" | "failed";
