import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
// package.json is the parent of both src/ (tsx, tests) and dist/ (the built bin).
export const VERSION: string = (require("../package.json") as { version: string }).version;
