import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { dataFrameHeader, encodeFrame, FLAG_FIN, FrameParser, MAX_STREAM_ID, RstStatus, type Frame } from "./frames.js";
import { HeaderCompressor, HeaderDecompressor } from "./header-block.js";
import type { GiveBack } from "./read-slabs.js";
import { PortForwardConnection, type StreamSender } from "./port-forward-connection.js";

export interface SessionOptions {
  /** Send the first DATA right after the SYN_STREAMs instead of waiting for the SYN_REPLY. */
  pipeline?: boolean;
  pingIntervalMs?: number;
  /** Unanswered pings after which the session counts as dead. */
  maxMissedPings?: number;
  maxDataFrame?: number;
}

type Done = (error?: Error | null) => void;

/** What the session reads from: pausable, and taking back bytes done with (read-slabs.ts). */
interface Reading {
  pause(): void;
  resume(): void;
  giveBack?: GiveBack;
}

/** A byte pipe that can hand its reads to one receiver directly (websocket-pipe.ts). */
interface Feeding {
  feed(receive: (chunk: Buffer) => void): Reading;
}

function canFeed(socket: Duplex): socket is Duplex & Feeding {
  return typeof (socket as Partial<Feeding>).feed === "function";
}

/**
 * A client SPDY/3.1 session for port-forward over any byte duplex (an upgraded socket, or a
 * WebSocket tunnelling the same bytes). The server does no flow control, so back-pressure is the
 * byte duplex's: writes complete when it accepted them, and a full local reader pauses it.
 *
 * Events: "goaway" (no new streams; live ones go on), "closed" (Error) once, "idle" when the last
 * stream is gone.
 */
export class SpdySession extends EventEmitter implements StreamSender {
  readonly pipeline: boolean;
  readonly maxDataFrame: number;
  // DATA payloads go on as they arrive, as views of the read chunks: never gathered or copied.
  private readonly parser = new FrameParser({ streamData: true, consumed: (memory, bytes) => this.reading.giveBack?.(memory, bytes) });
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor = new HeaderDecompressor();
  private readonly connections = new Map<number, PortForwardConnection>();
  private readonly fullStreams = new Set<number>();
  private nextStreamId = 1;
  private nextRequestId = 0;
  private nextPingId = 1;
  private unansweredPings = 0;
  private readonly pingTimer: NodeJS.Timeout;
  private outgoing: Buffer[] = [];
  private outgoingDone: Done[] = [];
  private flushScheduled = false;
  private state: "open" | "goingAway" | "closed" = "open";
  /** Pauses and resumes what the session reads from (a full local reader holds it). */
  private readonly reading: Reading;
  private closeReason: Error | undefined;

  constructor(
    private readonly socket: Duplex,
    options: SessionOptions = {},
  ) {
    super();
    this.pipeline = options.pipeline ?? true;
    this.maxDataFrame = options.maxDataFrame ?? 64 * 1024;
    const maxMissedPings = options.maxMissedPings ?? 2;
    // A pipe that can feed us directly does (the WebSocket tunnel): no Readable in between.
    if (canFeed(socket)) this.reading = socket.feed((chunk) => this.onBytes(chunk));
    else {
      socket.on("data", (chunk: Buffer) => this.onBytes(chunk));
      this.reading = socket;
    }
    socket.on("end", () => this.fail(new Error("port-forward session ended by the server")));
    socket.on("close", () => this.fail(new Error("port-forward session connection closed")));
    socket.on("error", (error: Error) => this.fail(new Error(`port-forward session connection failed: ${error.message}`)));
    this.pingTimer = setInterval(() => {
      // While a full local reader holds the socket paused, ping replies cannot be read: not a death.
      if (this.fullStreams.size > 0) this.unansweredPings = 0;
      if (this.unansweredPings >= maxMissedPings) return this.fail(new Error(`port-forward session: ${this.unansweredPings} pings unanswered`));
      this.unansweredPings += 1;
      this.queueFrame({ type: "ping", id: this.nextPingId });
      this.nextPingId = this.nextPingId >= 0x7ffffffd ? 1 : this.nextPingId + 2;
    }, options.pingIntervalMs ?? 10_000).unref();
  }

  get isOpen(): boolean {
    return this.state === "open" && this.nextStreamId + 2 <= MAX_STREAM_ID;
  }

  get isClosed(): boolean {
    return this.state === "closed";
  }

  get connectionCount(): number {
    return new Set(this.connections.values()).size;
  }

  /** Why the session closed, once it has. */
  get reason(): Error | undefined {
    return this.closeReason;
  }

  /** A new pod connection: two SYN_STREAMs now; the first bytes may follow at once (pipeline). */
  openConnection(port: number): PortForwardConnection {
    if (!this.isOpen) throw new Error(`port-forward session is ${this.state === "open" ? "out of stream ids" : this.state}`);
    const errorId = this.nextStreamId;
    const dataId = errorId + 2;
    this.nextStreamId += 4;
    const requestId = String(this.nextRequestId++);
    const connection = new PortForwardConnection(this, port, errorId, dataId);
    this.connections.set(errorId, connection).set(dataId, connection);
    const headers = (type: string): [string, string][] => [["streamtype", type], ["port", String(port)], ["requestid", requestId]];
    // Like kubectl: the error stream is only read, so our side of it is closed right away (empty FIN).
    this.queueFrame({ type: "synStream", streamId: errorId, associatedId: 0, priority: 0, flags: 0, headerBlock: this.compressor.compress(headers("error")) });
    this.queueFrame({ type: "data", streamId: errorId, flags: FLAG_FIN, data: Buffer.alloc(0) });
    this.queueFrame({ type: "synStream", streamId: dataId, associatedId: 0, priority: 0, flags: 0, headerBlock: this.compressor.compress(headers("data")) });
    return connection;
  }

