import { BehaviorSubject, type Observable, type Subscription } from "rxjs";
import type { EventStore } from "./event-store.js";
import { evolve, fold, type Summaries } from "./projection.js";

/**
 * The projection kept current as this process appends: seeded by folding the whole log once, then
 * advanced one event at a time. Must always equal `fold(store.read())`. Reads and appends are
 * synchronous, so no append can slip between the seeding read and the subscription.
 */
export class LiveProjection {
  private readonly state: BehaviorSubject<Summaries>;
  private readonly subscription: Subscription;

  constructor(store: EventStore) {
    this.state = new BehaviorSubject(fold(store.read()));
    this.subscription = store.appended$.subscribe((event) => this.state.next(evolve(this.state.value, event)));
  }

  get current(): Summaries {
    return this.state.value;
  }

  get changes$(): Observable<Summaries> {
    return this.state.asObservable();
  }

  stop(): void {
    this.subscription.unsubscribe();
    this.state.complete();
  }
}
