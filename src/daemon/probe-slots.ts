// A daemon watching a thousand Services starts a thousand tunnels at once, and each probes its pod:
// unbounded, that was a thousand port-forward upgrades at the API server in the same second (the
// kind of burst API priority and fairness throttles) and as many TLS connections open here at the
// peak, whose memory the allocator keeps after they close. Probes take a slot; users' own
// connections never wait for one.

/** Counts what runs at once; the rest wait in order of arrival. */
export class ProbeSlots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new Error(`probe slots must be at least 1, not ${limit}`);
  }

  /** Resolves with the release once a slot is free; an abort while waiting gives up the place. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new Error("probe aborted"));
    if (this.running < this.limit) return Promise.resolve(this.take());
    return new Promise((resolve, reject) => {
      const turn = () => {
        signal?.removeEventListener("abort", abort);
        resolve(this.take());
      };
      const abort = () => {
        const at = this.waiting.indexOf(turn);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(new Error("probe aborted"));
      };
      signal?.addEventListener("abort", abort, { once: true });
      this.waiting.push(turn);
    });
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  private take(): () => void {
    this.running += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running -= 1;
      this.waiting.shift()?.();
    };
  }
}
