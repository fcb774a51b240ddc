import { Duplex } from "node:stream";
import { FLAG_FIN, RstStatus } from "./frames.js";

/** What a connection needs from its session; kept narrow so the session's internals stay private. */
export interface StreamSender {
  readonly pipeline: boolean;
  readonly maxDataFrame: number;
  sendData(streamId: number, data: Buffer, flags: number, done?: (error?: Error | null) => void): void;
  sendReset(streamId: number, status: number): void;
  resumeStream(streamId: number): void;
  forget(...streamIds: number[]): void;
}

// The kubelet writes the dial error as text; anything longer is not a message worth keeping whole.
const MAX_ERROR_TEXT = 16 * 1024;
// spdystream queues DATA by priority but sends RST_STREAM at once, so a reset can overtake the error
// text explaining it; wait this long for the text before failing with a bare "reset".
const ERROR_TEXT_GRACE_MS = 200;

/**
 * One local TCP connection carried as kubectl carries it: an error stream (the server writes a dial
 * failure there) and a data stream, paired by `requestid`. Its failure never touches the session.
 */
export class PortForwardConnection extends Duplex {
  private errorText = "";
  private dataReplied = false;
  private readonly waitingForReply: (() => void)[] = [];
  private localFinSent = false;
  private remoteFinReceived = false;
  private errorStreamDone = false;
  private resetTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly session: StreamSender,
    readonly port: number,
    readonly errorStreamId: number,
    readonly dataStreamId: number,
  ) {
    super({ allowHalfOpen: false });
  }

  /** DATA on one of our two streams; returns false when the reader is full (the session pauses). */
  onData(streamId: number, data: Buffer, flags: number): boolean {
    if (this.destroyed) return true;
    const fin = (flags & FLAG_FIN) !== 0;
    if (streamId === this.errorStreamId) {
      if (this.errorText.length < MAX_ERROR_TEXT) this.errorText += data.toString("utf8");
      if (fin) this.onErrorStreamDone();
      return true;
    }
    let more = true;
    if (data.length) more = this.push(data);
    if (fin) {
      this.remoteFinReceived = true;
      this.push(null);
    }
    return more;
  }

  onReply(streamId: number): void {
    if (streamId !== this.dataStreamId || this.dataReplied) return;
    this.dataReplied = true;
    for (const go of this.waitingForReply.splice(0)) go();
  }

  onReset(streamId: number, status: number): void {
    if (streamId === this.errorStreamId) return this.onErrorStreamDone();
    if (this.errorStreamDone || this.errorText) return this.failWithErrorText(`port-forward stream reset by the server (status ${status})`);
    this.resetTimer ??= setTimeout(() => this.failWithErrorText(`port-forward stream reset by the server (status ${status})`), ERROR_TEXT_GRACE_MS);
  }

  /** The whole session ended (socket lost, GOAWAY past our streams, protocol error). */
  onSessionEnd(error: Error): void {
    this.destroy(error);
  }

  private onErrorStreamDone(): void {
    this.errorStreamDone = true;
    if (this.errorText.trim()) this.failWithErrorText("");
    else if (this.resetTimer) this.failWithErrorText("port-forward stream reset by the server");
  }

  private failWithErrorText(fallback: string): void {
    const text = this.errorText.trim();
    this.destroy(new Error(text ? `port-forward: ${text}` : fallback));
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
    clearTimeout(this.resetTimer);
    // Cleanly closed both ways needs no reset; anything else tells the server to drop the pod side.
    if (!(this.localFinSent && this.remoteFinReceived)) this.session.sendReset(this.dataStreamId, RstStatus.cancel);
    this.session.forget(this.errorStreamId, this.dataStreamId);
    callback(error);
  }
}
