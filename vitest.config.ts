import { defineConfig } from "vitest/config";

// Test level lives in the file name; each level is a project so `npm run test:<level>` runs one.
export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/**/*.unit.test.ts"] } },
      { test: { name: "prop", include: ["test/**/*.prop.test.ts"], testTimeout: 60_000 } },
      {
        test: {
          name: "e2e",
          include: ["test/**/*.e2e.test.ts"],
          globalSetup: ["test/cluster/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // One real cluster is shared; files run one after another so they don't fight over it.
          fileParallelism: false,
        },
      },
    ],
  },
});
