// Lists import cycles among src/'s modules, type-only imports included (as madge --circular would).
// Usage: npx tsx test/scripts/import-cycles.ts [dir]; exits 1 when there is a cycle.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const root = resolve(process.argv[2] ?? "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith(".ts") ? [path] : [];
  });
}

const all = new Set(files(root));
const graph = new Map<string, string[]>();
for (const file of all) {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  const local = importedFiles.map((i) => i.fileName).filter((name) => name.startsWith("."));
  graph.set(file, local.map((name) => resolve(dirname(file), name.replace(/\.js$/, ".ts"))).filter((path) => all.has(path)));
}

// Depth-first search; each back edge closes one cycle.
const cycles: string[][] = [];
const state = new Map<string, "open" | "done">();
const stack: string[] = [];
function visit(file: string): void {
  state.set(file, "open");
  stack.push(file);
  for (const next of graph.get(file) ?? []) {
    if (state.get(next) === "open") cycles.push([...stack.slice(stack.indexOf(next)), next]);
    else if (!state.has(next)) visit(next);
  }
  stack.pop();
  state.set(file, "done");
}
for (const file of graph.keys()) if (!state.has(file)) visit(file);

console.log(`${graph.size} files, ${[...graph.values()].reduce((n, edges) => n + edges.length, 0)} imports, ${cycles.length} cycles`);
for (const cycle of cycles) console.log("  " + cycle.map((f) => relative(root, f)).join(" > "));
process.exitCode = cycles.length ? 1 : 0;
