// Checks that each room (folder) of src/ imports only the rooms docs/architecture.md allows it,
// and a type-only room only with `import type`. Usage: npx tsx test/scripts/import-rooms.ts;
// prints every import that breaks a rule and exits 1 when there is one.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const root = resolve("src");
/** `(top)` is src/'s own files: errors.ts, listeners.ts, version.ts. Every room may import them. */
type Rule = { values: string[]; types?: string[]; only?: Record<string, string[]> };

// The table of docs/architecture.md ("Rooms"). `types`: rooms this one may name only in `import
// type` (a port it implements, a message shape). `only`: a room only these files may import.
const RULES: Record<string, Rule> = {
  "(top)": { values: [] },
  store: { values: [] },
  locks: { values: [] },
  transports: { values: [] },
  hosts: { values: ["locks"] },
  kube: { values: [], types: ["env"] },
  env: { values: ["expose"], types: ["kube"] },
  actors: { values: ["expose", "kube", "store", "transports"] },
  expose: { values: ["actors", "kube", "store", "transports"], only: { actors: ["expose/session.ts"] } },
  recover: { values: ["expose", "hosts", "kube", "store"] },
  ipc: { values: ["expose", "kube", "store"], types: ["daemon"] },
  // The daemon names the protocol's types (its status, the checked expose request) and the socket's file name.
  daemon: { values: ["actors", "expose", "hosts", "ipc", "kube", "locks", "store", "transports"], only: { ipc: ["daemon/single-instance.ts", "daemon/core.ts", "daemon/daemon.ts", "daemon/expose-manager.ts"] } },
  privsep: { values: ["daemon", "hosts"] },
  doctor: { values: ["ipc", "kube", "store"] },
  cli: { values: ["daemon", "doctor", "env", "expose", "hosts", "ipc", "kube", "locks", "privsep", "recover", "store", "transports"] },
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith(".ts") ? [path] : [];
  });
}

const roomOf = (path: string) => {
  const parts = relative(root, path).split("/");
  return parts.length === 1 ? "(top)" : (parts[0] ?? "");
};

/** Relative imports, re-exports and lazy imports of a file, each with whether it carries types only. */
function imports(path: string): { target: string; typeOnly: boolean }[] {
  const source = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.Latest);
  const found: { target: string; typeOnly: boolean }[] = [];
  for (const node of source.statements) {
    if (!(ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) || !node.moduleSpecifier || !ts.isStringLiteral(node.moduleSpecifier)) continue;
    const name = node.moduleSpecifier.text;
    if (!name.startsWith(".")) continue;
    let typeOnly: boolean;
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : undefined;
      typeOnly = Boolean(clause && (clause.isTypeOnly || (!clause.name && named && named.length > 0 && named.every((e) => e.isTypeOnly))));
    } else {
      typeOnly = node.isTypeOnly;
    }
    found.push({ target: resolve(dirname(path), name.replace(/\.js$/, ".ts")), typeOnly });
  }
  // import("./x.js"): a lazy import is still a dependency.
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteral(argument) && argument.text.startsWith(".")) found.push({ target: resolve(dirname(path), argument.text.replace(/\.js$/, ".ts")), typeOnly: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const problems: string[] = [];
let count = 0;
for (const file of files(root)) {
  const from = roomOf(file);
  const rule = RULES[from];
  for (const { target, typeOnly } of imports(file)) {
    if (!target.startsWith(root + "/")) continue; // package.json and the like
    count += 1;
    const to = roomOf(target);
    if (to === from || to === "(top)") continue;
    const where = `${relative(root, file)} -> ${relative(root, target)}`;
    if (!rule) {
      problems.push(`${where}: room ${from} has no rule`);
      continue;
    }
    const only = rule.only?.[to];
    if (only && !only.includes(relative(root, file))) problems.push(`${where}: only ${only.join(", ")} may import ${to}`);
    if (rule.values.includes(to)) continue;
    if (rule.types?.includes(to)) {
      if (!typeOnly) problems.push(`${where}: ${from} may import ${to} for types only`);
      continue;
    }
    problems.push(`${where}: ${from} may not import ${to}`);
  }
}

for (const problem of problems) console.log(problem);
console.log(`${count} imports between src/ files, ${problems.length} against the room rules`);
process.exitCode = problems.length > 0 ? 1 : 0;
