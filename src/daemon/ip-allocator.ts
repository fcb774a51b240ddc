import { LocError } from "../errors.js";

/** `loc daemon --ip-range` default; here, not in the daemon command, so the CLI's help needs no daemon code. */
export const DEFAULT_IP_RANGE = "127.1.0.0/16";

/** An IPv4 range inside 127.0.0.0/8, e.g. `127.1.0.0/16`. */
export interface LoopbackRange {
  first: number;
  last: number;
}

const toInt = (ip: string) => ip.split(".").reduce((n, part) => n * 256 + Number(part), 0);
const toIp = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");

export function parseLoopbackRange(cidr: string): LoopbackRange {
  const match = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const bits = Number(match?.[4]);
  if (!match || match.slice(1, 4).some((o) => Number(o) > 255) || bits < 8 || bits > 30) {
    throw new LocError(`--ip-range "${cidr}" is not a loopback range`, "use a CIDR inside 127.0.0.0/8 with a prefix of /8 to /30, e.g. 127.1.0.0/16", "BAD_FLAG");
  }
  const size = 2 ** (32 - bits);
  const base = toInt(cidr.split("/")[0] ?? "") - (toInt(cidr.split("/")[0] ?? "") % size);
  // Skip the network address and 127.0.0.1 (the machine's own localhost services live there).
  return { first: Math.max(base + 1, toInt("127.0.0.2")), last: base + size - 2 };
}

/**
 * Gives each service its own loopback IP, the same one across daemon restarts (the daemon replays
 * `address.assigned` events into `restore`). Never hands one IP to two services. When the range is
 * full, the longest-unused assignment of a service that is gone is reclaimed.
 */
export class IpAllocator {
  private readonly byService = new Map<string, string>();
  private readonly byIp = new Map<string, string>();
  private next: number;

  constructor(private readonly range: LoopbackRange) {
    this.next = range.first;
  }

  /** Replays a persisted assignment (oldest first); a later one for the same IP wins. */
  restore(service: string, ip: string): void {
    const n = toInt(ip);
    if (n < this.range.first || n > this.range.last) return;
    this.release(service);
    const previousOwner = this.byIp.get(ip);
    if (previousOwner) this.byService.delete(previousOwner);
    this.byService.set(service, ip);
    this.byIp.set(ip, service);
  }

  ipOf(service: string): string | undefined {
    return this.byService.get(service);
  }

  /**
   * The service's IP, assigning a free one if needed. `active` is the set of services that exist
   * now; only others' addresses may be reclaimed. Returns whether the assignment is new.
   */
  assign(service: string, active: ReadonlySet<string>): { ip: string; fresh: boolean; reclaimedFrom?: string } {
    const existing = this.byService.get(service);
    if (existing) return { ip: existing, fresh: false };
    const size = this.range.last - this.range.first + 1;
    for (let tried = 0; tried < size; tried++) {
      const ip = toIp(this.next);
      this.next = this.next >= this.range.last ? this.range.first : this.next + 1;
      if (!this.byIp.has(ip)) {
        this.take(service, ip);
        return { ip, fresh: true };
      }
    }
    // Full: Map iteration order is assignment order, so the first inactive owner is the oldest.
    for (const [ip, owner] of this.byIp) {
      if (!active.has(owner)) {
        this.release(owner);
        this.take(service, ip);
        return { ip, fresh: true, reclaimedFrom: owner };
      }
    }
    throw new LocError(`no free loopback address for ${service}: all ${size} are in use`, "widen --ip-range, or narrow the watched namespaces with -n / -l", "IP_RANGE_FULL");
  }

  release(service: string): string | undefined {
    const ip = this.byService.get(service);
    if (ip === undefined) return undefined;
    this.byService.delete(service);
    this.byIp.delete(ip);
    return ip;
  }

  private take(service: string, ip: string): void {
    this.byService.set(service, ip);
    this.byIp.set(ip, service);
  }
}
