import fc from "fast-check";
import type { NewEvent } from "../../src/store/events.js";
import { DAEMON_STREAM, tunnelStream } from "../../src/store/streams.js";

export const serviceArb = fc.constantFrom("default/web", "default/db", "shop/cart", "shop/web", "infra/cache");
export const streamArb = fc.oneof(
  fc.constant(DAEMON_STREAM),
  serviceArb.map((s) => tunnelStream(s)),
  fc.constantFrom("expose:a1b2c3", "expose:ffee01"),
);
const text = fc.string({ maxLength: 24 });

/** Well-formed events of several shapes, including unicode and JSON-hostile text. */
export const eventArb: fc.Arbitrary<NewEvent> = fc.oneof(
  fc.record({ pid: fc.nat(), version: text, scope: text }).map((data) => ({ type: "daemon.started" as const, data })),
  fc.record({ service: serviceArb, pod: text, ip: fc.ipV4() }).map((data) => ({ type: "tunnel.connecting" as const, data })),
  fc
    .record({ service: serviceArb, pod: text, ip: fc.ipV4(), ports: fc.array(text, { maxLength: 3 }) })
    .map((data) => ({ type: "tunnel.forwarding" as const, data })),
  fc
    .record({ service: serviceArb, delayMs: fc.nat(30_000), error: fc.string({ unit: "grapheme", maxLength: 40 }) })
    .map((data) => ({ type: "tunnel.backingOff" as const, data })),
  fc
    .record({ service: serviceArb, action: fc.constantFrom("scale", "createPod", "annotate"), target: text })
    .map((data) => ({ type: "expose.intent" as const, data: { ...data, original: { replicas: 2 } } })),
  fc
    .record({ service: serviceArb, action: fc.constantFrom("scale", "createPod", "annotate"), target: text, ok: fc.boolean() })
    .map((data) => ({ type: "expose.outcome" as const, data })),
  fc.record({ service: serviceArb, reason: text }).map((data) => ({ type: "tunnel.stopped" as const, data })),
);

/** A sequence of appends: each goes to one stream with one or more events. */
export const appendsArb = fc.array(
  fc.record({ stream: streamArb, events: fc.array(eventArb, { minLength: 1, maxLength: 5 }) }),
  { maxLength: 30 },
);
