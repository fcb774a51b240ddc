import type { NewEvent } from "../store/events.js";
import { acceptAnswer, converse, protocolError, readAnswer, type ClientOptions } from "./client.js";
import type { ExposeEnd, ExposeParams } from "./expose-api.js";

export interface ExposeProgress {
  onEvent(event: NewEvent, session: string, time: number): void;
}

export type ExposeRequest = { method: "expose"; params: ExposeParams } | { method: "unexpose"; params: { service: string; session?: string } };

const FIRST = 1;
const STOP = 2;

/**
 * Runs one `expose` or `unexpose` conversation with the daemon, handing each recorded step to
 * `progress`, and resolves with how the session ended. Aborting `stop` (Ctrl-C) asks the daemon to
 * stop and undo the session, and keeps streaming until the undo has finished.
 */
export async function converseExpose(stateDir: string, request: ExposeRequest, progress: ExposeProgress, stop: AbortSignal | undefined, options: ClientOptions = {}): Promise<{ session: string; end: ExposeEnd }> {
  let result: { session: string; end: ExposeEnd } | undefined;
  await converse(stateDir, { id: FIRST, ...request } as never, undefined, options, (line, conversation) => {
    // The stop request's own stream repeats the session's events; its refusal only means "already over".
    const fields = readAnswer(line);
    if (fields.id === STOP) return true;
    acceptAnswer(fields);
    if (fields.ok !== true || typeof fields.session !== "string") throw protocolError();
    if (stop) {
      // Armed by the first accepted answer, and aimed at this session only: before it there is
      // nothing of ours to stop (a refusal must never make Ctrl-C stop someone else's expose).
      const signal = stop;
      const session = fields.session;
      stop = undefined;
      const sendStop = () => conversation.send({ id: STOP, method: "unexpose", params: { service: request.params.service, session } });
      if (signal.aborted) sendStop();
      else signal.addEventListener("abort", sendStop, { once: true });
    }
    if (typeof fields.end === "object" && fields.end !== null) {
      result = { session: fields.session, end: fields.end as ExposeEnd };
      return false;
    }
    const event = fields.event as NewEvent | undefined;
    if (typeof event?.type !== "string") throw protocolError();
    progress.onEvent(event, fields.session, typeof fields.time === "number" ? fields.time : Date.now());
    return true;
  });
  if (!result) throw protocolError();
  return result;
}
