import { describe, expect, it } from "vitest";
import { summarize } from "../../../src/cli/format-event.js";
import { sessionLog } from "../../../src/daemon/session-log.js";
import type { NewEvent } from "../../../src/store/events.js";
import { payloadProblem } from "../../../src/store/events.js";
import type { SessionEvent } from "../../../src/transports/transport.js";

const pod = (name: string) => ({ namespace: "shop", pod: name });

function recorded(events: SessionEvent[]) {
  const out: { stream: string; event: NewEvent }[] = [];
  const log = sessionLog("spdy", (stream, event) => out.push({ stream, event }));
  events.forEach(log);
  return out;
}

describe("session log", () => {
  it("says opened, lost, replaced (an open after a loss) and closed, in the pod's stream", () => {
    const out = recorded([
      { type: "opened", pod: pod("api-1"), path: "websocket", ms: 3.4 },
      { type: "closed", pod: pod("api-1"), reason: "socket closed", cause: "lost" },
      { type: "opened", pod: pod("api-1"), path: "upgrade", ms: 7.6 },
      { type: "closed", pod: pod("api-1"), reason: "port-forward session idle", cause: "idle" },
      { type: "opened", pod: pod("api-1"), path: "websocket", ms: 2 },
      { type: "closed", pod: pod("api-1"), reason: "port-forward session closed", cause: "shutdown" },
    ]);
    expect(out.map((o) => o.stream)).toEqual(Array(6).fill("session:shop/api-1"));
    expect(out.map((o) => o.event)).toEqual([
      { type: "session.opened", data: { transport: "spdy", pod: "shop/api-1", path: "websocket", ms: 3 } },
      { type: "session.lost", data: { transport: "spdy", pod: "shop/api-1", reason: "socket closed" } },
      { type: "session.replaced", data: { transport: "spdy", pod: "shop/api-1", path: "upgrade", ms: 8, lost: "socket closed" } },
      { type: "session.closed", data: { transport: "spdy", pod: "shop/api-1", reason: "idle, no connections" } },
      // After an idle close the next session is a new one, not a replacement.
      { type: "session.opened", data: { transport: "spdy", pod: "shop/api-1", path: "websocket", ms: 2 } },
      { type: "session.closed", data: { transport: "spdy", pod: "shop/api-1", reason: "daemon shut down" } },
    ]);
    for (const { event } of out) expect(payloadProblem(event.type, event.data)).toBeUndefined();
    const stored = (event: NewEvent) => ({ ...event, seq: 1, stream: "s", version: 1, time: 0, known: true as const });
    expect(out.map(({ event }) => summarize(stored(event)))).toEqual([
      "spdy session to pod shop/api-1 (websocket, 3 ms)",
      "spdy session to pod shop/api-1: socket closed",
      "spdy session to pod shop/api-1 reopened (upgrade, 8 ms) after: socket closed",
      "spdy session to pod shop/api-1: idle, no connections",
      "spdy session to pod shop/api-1 (websocket, 2 ms)",
      "spdy session to pod shop/api-1: daemon shut down",
    ]);
  });

  it("remembers at most 1,000 lost pods: the oldest loss is forgotten first", () => {
    const lost: SessionEvent[] = Array.from({ length: 1_001 }, (_, i) => ({ type: "closed", pod: pod(`p${i}`), reason: "gone", cause: "lost" }));
    const out = recorded([...lost, { type: "opened", pod: pod("p0"), path: "websocket", ms: 1 }, { type: "opened", pod: pod("p1"), path: "websocket", ms: 1 }]);
    expect(out.slice(-2).map((o) => o.event.type)).toEqual(["session.opened", "session.replaced"]);
  });
});
