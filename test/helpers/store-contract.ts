import { describe, expect, it } from "vitest";
import { ANY_VERSION, ConcurrencyError, type EventStore } from "../../src/store/event-store.js";
import type { NewEvent } from "../../src/store/events.js";
import { tunnelStream } from "../../src/store/streams.js";

const connecting = (service: string, pod = "web-1"): NewEvent => ({
  type: "tunnel.connecting",
  data: { service, pod, ip: "127.1.0.2" },
});

/**
 * The behaviour every EventStore adapter must have. `make(now)` opens a fresh, empty store whose
 * clock is `now`.
 */
export function eventStoreContract(name: string, make: (now: () => number) => EventStore): void {
  describe(`EventStore contract: ${name}`, () => {
    it("numbers versions per stream from 1 and sequences globally", () => {
      const store = make(() => 1_000);
      expect(store.append("tunnel:a/x", [connecting("a/x"), connecting("a/x")], 0)).toEqual({ version: 2, lastSeq: 2 });
      expect(store.append("tunnel:b/y", [connecting("b/y")], 0)).toEqual({ version: 1, lastSeq: 3 });
      expect(store.read().map((e) => [e.seq, e.stream, e.version])).toEqual([
        [1, "tunnel:a/x", 1],
        [2, "tunnel:a/x", 2],
        [3, "tunnel:b/y", 1],
      ]);
      expect(store.streamVersion("tunnel:a/x")).toBe(2);
      expect(store.streamVersion("nothing")).toBe(0);
    });

    it("rejects a stale expected version with a typed ConcurrencyError and writes nothing", () => {
      const store = make(() => 1_000);
      store.append("s", [connecting("a/x")], 0);
      const attempt = () => store.append("s", [connecting("a/x"), connecting("a/x")], 0);
      expect(attempt).toThrow(ConcurrencyError);
      expect(attempt).toThrow(/at version 1, not the expected 0/);
      expect(store.read()).toHaveLength(1);
      expect(store.append("s", [connecting("a/x")], ANY_VERSION).version).toBe(2);
    });

    it("is atomic: an invalid event in a batch stores none of the batch", () => {
      const store = make(() => 1_000);
      const bad = { type: "tunnel.connecting", data: { service: "a/x", pod: 7 } } as unknown as NewEvent;
      expect(() => store.append("s", [connecting("a/x"), bad], 0)).toThrow(/field "pod" should be string/);
      expect(store.read()).toEqual([]);
      expect(store.streamVersion("s")).toBe(0);
    });

    it("refuses payloads with secret-looking fields", () => {
      const store = make(() => 1_000);
      const leaky = { type: "expose.intent", data: { service: "a/x", action: "a", target: "t", original: { privateKey: "x" } } };
      expect(() => store.append("s", [leaky as NewEvent], 0)).toThrow(/looks secret/);
      expect(store.read()).toEqual([]);
    });

    it("filters by stream, service, types, time window and afterSeq; limit keeps the newest, oldest first", () => {
      let clock = 0;
      const store = make(() => clock);
      for (let i = 1; i <= 10; i++) {
        clock = i * 100;
        const service = i % 2 === 0 ? "a/x" : "b/y";
        store.append(tunnelStream(service), [connecting(service, `p${i}`)], ANY_VERSION);
      }
      store.append("daemon", [{ type: "daemon.stopped", data: { pid: 1, reason: "SIGTERM" } }], 0);
      const seqs = (events: { seq: number }[]) => events.map((e) => e.seq);
      expect(seqs(store.read({ service: "a/x" }))).toEqual([2, 4, 6, 8, 10]);
      expect(seqs(store.read({ stream: "tunnel:b/y", limit: 2 }))).toEqual([7, 9]);
      expect(seqs(store.read({ types: ["daemon.stopped"] }))).toEqual([11]);
      expect(seqs(store.read({ since: 300, until: 600 }))).toEqual([3, 4, 5]);
      expect(seqs(store.read({ afterSeq: 9 }))).toEqual([10, 11]);
      expect(seqs(store.read({ service: "a/x", since: 500, limit: 1 }))).toEqual([10]);
    });

    it("round-trips unicode and JSON-hostile text exactly", () => {
      const store = make(() => 5);
      const error = 'quote " backslash \\ newline \n emoji 🚀 nul \u0000';
      store.append("s", [{ type: "tunnel.backingOff", data: { service: "a/x", delayMs: 500, error } }], 0);
      const [event] = store.read();
      expect(event?.known && event.type === "tunnel.backingOff" && event.data.error).toBe(error);
      expect(event?.time).toBe(5);
    });
  });
}
