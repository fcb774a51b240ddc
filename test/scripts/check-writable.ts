// Prints the LocError code checkWritable gives for a path: run as an unprivileged user by tests,
// because root ignores permission bits.
import { checkWritable } from "../../src/hosts/hosts-io.js";

const path = process.argv[2] ?? "";
checkWritable(path).then(
  () => process.stdout.write("writable\n"),
  (error: { code?: string }) => process.stdout.write(`${error.code ?? "unknown"}\n`),
);