  /** Ends the session: GOAWAY, then every connection fails and the socket is closed. */
  close(reason = new Error("port-forward session closed")): void {
    if (this.state === "closed") return;
    this.queueFrame({ type: "goAway", lastGoodStreamId: 0, status: 0 });
    this.flush();
    this.fail(reason, true);
  }

  sendData(streamId: number, data: Buffer, flags: number, done?: Done): void {
    if (this.state === "closed") return done?.(this.closeReason);
    this.queueFrame({ type: "data", streamId, flags, data }, done);
  }

  sendReset(streamId: number, status: number): void {
    if (this.state !== "closed") this.queueFrame({ type: "rstStream", streamId, status });
  }

  /** A DATA piece its connection is done with: its memory may be read into again. */
  giveBack(piece: Buffer): void {
    this.reading.giveBack?.(piece.buffer, piece.length);
  }

  resumeStream(streamId: number): void {
    if (!this.fullStreams.delete(streamId)) return;
    if (this.fullStreams.size === 0 && this.state !== "closed") this.reading.resume();
  }

  forget(...streamIds: number[]): void {
    for (const id of streamIds) {
      this.connections.delete(id);
      this.resumeStream(id);
    }
    if (this.connections.size === 0) {
      if (this.state === "goingAway") this.close(new Error("port-forward session ended after GOAWAY"));
      else if (this.state === "open") this.emit("idle");
    }
  }

  // Frames written in the same tick go out as one write (one WebSocket message, one TCP segment).
  private queueFrame(frame: Frame, done?: Done): void {
    // A DATA payload is copied once, into the write below, not first into a frame of its own.
    if (frame.type === "data") this.outgoing.push(dataFrameHeader(frame.streamId, frame.flags, frame.data.length), frame.data);
    else this.outgoing.push(encodeFrame(frame));
    if (done) this.outgoingDone.push(done);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outgoing.length === 0) return;
    const pieces = this.outgoing;
    const callbacks = this.outgoingDone;
    this.outgoing = [];
    this.outgoingDone = [];
    if (this.socket.destroyed || !this.socket.writable) {
      const error = this.closeReason ?? new Error("port-forward session connection closed");
      return callbacks.forEach((done) => done(error));
    }
    // Corked, the tick's frames reach the pipe together, not joined: the WebSocket tunnel masks them
    // into one message with one copy (its _writev), a plain socket sends them with one writev.
    this.socket.cork();
    const last = pieces.length - 1;
    for (let i = 0; i < last; i += 1) this.socket.write(pieces[i]);
    this.socket.write(pieces[last], (error) => callbacks.forEach((done) => done(error)));
    this.socket.uncork();
  }

  private onBytes(chunk: Buffer): void {
    // Any bytes prove the server alive: behind a long download on a slow link a ping's reply can
    // queue for longer than the ping interval, and a session carrying data must not be dropped.
    this.unansweredPings = 0;
    let frames: Frame[];
    try {
      frames = this.parser.push(chunk);
    } catch (error) {
      return this.fail(error as Error);
    }
    for (const frame of frames) {
      if (this.state === "closed") return;
      this.onFrame(frame);
    }
  }

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case "data": {
        const connection = this.connections.get(frame.streamId);
        // DATA for a stream we already reset is expected for a moment; drop it.
        if (!connection) return this.giveBack(frame.data);
        if (!connection.onData(frame.streamId, frame.data, frame.flags)) {
          this.fullStreams.add(frame.streamId);
          this.reading.pause();
        }
        return;
      }
      case "synReply":
      case "headers":
        // Every block goes through the shared inflate context, or the next one would not decode.
        this.checkHeaders(frame.headerBlock);
        if (frame.type === "synReply") this.connections.get(frame.streamId)?.onReply(frame.streamId);
        return;
      case "synStream":
        this.checkHeaders(frame.headerBlock);
        this.queueFrame({ type: "rstStream", streamId: frame.streamId, status: RstStatus.refusedStream });
        return;
      case "rstStream":
        this.connections.get(frame.streamId)?.onReset(frame.streamId, frame.status);
        return;
      case "ping":
        if (frame.id % 2 === 1) this.unansweredPings = 0;
        else this.queueFrame({ type: "ping", id: frame.id });
        return;
      case "goAway":
        this.onGoAway(frame.lastGoodStreamId);
        return;
      case "settings":
      case "windowUpdate":
        return; // The server does no flow control and ignores ours; nothing to do.
    }
  }

  private checkHeaders(block: Buffer): void {
    this.decompressor.decompress(block).catch((error: Error) => this.fail(error));
  }

  private onGoAway(lastGoodStreamId: number): void {
    if (this.state !== "open") return;
    this.state = "goingAway";
    this.emit("goaway");
    for (const [id, connection] of this.connections) {
      if (id > lastGoodStreamId) connection.onSessionEnd(new Error("port-forward stream refused: the server is going away"));
    }
    if (this.connections.size === 0) this.close(new Error("port-forward session ended after GOAWAY"));
  }

  private fail(reason: Error, graceful = false): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.closeReason = reason;
    clearInterval(this.pingTimer);
    for (const connection of new Set(this.connections.values())) connection.onSessionEnd(reason);
    this.connections.clear();
    this.decompressor.close();
    if (graceful) this.socket.end();
    else this.socket.destroy();
    this.emit("closed", reason);
  }
}
