// Everything the demo starts registers how to undo it here, newest first, so Ctrl-C at any point,
// a failure or the normal end tear down exactly what was started, and each undo says what it did.
import { say } from "./transcript.js";

/** Whether the demo is ending because a step failed: an undo may then say what it saw (a log's tail). */
export interface Ending {
  failed: boolean;
}

interface Undo {
  what: string;
  run(ending: Ending): Promise<string | void>;
}

const undos: Undo[] = [];
let tornDown: Promise<void> | undefined;

/** Registers an undo; `run` may return a sentence saying what it did (default: "stopped <what>"). */
export function onTeardown(what: string, run: (ending: Ending) => Promise<string | void>): void {
  undos.push({ what, run });
  // Started after a Ctrl-C began the teardown (a step still in flight): undo it as well.
  if (tornDown) void tornDown.then(() => runAll({ failed: false }));
}

/** Runs every undo once, newest first; a failing undo is reported and the rest still run. */
export function teardown(ending: Ending = { failed: false }): Promise<void> {
  tornDown ??= (async () => {
    if (undos.length > 0) say("tearing down what the demo started:");
    await runAll(ending);
  })();
  return tornDown;
}

async function runAll(ending: Ending): Promise<void> {
  for (let undo = undos.pop(); undo; undo = undos.pop()) {
    try {
      const done = await undo.run(ending);
      say(`  ${done ?? `stopped ${undo.what}`}`);
    } catch (error) {
      say(`  could not stop ${undo.what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
