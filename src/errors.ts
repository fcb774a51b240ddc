/**
 * An error meant for the person at the terminal: one line saying what is wrong and a hint saying
 * what to do. Anything else that escapes a command is a bug and is reported as such.
 */
export class LocError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    readonly code: string = "LOC_ERROR",
  ) {
    super(message);
    this.name = "LocError";
  }

  /** The single line printed for this error. */
  toLine(): string {
    return `loc: ${this.message} (hint: ${this.hint})`;
  }
}

/** The `code` of a Node system error (`ENOENT`, `EACCES`, …), or "" for anything else. */
export function errorCode(error: unknown): string {
  return typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
}

/** The message of an Error, or the thrown value as text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
