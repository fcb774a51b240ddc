// Prints the LocError code `requestStatus` gives for a state dir: run as another user by tests,
// because root may open any socket.
import { requestStatus } from "../../src/ipc/client.js";

requestStatus(process.argv[2] ?? "").then(
  () => process.stdout.write("ok\n"),
  (error: { code?: string; hint?: string }) => process.stdout.write(`${error.code ?? "unknown"} ${error.hint ?? ""}\n`),
);
