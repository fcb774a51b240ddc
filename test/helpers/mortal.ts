// A daemon process as the recovery tests and the recovery benchmark kill it, in process: once dead,
// every cluster call it makes hangs forever (nothing more reaches the cluster) and nothing more it
// records lands in the event log. What a SIGKILL leaves, without a process to kill.
import type { NewEvent } from "../../src/store/events.js";

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

export interface DeathRule {
  /** Asked after every finished call (`failed`: it was refused): does the process die right after this one? */
  dieAfter?: (operation: string, args: unknown[], failed: boolean) => boolean;
  /** Die before the caller sees that call's answer (so its outcome is never recorded); else just after. */
  loseAnswer?: boolean;
}

export class Mortal {
  dead = false;
  private doomed = false;
  private resolveDied: () => void = () => undefined;
  readonly died = new Promise<void>((resolve) => (this.resolveDied = resolve));

  die(): void {
    this.dead = true;
    this.resolveDied();
  }

  /** `target` as this process sees it. */
  view<T extends object>(target: T, rule: DeathRule = {}): T {
    return new Proxy(target, {
      get: (object, prop, receiver) => {
        const value: unknown = Reflect.get(object, prop, receiver);
        if (typeof value !== "function") return value;
        return async (...args: unknown[]) => {
          if (this.doomed) this.die();
          if (this.dead) return never();
          let result: unknown;
          let failure: { error: unknown } | undefined;
          try {
            result = await (value as (...a: unknown[]) => Promise<unknown>).apply(object, args);
          } catch (error) {
            failure = { error };
          }
          if (!this.dead && rule.dieAfter?.(String(prop), args, failure !== undefined)) {
            if (rule.loseAnswer) this.die();
            else this.doomed = true;
          }
          if (this.dead) return never();
          if (failure) throw failure.error;
          return result;
        };
      },
    });
  }

  /** A recorder that drops everything once the process is dead. */
  recorder(append: (stream: string, event: NewEvent) => void): (stream: string, event: NewEvent) => void {
    return (stream, event) => {
      if (!this.dead) append(stream, event);
    };
  }
}
