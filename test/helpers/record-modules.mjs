// `node --import ./test/helpers/record-modules.mjs …` appends every module the process loads to the
// file named by $LOC_MODULE_LOG, one URL or path a line: ESM through a resolve hook, CommonJS (which
// Node 20 requires without asking ESM hooks) from require.cache at exit. Used to check the CLI's
// module graph: test/unit/cli/program.module-graph.unit.test.ts and bench/cli.bench.ts.
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";
import process from "node:process";

const log = process.env.LOC_MODULE_LOG;
if (log) {
  register("./record-modules-hooks.mjs", import.meta.url, { data: { log } });
  const require = createRequire(import.meta.url);
  process.on("exit", () => appendFileSync(log, Object.keys(require.cache).map((path) => path + "\n").join("")));
}
