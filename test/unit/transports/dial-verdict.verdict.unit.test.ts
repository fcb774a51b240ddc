import { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import { awaitDialVerdict, PodDialError, serverReportedError } from "../../../src/transports/dial-verdict.js";

/** A pod connection the test drives: what the pod side does, and whether our side was ended. */
function podConnection() {
  const seen = { ended: false };
  const stream = new Duplex({
    read() {},
    write(_chunk, _encoding, done) {
      done();
    },
    final(done) {
      seen.ended = true;
      done();
    },
  });
  return { stream, seen };
}

describe("awaitDialVerdict", () => {
  it("accepts as soon as the pod side sends bytes", async () => {
    const { stream } = podConnection();
    const verdict = awaitDialVerdict(stream, { halfClose: false, silenceMs: 60_000 });
    stream.push("SSH-2.0-OpenSSH_9.2\r\n");
    await expect(verdict).resolves.toBeUndefined();
    expect(stream.destroyed).toBe(true);
  });

  it("accepts a clean close after our half-close, which it sends only when asked", async () => {
    for (const halfClose of [true, false]) {
      const { stream, seen } = podConnection();
      const verdict = awaitDialVerdict(stream, { halfClose, silenceMs: 60_000 });
      await new Promise((resolve) => setImmediate(resolve));
      expect(seen.ended).toBe(halfClose);
      stream.push(null);
      stream.resume();
      await expect(verdict).resolves.toBeUndefined();
    }
  });

  it("rejects with the dial error the server reports, and destroys the stream", async () => {
    const { stream } = podConnection();
    const verdict = awaitDialVerdict(stream, { halfClose: true, silenceMs: 60_000 });
    stream.destroy(new PodDialError('port-forward: no forward found for port 8080 in pod "shop/web-0"'));
    await expect(verdict).rejects.toThrow(PodDialError);
    await expect(verdict).rejects.toThrow(/no forward found for port 8080/);
  });

  it("accepts after the silence window when the pod side takes the connection and waits", async () => {
    const { stream } = podConnection();
    const started = performance.now();
    await awaitDialVerdict(stream, { halfClose: true, silenceMs: 50 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(stream.destroyed).toBe(true);
  });

  it("an error after the verdict is not an unhandled error", async () => {
    const { stream } = podConnection();
    const verdict = awaitDialVerdict(stream, { halfClose: false, silenceMs: 60_000 });
    stream.push("x");
    await verdict;
    stream.emit("error", new Error("late"));
  });

  it("takes a verdict that came before it listened (with the reply that opened the stream)", async () => {
    const failed = podConnection().stream;
    failed.on("error", () => undefined).destroy(new PodDialError("port-forward: connection refused"));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(awaitDialVerdict(failed, { halfClose: false, silenceMs: 60_000 })).rejects.toThrow(/connection refused/);
    const closed = podConnection().stream;
    closed.destroy();
    await expect(awaitDialVerdict(closed, { halfClose: false, silenceMs: 60_000 })).resolves.toBeUndefined();
  });

  it("rejects when aborted, before or while waiting", async () => {
    const before = new AbortController();
    before.abort();
    await expect(awaitDialVerdict(podConnection().stream, { halfClose: true, signal: before.signal })).rejects.toThrow(/aborted/);
    const during = new AbortController();
    const { stream } = podConnection();
    const verdict = awaitDialVerdict(stream, { halfClose: true, silenceMs: 60_000, signal: during.signal });
    during.abort();
    await expect(verdict).rejects.toThrow(/aborted/);
    expect(stream.destroyed).toBe(true);
  });
});

// Verbatim from the real node's kubelet + containerd 1.6 (test/cluster/real-node) and from kwok.
const CONTAINERD = 'error forwarding port 9 to pod 51bc0d53ff11, uid : failed to execute portforward in network namespace "/var/run/netns/cni-355bba43": ';
describe("serverReportedError", () => {
  it("calls a failed dial a PodDialError, and a connection that broke later a plain error", () => {
    const dial = [
      `${CONTAINERD}failed to connect to localhost:9 inside namespace "51bc0d53ff11", IPv4: dial tcp4 127.0.0.1:9: connect: connection refused IPv6 dial tcp6: address localhost: no suitable address found`,
      'error forwarding port 8080 to pod web-0/shop, uid : no forward found for port 8080 in pod "shop/web-0"',
      "error forwarding port 1 to pod fake: connection refused",
    ];
    for (const text of dial) expect(serverReportedError(text), text).toBeInstanceOf(PodDialError);
    // Short, leading with what is wrong; the whole text kept for the log.
    const [containerd, kwok] = dial.map(serverReportedError) as [PodDialError, PodDialError];
    expect(containerd.message).toBe("port-forward: nothing listens on the pod's port 9 (connection refused)");
    expect(containerd.detail).toBe(`port-forward: ${dial[0]}`);
    expect(kwok.message).toBe("port-forward: no forward found for port 8080");
    const broke = serverReportedError(`${CONTAINERD}read tcp4 127.0.0.1:34494->127.0.0.1:8080: read: connection reset by peer`);
    expect(broke).not.toBeInstanceOf(PodDialError);
    expect(broke.message).toMatch(/^port-forward: error forwarding port 9 .*connection reset by peer$/);
  });
});
