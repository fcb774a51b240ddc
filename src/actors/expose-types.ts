/**
 * The expose machine's vocabulary: its context, the events it takes, its input, and the events it
 * emits (exactly the `expose:<id>` stream's own events, so a session records them as they come).
 */
import type { ExposePlan } from "../expose/resolve.js";
import type { Intent, SessionChanges, UndoStep } from "../expose/undo-steps.js";
import type { BackoffPolicy } from "../kube/backoff.js";
import type { NewEvent } from "../store/events.js";

export interface ExposeContext {
  service: string;
  namespace: string;
  about: SessionFacts;
  plan: ExposePlan | undefined;
  /** Index of the next workload to scale down. */
  nextWorkload: number;
  /** What the session may have changed: its recorded intents, folded by the undo model. */
  changes: SessionChanges;
  /** Compensation's steps still to run, first first; set when compensation begins. */
  undo: UndoStep[];
  pod: { name: string; uid: string } | undefined;
  /** Why the proxy pod is not Ready yet, for the timeout message. */
  pending: string | undefined;
  error: string | undefined;
  /** The hint of a LocError that failed the session (a refusal while resolving), for the CLI. */
  hint: string | undefined;
  /** Set by the first stop; a mutation in flight finishes before it is honoured. */
  stopReason: string | undefined;
  /** What failed the session (a stop that came first is not overridden by it, nor the reverse). */
  failure: string | undefined;
  /** Undo steps that failed every try: what is still changed in the cluster. */
  leftovers: string[];
  attempt: number;
  retryInMs: number;
  /** Failed tries of the undo step in hand; it is retried before it is given up. */
  undoAttempt: number;
  backoff: BackoffPolicy;
  random: () => number;
  readyTimeoutMs: number;
  connectTimeoutMs: number;
}

export type ExposeEvent =
  | { type: "stop"; reason: string }
  /** An intent the session just recorded: folded into `changes` (see undo-steps.ts). */
  | { type: "intent"; intent: Intent }
  | { type: "pod.ready" }
  | { type: "pod.pending"; reason: string }
  | { type: "pod.failed"; error: string }
  | { type: "transport.lost"; error: string };

/** Fixed facts about the session, only for what its events say. */
export interface SessionFacts {
  sessionId: string;
  podName: string;
  image: string;
  /** Where mapped connections go on this machine. */
  localHost: string;
  transport: { name: string; port: number; fingerprint: string };
}

export interface ExposeInput {
  /** `ns/svc`. */
  service: string;
  about: SessionFacts;
  readyTimeoutMs: number;
  connectTimeoutMs: number;
  backoff?: BackoffPolicy;
  random?: () => number;
}

/** What the machine emits: each phase it enters, warnings, and its end. */
export type ExposeEmitted = Extract<NewEvent, { type: "expose.step" | "expose.active" | "expose.warning" | "expose.stopped" | "expose.failed" }>;
