import { describe, expect, it } from "vitest";
import { decodeRow, type EventRow } from "../../../src/store/events.js";
import { formatTable, toJsonLine } from "../../../src/cli/format-event.js";

const row = (type: string, data: string): EventRow => ({ seq: 1, stream: "s", version: 1, type, data, time: 0 });

describe("decoding stored rows", () => {
  it("decodes a well-formed row into its typed event", () => {
    const event = decodeRow(row("tunnel.stopped", '{"service":"a/b","reason":"deleted"}'));
    expect(event).toMatchObject({ known: true, type: "tunnel.stopped", data: { service: "a/b", reason: "deleted" } });
  });

  it.each([
    ["an unknown type", row("tunnel.teleported", "{}"), 'unknown event type "tunnel.teleported"'],
    ["invalid JSON", row("tunnel.stopped", "{not json"), "data is not valid JSON"],
    ["a non-object payload", row("tunnel.stopped", "[1,2]"), "data is not an object"],
    ["a missing field", row("tunnel.stopped", '{"service":"a/b"}'), 'field "reason" should be string'],
    ["a wrong field type", row("tunnel.backingOff", '{"service":"a/b","delayMs":"5","error":"x"}'), 'field "delayMs" should be number'],
  ])("flags %s instead of throwing, keeping the raw text", (_name, input, problem) => {
    const event = decodeRow(input);
    expect(event).toMatchObject({ known: false, type: input.type, raw: input.data, problem });
  });

  it("shows unreadable rows raw and flagged in the table and in JSON", () => {
    const event = decodeRow(row("future.thing", '{"x":1}'));
    const [header, line] = formatTable([event], true);
    expect(header).toMatch(/^TIME\s+STREAM\s+TYPE\s+SUMMARY$/);
    expect(line).toContain("?future.thing");
    expect(line).toContain('UNREADABLE (unknown event type "future.thing"): {"x":1}');
    expect(JSON.parse(toJsonLine(event))).toMatchObject({ known: false, raw: '{"x":1}', type: "future.thing" });
  });
});
