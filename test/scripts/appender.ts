// One writer process for the concurrent-appenders property: appends `count` batches to streams
// chosen round-robin, retrying on ConcurrencyError like a real caller, then reports its retries.
import { ConcurrencyError } from "../../src/store/event-store.js";
import { SqliteEventStore } from "../../src/store/sqlite-store.js";
import { tunnelStream } from "../../src/store/streams.js";

const [path, writer, countText, batchText, streamsText, startAtText] = process.argv.slice(2);
if (!path || !writer || !countText || !batchText || !streamsText || !startAtText) {
  throw new Error("usage: appender.ts <db> <writer> <count> <batch> <streams> <start-at-epoch-ms>");
}
const store = SqliteEventStore.open({ path, mode: "write", busyTimeoutMs: 30_000 });
// Both writers start at the same instant, so their appends interleave instead of running in turn.
while (Date.now() < Number(startAtText)) await new Promise((resolve) => setTimeout(resolve, 1));
const streams = Number(streamsText);
let conflicts = 0;
for (let i = 0; i < Number(countText); i++) {
  const service = `ns/svc${i % streams}`;
  const batch = Array.from({ length: Number(batchText) }, (_, j) => ({
    type: "tunnel.connecting" as const,
    data: { service, pod: `${writer}-${i}-${j}`, ip: "127.0.0.1" },
  }));
  for (;;) {
    try {
      store.append(tunnelStream(service), batch, store.streamVersion(tunnelStream(service)));
      break;
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
      conflicts += 1;
    }
  }
}
store.close();
process.stdout.write(JSON.stringify({ conflicts }) + "\n");
