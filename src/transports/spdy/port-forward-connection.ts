import { Duplex, type Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { serverReportedError } from "../dial-verdict.js";
import { FLAG_FIN, RstStatus } from "./frames.js";

/** What a connection needs from its session; kept narrow so the session's internals stay private. */
export interface StreamSender {
  readonly pipeline: boolean;
  readonly maxDataFrame: number;
  sendData(streamId: number, data: Buffer, flags: number, done?: (error?: Error | null) => void): void;
  sendReset(streamId: number, status: number): void;
  resumeStream(streamId: number): void;
  forget(...streamIds: number[]): void;
  /** A DATA piece written out and done with (its memory may be read into again). */
  giveBack(piece: Buffer): void;
}

// The kubelet writes the dial error as text; anything longer is not a message worth keeping whole.
const MAX_ERROR_TEXT = 16 * 1024;
// spdystream queues DATA by priority but sends RST_STREAM at once, and kwok FINs the data stream
// before writing a dial error: wait this long for the error stream before trusting a reset or FIN.
const ERROR_TEXT_GRACE_MS = 200;
// DATA pieces handed on together (see onData): loopback's segment size, and below malloc's mmap threshold.
const COALESCE_BYTES = 64 * 1024;

/**
 * One local TCP connection carried as kubectl carries it: an error stream (the server writes a dial
 * failure there) and a data stream, paired by `requestid`. Its failure never touches the session.
 */
export class PortForwardConnection extends Duplex {
  // Bytes, not a string: a DATA frame may come in pieces that split a UTF-8 character.
  private errorBytes: Buffer[] = [];
  private errorLength = 0;
  private dataReplied = false;
  private readonly waitingForReply: (() => void)[] = [];
  private localFinSent = false;
  private remoteFinReceived = false;
  private errorStreamDone = false;
  private errorStreamWait: NodeJS.Timeout | undefined;
  // DATA pieces that arrived in this turn of the event loop, handed on together (see onData).
  private pending: Buffer[] = [];
  private pendingLength = 0;
  /** Where the pod's bytes go when written straight to a local socket (see forwardTo). */
  private direct: { socket: Writable; count: (bytes: number) => void } | undefined;

  constructor(
    private readonly session: StreamSender,
    readonly port: number,
    readonly errorStreamId: number,
    readonly dataStreamId: number,
  ) {
    // Bounded per connection: a full buffer pauses the session until the local side reads.
    super({ allowHalfOpen: false, readableHighWaterMark: 256 * 1024 });
  }

  /** DATA on one of our two streams; returns false when the reader is full (the session pauses). */
  onData(streamId: number, data: Buffer, flags: number): boolean {
    if (this.destroyed) return true;
    const fin = (flags & FLAG_FIN) !== 0;
    if (streamId === this.errorStreamId) {
      if (this.errorLength < MAX_ERROR_TEXT && data.length) {
        this.errorBytes.push(data);
        this.errorLength += data.length;
      }
      if (fin) this.onErrorStreamDone();
      return true;
    }
    if (this.remoteFinReceived) return true; // nothing may follow a FIN; drop it
    if (data.length) {
      // Pieces are TLS-record sized (<= 16 KB): handing each to the local socket on its own was a
      // write() and a wake-up of the local reader per record. Everything read from the session in
      // one turn of the event loop goes on as one chunk instead, after the turn's I/O (setImmediate).
      // At most 64 KiB at a time: a bigger join is a fresh mmap'd buffer, page faults and all.
      if (this.pendingLength + data.length > COALESCE_BYTES) this.flushPending();
      if (this.pending.length === 0) setImmediate(() => this.flushPending());
      this.pending.push(data);
      this.pendingLength += data.length;
    }
    if (fin) {
      this.remoteFinReceived = true;
      // The pod side closed — or the dial failed, and the reason comes on the error stream, maybe
      // after this FIN (kwok sends it so): end cleanly only once the error stream ended empty.
      if (this.errorStreamDone) this.endReadable();
      else this.errorStreamWait ??= setTimeout(() => this.endReadable(), ERROR_TEXT_GRACE_MS);
    }
    return this.buffered() + this.pendingLength < this.readableHighWaterMark;
  }

  /**
   * Bytes handed on that the local side has not taken yet. Written directly, that is the socket's
   * queue: the same 256 KiB as the readable side's, not the socket's own 16 KiB mark, or the
   * session would pause and resume on nearly every write.
   */
  private buffered(): number {
    return this.direct ? this.direct.socket.writableLength : this.readableLength;
  }

  /**
   * Writes the pod's bytes to `socket` instead of this stream's readable side, and ends it after
   * the pod's FIN; resolves once the socket took the end, rejects (and destroys the socket) when
   * this connection fails. The pieces of one event-loop turn go out corked, as one writev: no join,
   * which was the largest single cost per MB of a download after the TLS reads (ADR 0014).
   */
  forwardTo(socket: Writable, count: (bytes: number) => void = () => undefined): Promise<void> {
    this.direct = { socket, count };
    socket.on("drain", () => this.session.resumeStream(this.dataStreamId));
    this.once("error", (error) => socket.destroy(error));
    this.once("close", () => {
      if (!this.readableEnded) socket.destroy(new Error("port-forward connection closed"));
    });
    this.resume(); // the readable side only ever carries the end, and must flow to emit it
    return finished(socket, { readable: false });
  }

  private flushPending(): void {
    if (this.pending.length === 0 || this.destroyed || this.readableEnded) return;
    if (this.direct) return this.writeDirect(this.direct);
    const data = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingLength);
    this.pending = [];
    this.pendingLength = 0;
    // Room left: the session may read on (it paused if onData said the reader was full).
    if (this.push(data)) this.session.resumeStream(this.dataStreamId);
  }

  private writeDirect({ socket, count }: { socket: Writable; count: (bytes: number) => void }): void {
    const pieces = this.pending;
    this.pending = [];
    count(this.pendingLength);
    this.pendingLength = 0;
    socket.cork();
    const last = pieces.length - 1;
    for (let i = 0; i < last; i += 1) socket.write(pieces[i]);
    // One writev: its last callback means the socket is done with every piece. After an error the
    // pieces are not given back (the socket may not be done with them); the collector takes them.
    socket.write(pieces[last] as Buffer, (error) => {
      if (!error) for (const piece of pieces) this.session.giveBack(piece);
    });
    socket.uncork();
    // Room left: the session may read on. Else the socket's "drain" resumes it (see forwardTo).
    if (socket.writableLength < this.readableHighWaterMark) this.session.resumeStream(this.dataStreamId);
  }

  private endReadable(): void {
    this.flushPending();
    this.direct?.socket.end();
    this.push(null);
  }

  private errorText(): string {
    return Buffer.concat(this.errorBytes).toString("utf8");
  }

  onReply(streamId: number): void {
    if (streamId !== this.dataStreamId || this.dataReplied) return;
    this.dataReplied = true;
    for (const go of this.waitingForReply.splice(0)) go();
  }

  onReset(streamId: number, status: number): void {
    if (streamId === this.errorStreamId) return this.onErrorStreamDone();
    if (this.errorStreamDone || this.errorLength > 0) return this.failWithErrorText(`port-forward stream reset by the server (status ${status})`);
    this.errorStreamWait ??= setTimeout(() => this.failWithErrorText(`port-forward stream reset by the server (status ${status})`), ERROR_TEXT_GRACE_MS);
  }

  /** The whole session ended (socket lost, GOAWAY past our streams, protocol error). */
  onSessionEnd(error: Error): void {
    this.destroy(error);
  }

  private onErrorStreamDone(): void {
    if (this.errorStreamDone) return;
    this.errorStreamDone = true;
    if (this.errorText().trim()) return this.failWithErrorText("");
    if (!this.errorStreamWait) return;
    clearTimeout(this.errorStreamWait);
    if (this.remoteFinReceived) this.endReadable();
    else this.failWithErrorText("port-forward stream reset by the server");
  }

  private failWithErrorText(fallback: string): void {
    const text = this.errorText().trim();
    this.destroy(text ? serverReportedError(text) : new Error(fallback));
  }

  override _read(): void {
    this.session.resumeStream(this.dataStreamId);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.session.pipeline && !this.dataReplied) {
      this.waitingForReply.push(() => this._write(chunk, _encoding, callback));
      return;
    }
    const size = this.session.maxDataFrame;
    for (let offset = 0; offset < chunk.length; offset += size) {
      const last = offset + size >= chunk.length;
      this.session.sendData(this.dataStreamId, chunk.subarray(offset, offset + size), 0, last ? callback : undefined);
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.localFinSent = true;
    this.session.sendData(this.dataStreamId, Buffer.alloc(0), FLAG_FIN, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.errorStreamWait);
    // Cleanly closed both ways needs no reset; anything else tells the server to drop the pod side.
    if (!(this.localFinSent && this.remoteFinReceived)) this.session.sendReset(this.dataStreamId, RstStatus.cancel);
    this.session.forget(this.errorStreamId, this.dataStreamId);
    callback(error);
  }
}
