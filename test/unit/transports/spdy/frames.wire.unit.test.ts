import { inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { adler32 } from "../../../../src/transports/spdy/adler32.js";
import { SPDY3_DICTIONARY } from "../../../../src/transports/spdy/dictionary.js";
import { encodeFrame, FrameParser, SpdyProtocolError } from "../../../../src/transports/spdy/frames.js";
import { decodeNameValues, encodeNameValues, HeaderCompressor, HeaderDecompressor } from "../../../../src/transports/spdy/header-block.js";

describe("SPDY/3.1 frames on the wire", () => {
  it("uses the SPDY/3 dictionary zlib names (1,423 bytes, Adler-32 0xe3c6a7c2)", () => {
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    expect(adler32(SPDY3_DICTIONARY)).toBe(0xe3c6a7c2);
  });

  it("lays out control and data frames as spdystream reads them", () => {
    expect(encodeFrame({ type: "ping", id: 1 }).toString("hex")).toBe("80030006" + "00000004" + "00000001");
    expect(encodeFrame({ type: "rstStream", streamId: 3, status: 5 }).toString("hex")).toBe("80030003" + "00000008" + "00000003" + "00000005");
    expect(encodeFrame({ type: "data", streamId: 5, flags: 1, data: Buffer.from("hi") }).toString("hex")).toBe("00000005" + "01000002" + "6869");
    const syn = encodeFrame({ type: "synStream", streamId: 7, associatedId: 0, priority: 0, flags: 0, headerBlock: Buffer.from("ab") });
    expect(syn.toString("hex")).toBe("80030001" + "0000000c" + "00000007" + "00000000" + "0000" + "6162");
  });

  it("writes header blocks any zlib reader with the SPDY dictionary inflates, in one shared stream", () => {
    const compressor = new HeaderCompressor();
    const first = compressor.compress([["streamtype", "error"], ["port", "80"], ["requestid", "0"]]);
    const second = compressor.compress([["streamtype", "data"], ["port", "80"], ["requestid", "0"]]);
    expect(first.subarray(0, 6).toString("hex")).toBe("7820e3c6a7c2"); // FDICT + the dictionary's id
    expect(second[0]).toBe(0); // later blocks continue the stream: no second zlib header
    // Each ends in the sync-flush marker: Go's inflater (spdystream) releases a stored block's bytes
    // only on reading the next block header; without it the second SYN_STREAM killed the session.
    expect(first.subarray(-5).toString("hex")).toBe("000000ffff");
    expect(second.subarray(-5).toString("hex")).toBe("000000ffff");
    const inflated = inflateSync(Buffer.concat([first, second]), { dictionary: SPDY3_DICTIONARY, finishFlush: 2 });
    const firstRaw = encodeNameValues([["streamtype", "error"], ["port", "80"], ["requestid", "0"]]);
    expect(decodeNameValues(inflated.subarray(0, firstRaw.length))).toEqual([["streamtype", "error"], ["port", "80"], ["requestid", "0"]]);
    expect(decodeNameValues(inflated.subarray(firstRaw.length))).toEqual([["streamtype", "data"], ["port", "80"], ["requestid", "0"]]);
  });

  it("inflates header blocks longer than the decompressor's output buffer, and the blocks after them", async () => {
    const compressor = new HeaderCompressor();
    const decompressor = new HeaderDecompressor();
    try {
      const long: [string, string][] = [["x-long", "v".repeat(5000)], ["port", "80"]];
      const short: [string, string][] = [["streamtype", "data"]];
      expect(await decompressor.decompress(compressor.compress(long))).toEqual(long);
      expect(await decompressor.decompress(compressor.compress(short))).toEqual(short);
    } finally {
      decompressor.close();
    }
  });

  it("refuses header names spdystream would end the session for", () => {
    const compressor = new HeaderCompressor();
    expect(() => compressor.compress([["Port", "80"]])).toThrow(/not allowed/);
    expect(() => compressor.compress([["host", "x"]])).toThrow(/not allowed/);
    expect(() => compressor.compress([["port", "1"], ["port", "2"]])).toThrow(/not allowed/);
  });

  it("throws a protocol error on malformed frames and skips unknown control types", () => {
    const bad = (hex: string) => () => new FrameParser().push(Buffer.from(hex, "hex"));
    expect(bad("80020006" + "00000004" + "00000001")).toThrow(SpdyProtocolError); // version 2
    expect(bad("80030006" + "00000004" + "00000000")).toThrow(/PING with id 0/);
    expect(bad("80030003" + "00000004" + "00000003")).toThrow(/RST_STREAM frame has 4 bytes/);
    expect(bad("00000000" + "00000001" + "00")).toThrow(/DATA on stream 0/);
    expect(bad("80030004" + "00000008" + "00000005" + "00000000")).toThrow(/SETTINGS/);
    expect(new FrameParser().push(Buffer.from("8003000a" + "00000002" + "abcd", "hex"))).toEqual([]);
    expect(() => decodeNameValues(Buffer.from("00000001" + "000000ff", "hex"))).toThrow(/shorter/);
  });

  it("waits for the rest of a frame that arrives in pieces", () => {
    const parser = new FrameParser();
    const wire = encodeFrame({ type: "data", streamId: 9, flags: 0, data: Buffer.alloc(100_000, 7) });
    expect(parser.push(wire.subarray(0, 3))).toEqual([]);
    expect(parser.push(wire.subarray(3, 50_000))).toEqual([]);
    const [frame] = parser.push(wire.subarray(50_000));
    expect(frame).toMatchObject({ type: "data", streamId: 9 });
    expect(frame?.type === "data" && frame.data.equals(Buffer.alloc(100_000, 7))).toBe(true);
  });
});
