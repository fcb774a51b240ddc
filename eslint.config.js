import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-syntax": [
        "error",
        {
          selector: "CallExpression[callee.object.name='process'][callee.property.name='exit']",
          message: "Only src/cli/main.ts may call process.exit (thin CLI: commands return exit codes).",
        },
      ],
    },
  },
  { files: ["src/cli/main.ts", "test/**", "bench/**"], rules: { "no-restricted-syntax": "off" } },
  {
    // Commands are imported when they run (ADR 0010); test/unit/cli/program.module-graph.unit.test.ts checks the graph.
    files: ["src/cli/program.ts", "src/cli/main.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        { patterns: [{ group: ["./commands/*", "*/commands/*"], allowTypeImports: true, message: "Import a command's module inside its action (await import), not up front: see ADR 0010." }] },
      ],
    },
  },
);
