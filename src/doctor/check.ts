/** A check's verdict: passed, failed, or passed with something the user should know. */
export type CheckState = boolean | "warn";

/** One line of `loc doctor`. `detail` and `hint` are shown to the user: never a token or key. */
export interface CheckResult {
  name: string;
  ok: CheckState;
  detail: string;
  hint?: string;
  /** For permission checks: each missing `verb resource`, e.g. `update deployments/scale`. */
  missing?: string[];
}

const MARK = { pass: "✓", fail: "✗", warn: "!" } as const;

export function formatCheck(result: CheckResult): string {
  const mark = result.ok === "warn" ? MARK.warn : result.ok ? MARK.pass : MARK.fail;
  const hint = result.hint && result.ok !== true ? ` (hint: ${result.hint})` : "";
  return `${mark} ${result.name}: ${result.detail}${hint}`;
}

/** Warnings pass: only a failed check makes the whole report fail. */
export function allPassed(results: readonly CheckResult[]): boolean {
  return results.every((result) => result.ok !== false);
}

export function pass(name: string, detail: string): CheckResult {
  return { name, ok: true, detail };
}

export function fail(name: string, detail: string, hint: string): CheckResult {
  return { name, ok: false, detail, hint };
}

export function warn(name: string, detail: string, hint: string): CheckResult {
  return { name, ok: "warn", detail, hint };
}
