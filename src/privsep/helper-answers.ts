// The daemon's reading of the lines its root hosts helper writes back (src/privsep/protocol.ts has
// their types). The helper is loc's own child, but a line is still checked before it is believed:
// a garbled or foreign answer fails its request instead of resolving it with whatever it held.
import { isPlainObject, type HelperAnswer, type HelperOutcome, type WireError } from "./protocol.js";

/** A line from the helper: its first line (ready or not), an answer, or an answer to `id` of a shape this daemon does not know. */
export type HelperLine = { kind: "ready"; ready: boolean; error?: WireError } | { kind: "answer"; answer: HelperAnswer } | { kind: "unreadable"; id: number };

const OUTCOMES: readonly HelperOutcome[] = ["unchanged", "atomic", "in-place", "done", "listening"];

/** undefined for a line that is not JSON or names no request (nothing waits for it). */
export function readHelperLine(line: string): HelperLine | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  return readHelperMessage(value);
}

/** The same for a message that came as an object (over the IPC channel, with a bound server). */
export function readHelperMessage(value: unknown): HelperLine | undefined {
  if (!isPlainObject(value)) return undefined;
  const { ready, id, ok, outcome, error } = value;
  if (typeof ready === "boolean") return { kind: "ready", ready, ...(isWireError(error) ? { error } : {}) };
  if (ok === true && typeof id === "number" && isOutcome(outcome)) return { kind: "answer", answer: { id, ok, outcome } };
  if (ok === false && (typeof id === "number" || id === null) && isWireError(error)) return { kind: "answer", answer: { id, ok, error } };
  return typeof id === "number" ? { kind: "unreadable", id } : undefined;
}

function isOutcome(value: unknown): value is HelperOutcome {
  return OUTCOMES.some((outcome) => outcome === value);
}

function isWireError(value: unknown): value is WireError {
  if (!isPlainObject(value) || typeof value.message !== "string") return false;
  return (value.hint === undefined || typeof value.hint === "string") && (value.code === undefined || typeof value.code === "string");
}
