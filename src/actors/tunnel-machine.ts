import { assign, emit, fromPromise, setup, type StateValueFrom } from "xstate";
import { errorMessage } from "../errors.js";
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from "../kube/backoff.js";

/**
 * One tunnel per Service: which ready pod it forwards to, and what it does when that pod goes away
 * or cannot be reached. Pure: the probe (does the pod answer a port-forward?) and randomness are
 * injected, timers run on XState's clock (simulated in tests). Listeners stay bound the whole time;
 * this machine only decides where new connections go, and says so: it emits each state it enters
 * (with the pod it chose), and each re-entry with another pod.
 */
export interface TunnelContext {
  service: string;
  /** Ready endpoint pods, sorted. */
  endpoints: string[];
  pod: string | undefined;
  attempt: number;
  retryInMs: number;
  error: string | undefined;
  backoff: BackoffPolicy;
  random: () => number;
}

export type TunnelEvent =
  | { type: "endpoints"; pods: string[] }
  /** A connection to `pod` failed at the pod's end (its kubelet could not dial the port). */
  | { type: "podFailed"; pod: string; error: string }
  | { type: "stop"; reason: string };

/** What the tunnel emits: a state it entered, in its own words (the daemon adds address and ports). */
export type TunnelEmitted =
  | { type: "waitingForEndpoints" }
  | { type: "connecting"; pod: string }
  | { type: "forwarding"; pod: string }
  | { type: "backingOff"; delayMs: number; error: string }
  | { type: "stopped"; reason: string };

export interface TunnelInput {
  service: string;
  backoff?: BackoffPolicy;
  random?: () => number;
}

/** Keep the current pod while it is ready; otherwise the first ready one after it (spreads retries). */
function choosePod(endpoints: readonly string[], current: string | undefined, avoid: string | undefined): string | undefined {
  if (current && current !== avoid && endpoints.includes(current)) return current;
  if (endpoints.length === 0) return undefined;
  const after = avoid ? endpoints.find((pod) => pod > avoid) : undefined;
  const others = endpoints.filter((pod) => pod !== avoid);
  return after ?? others[0] ?? endpoints[0];
}

export const tunnelMachine = setup({
  types: {
    context: {} as TunnelContext,
    events: {} as TunnelEvent,
    input: {} as TunnelInput,
    emitted: {} as TunnelEmitted,
    /** `waiting`: no pod to send connections to; `retrying`: the chosen pod failed, a retry is due. */
    tags: {} as "waiting" | "retrying",
  },
  actors: {
    // Replaced in the daemon by a real port-forward handshake to the pod.
    probe: fromPromise<void, { service: string; pod: string }>(async () => undefined),
  },
  // Guards on an `endpoints` event look at the event: they run before its actions update context.
  guards: {
    hasEndpoints: ({ context }) => context.endpoints.length > 0,
    newEndpointsExist: ({ event }) => event.type === "endpoints" && event.pods.length > 0,
    podStaysReady: ({ context, event }) =>
      event.type === "endpoints" && context.pod !== undefined && event.pods.includes(context.pod),
    // A late failure of a pod it already left says nothing about the current one.
    failedPodIsCurrent: ({ context, event }) => event.type === "podFailed" && event.pod === context.pod,
  },
  actions: {
    setEndpoints: assign({
      endpoints: ({ event }) => (event.type === "endpoints" ? [...new Set(event.pods)].sort() : []),
    }),
    pickPod: assign({ pod: ({ context }) => choosePod(context.endpoints, context.pod, undefined) }),
    pickAnotherPod: assign({ pod: ({ context }) => choosePod(context.endpoints, undefined, context.pod) }),
    recordFailure: assign(({ context, event }) => ({
      error: errorMessage((event as { error?: unknown }).error),
      retryInMs: backoffDelay(context.attempt, context.backoff, context.random),
      attempt: context.attempt + 1,
    })),
    resetAttempts: assign({ attempt: 0, error: undefined }),
    sayWaiting: emit({ type: "waitingForEndpoints" }),
    sayConnecting: emit(({ context }) => ({ type: "connecting", pod: context.pod ?? "" })),
    sayForwarding: emit(({ context }) => ({ type: "forwarding", pod: context.pod ?? "" })),
    sayBackingOff: emit(({ context }) => ({ type: "backingOff", delayMs: context.retryInMs, error: context.error ?? "" })),
    sayStopped: emit(({ event }) => ({ type: "stopped", reason: event.type === "stop" ? event.reason : "stopped" })),
  },
  delays: {
    retryDelay: ({ context }) => context.retryInMs,
    stableAfter: ({ context }) => context.backoff.resetAfterMs,
  },
}).createMachine({
  id: "tunnel",
  context: ({ input }) => ({
    service: input.service,
    endpoints: [],
    pod: undefined,
    attempt: 0,
    retryInMs: 0,
    error: undefined,
    backoff: input.backoff ?? DEFAULT_BACKOFF,
    random: input.random ?? Math.random,
  }),
  initial: "waitingForEndpoints",
  on: {
    stop: ".stopped",
  },
  states: {
    waitingForEndpoints: {
      tags: "waiting",
      entry: "sayWaiting",
      on: {
        endpoints: [
          { guard: "newEndpointsExist", actions: ["setEndpoints", "pickPod"], target: "connecting" },
          { actions: "setEndpoints" },
        ],
      },
    },
    connecting: {
      entry: "sayConnecting",
      invoke: {
        src: "probe",
        input: ({ context }) => ({ service: context.service, pod: context.pod ?? "" }),
        onDone: "forwarding",
        onError: { target: "backingOff", actions: "recordFailure" },
      },
      on: {
        endpoints: [
          // The pod being probed went away: start over with another, or wait.
          { guard: "podStaysReady", actions: "setEndpoints" },
          { guard: "newEndpointsExist", actions: ["setEndpoints", "pickPod"], target: "connecting", reenter: true },
          { actions: "setEndpoints", target: "waitingForEndpoints" },
        ],
      },
    },
    forwarding: {
      entry: "sayForwarding",
      after: { stableAfter: { actions: "resetAttempts" } },
      on: {
        endpoints: [
          { guard: "podStaysReady", actions: "setEndpoints" },
          { actions: ["setEndpoints", "pickPod"], target: "movingPod" },
        ],
        // Ready is not listening (a process that crashed, a port not open yet): try another pod,
        // with backoff, as if its probe had failed.
        podFailed: { guard: "failedPodIsCurrent", target: "backingOff", actions: "recordFailure" },
      },
    },
    // Transient: the serving pod left; go to the next ready one at once (no backoff, nothing failed).
    movingPod: {
      always: [{ guard: "hasEndpoints", target: "connecting" }, { target: "waitingForEndpoints" }],
    },
    backingOff: {
      tags: "retrying",
      entry: "sayBackingOff",
      after: { retryDelay: { target: "connecting", actions: "pickAnotherPod" } },
      on: {
        endpoints: [
          { guard: "newEndpointsExist", actions: "setEndpoints" },
          { actions: "setEndpoints", target: "waitingForEndpoints" },
        ],
      },
    },
    stopped: { type: "final", entry: "sayStopped" },
  },
});

export type TunnelState = StateValueFrom<typeof tunnelMachine>;
