import { summarizeRecovery, type RecoveryAction, type RecoveryReport } from "../recover/recover.js";

const MARK: Record<RecoveryAction["status"], string> = { planned: "would", done: "done ", left: "LEFT ", failed: "FAILED" };

/** The human report: one line per action, grouped by session, then a summary line. */
export function formatRecoveryReport(report: RecoveryReport): string[] {
  const from = report.source === "cluster" ? "the cluster's labels and annotations" : "the event log";
  const lines = [`loc recover${report.dryRun ? " --dry-run" : ""}: ${report.sessions} unfinished session${report.sessions === 1 ? "" : "s"} of ${report.owner} (from ${from})`];
  for (const action of report.actions) lines.push(`  ${MARK[action.status]} ${describe(action)}`);
  if (report.actions.length === 0) lines.push("  nothing to do: no leftovers of this owner");
  lines.push(`loc recover: ${summarizeRecovery(report)}`);
  return lines;
}


function describe(action: RecoveryAction): string {
  const who = action.session ? `${action.session} ${action.service ?? ""}: ` : "";
  switch (action.action) {
    case "removeStale":
      return `remove stale ${action.target}`;
    case "cleanHosts":
      return `${who}${action.detail ?? `clean ${action.target}`}`;
    default:
      return `${who}${action.detail ?? `${action.action} ${action.target}`}`;
  }
}
