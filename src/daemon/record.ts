import { ANY_VERSION, type EventStore } from "../store/event-store.js";
import type { NewEvent } from "../store/events.js";

export type Recorder = (stream: string, event: NewEvent) => void;

/** Appends one event. A failing log must not take tunnels or exposes down with it: it is said loudly instead. */
export function safeRecorder(store: EventStore, log?: (line: string) => void): Recorder {
  return (stream, event) => {
    try {
      store.append(stream, [event], ANY_VERSION);
    } catch (error) {
      log?.(`loc: could not record ${event.type} in ${stream}: ${(error as Error).message}`);
    }
  };
}
