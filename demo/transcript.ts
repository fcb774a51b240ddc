// How the demo talks: a numbered heading per step, the command as a person would type it, then its
// real output indented, so the terminal reads like a walkthrough.
let step = 0;

export function heading(title: string): void {
  step += 1;
  process.stdout.write(`\n== ${step}. ${title}\n`);
}

/** The command line, shown the way it would be typed at a prompt. */
export function command(line: string, note?: string): void {
  process.stdout.write(`$ ${line}\n`);
  if (note) process.stdout.write(`  # ${note}\n`);
}

/** A command's output, indented under it; blank trailing lines dropped. */
export function output(text: string): void {
  const lines = text.replace(/\s+$/, "").split("\n");
  for (const line of lines) process.stdout.write(line === "" ? "\n" : `  ${line}\n`);
}

/** Progress and explanations that are the demo's own words, not a command's output. */
export function say(text: string): void {
  process.stdout.write(`-- ${text}\n`);
}

/** Quotes an argument for display only when a shell would need it. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
