import type { NewEvent } from "../store/events.js";
import { converse, type ClientOptions } from "./client.js";
import { isExposeEndAnswer, isExposeEventAnswer, isRefusalAnswer, protocolError, refusalError } from "./parse.js";
import type { ExposeEnd, ExposeRequest } from "./protocol.js";

export interface ExposeProgress {
  onEvent(event: NewEvent, session: string, time: number): void;
}

const FIRST = 1;
const STOP = 2;

/**
 * Runs one `expose` or `unexpose` conversation with the daemon, handing each recorded step to
 * `progress`, and resolves with how the session ended. Aborting `stop` (Ctrl-C) asks the daemon to
 * stop and undo the session, and keeps streaming until the undo has finished.
 */
export async function converseExpose(stateDir: string, request: ExposeRequest, progress: ExposeProgress, stop: AbortSignal | undefined, options: ClientOptions = {}): Promise<{ session: string; end: ExposeEnd }> {
  let result: { session: string; end: ExposeEnd } | undefined;
  await converse(stateDir, { id: FIRST, ...request }, undefined, options, (answer, conversation) => {
    // The stop request's own stream repeats the session's events; its refusal only means "already over".
    if (answer.id === STOP) return true;
    if (isRefusalAnswer(answer)) throw refusalError(answer);
    if (!isExposeEventAnswer(answer) && !isExposeEndAnswer(answer)) throw protocolError();
    if (stop) {
      // Armed by the first accepted answer, and aimed at this session only: before it there is
      // nothing of ours to stop (a refusal must never make Ctrl-C stop someone else's expose).
      const signal = stop;
      const session = answer.session;
      stop = undefined;
      const sendStop = () => conversation.send({ id: STOP, method: "unexpose", params: { service: request.params.service, session } });
      if (signal.aborted) sendStop();
      else signal.addEventListener("abort", sendStop, { once: true });
    }
    if (isExposeEndAnswer(answer)) {
      result = { session: answer.session, end: answer.end };
      return false;
    }
    progress.onEvent(answer.event, answer.session, answer.time);
    return true;
  });
  if (!result) throw protocolError();
  return result;
}
