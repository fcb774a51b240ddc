// A kubelet-like SPDY/3.1 port-forward peer built on our own framer, for unit tests of the session:
// it answers SYN_STREAMs with SYN_REPLY, echoes the data stream, and fails streams for port 1 the
// way the kubelet does (text on the error stream, FIN, then RST CANCEL on the data stream).
import { Duplex, PassThrough } from "node:stream";
import { encodeFrame, FLAG_FIN, FrameParser, RstStatus, type Frame } from "../../src/transports/spdy/frames.js";
import { HeaderCompressor, HeaderDecompressor } from "../../src/transports/spdy/header-block.js";

export const REFUSED_PORT = 1;
/** Like kwok: FIN on the data stream first, the dial error on the error stream after it. */
export const REFUSED_AFTER_FIN_PORT = 2;

/** Two ends of an in-memory byte pipe. */
export function bytePipe(): [Duplex, Duplex] {
  const aToB = new PassThrough();
  const bToA = new PassThrough();
  const end = (readable: PassThrough, writable: PassThrough) =>
    new Duplex({
      read() {
        readable.resume();
      },
      write(chunk: Buffer, _enc, done) {
        writable.write(chunk, done);
      },
      final(done) {
        writable.end();
        done();
      },
      destroy(error, done) {
        writable.destroy();
        readable.destroy();
        done(error);
      },
    });
  const a = end(bToA, aToB);
  const b = end(aToB, bToA);
  for (const [duplex, source] of [[a, bToA], [b, aToB]] as const) {
    source.on("data", (chunk: Buffer) => {
      if (!duplex.push(chunk)) source.pause();
    });
    source.on("end", () => duplex.push(null));
    source.on("close", () => duplex.destroy());
  }
  return [a, b];
}

export class FakeSpdyServer {
  readonly received: Frame[] = [];
  readonly headersByStream = new Map<number, Map<string, string>>();
  private readonly parser = new FrameParser();
  private readonly decompressor = new HeaderDecompressor();
  private readonly compressor = new HeaderCompressor();
  private handled: Promise<void> = Promise.resolve();
  /** Answer pings (a dead server does not). */
  answerPings = true;

  constructor(readonly socket: Duplex) {
    socket.on("data", (chunk: Buffer) => {
      // One frame at a time, in order, as spdystream does: a stream is registered before its DATA.
      for (const frame of this.parser.push(chunk)) this.handled = this.handled.then(() => this.onFrame(frame));
    });
    socket.on("error", () => undefined);
  }

  send(frame: Frame): void {
    this.socket.write(encodeFrame(frame));
  }

  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  private async onFrame(frame: Frame): Promise<void> {
    this.received.push(frame);
    if (frame.type === "ping" && this.answerPings) this.send(frame);
    if (frame.type === "synStream") {
      const headers = new Map(await this.decompressor.decompress(frame.headerBlock));
      this.headersByStream.set(frame.streamId, headers);
      this.send({ type: "synReply", streamId: frame.streamId, flags: 0, headerBlock: this.compressor.compress([]) });
      if (headers.get("streamtype") === "data" && headers.get("port") === String(REFUSED_PORT)) {
        const errorId = frame.streamId - 2;
        this.send({ type: "data", streamId: errorId, flags: FLAG_FIN, data: Buffer.from(`error forwarding port ${REFUSED_PORT} to pod fake: connection refused`) });
        this.send({ type: "rstStream", streamId: frame.streamId, status: RstStatus.cancel });
      }
      if (headers.get("streamtype") === "data" && headers.get("port") === String(REFUSED_AFTER_FIN_PORT)) {
        this.send({ type: "data", streamId: frame.streamId, flags: FLAG_FIN, data: Buffer.alloc(0) });
        this.send({ type: "data", streamId: frame.streamId - 2, flags: FLAG_FIN, data: Buffer.from("no forward found for port 2") });
      }
    }
    if (frame.type === "data" && this.headersByStream.get(frame.streamId)?.get("streamtype") === "data") {
      this.send({ type: "data", streamId: frame.streamId, flags: frame.flags & FLAG_FIN, data: frame.data });
    }
  }
}
