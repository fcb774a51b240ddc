import { LocError } from "../errors.js";
import type { ExposeHandle, ExposeService } from "../daemon/core.js";
import type { ExposeSpec } from "./expose-params.js";
import type { DaemonResponse, ExposeEnd, UnexposeParams } from "./protocol.js";

export interface Connection {
  send(response: DaemonResponse): void;
  /** Runs when the client's connection closes. */
  onClose(cleanup: () => void): void;
}

/**
 * `expose`: starts a session and streams its events. A foreground session lives as long as the
 * command's connection: if the command dies (even SIGKILL), the daemon stops the session and undoes
 * it. A detached one ends the conversation once active and lives until `unexpose` or shutdown.
 */
export function serveExpose(connection: Connection, exposes: ExposeService | undefined, id: number, spec: ExposeSpec): void {
  const session = exposes?.create(spec) ?? unavailable();
  const off = stream(connection, id, session);
  let ended = false;
  const end = (outcome: ExposeEnd) => {
    if (ended) return;
    ended = true;
    off();
    connection.send({ id, ok: true, session: session.id, end: outcome });
  };
  void session.done.then(end);
  if (spec.detach) {
    const offActive = session.onEvent((event) => {
      if (event.type !== "expose.active") return;
      offActive();
      end({ state: "detached" });
    });
  }
  // Until it has ended (or detached), a session belongs to its command: if that goes away, so does the session.
  connection.onClose(() => {
    if (!ended) void session.stop("the loc expose command went away");
  });
  session.start();
}

/** `unexpose`: stops the Service's session and streams the undo until it has ended. */
export function serveUnexpose(connection: Connection, exposes: ExposeService | undefined, id: number, params: UnexposeParams): void {
  const found = exposes?.find(params.service);
  // A Ctrl-C names its own session, so it can never stop another command's expose of the same Service.
  const session = params.session === undefined || found?.id === params.session ? found : undefined;
  if (!session) {
    throw new LocError(`${params.service} is not exposed by this daemon`, "loc list shows the running exposes", "NOT_EXPOSED");
  }
  const off = stream(connection, id, session);
  void session.stop("stopped by loc expose --stop").then((outcome) => {
    off();
    connection.send({ id, ok: true, session: session.id, end: outcome });
  });
}

function stream(connection: Connection, id: number, session: ExposeHandle): () => void {
  return session.onEvent((event) => connection.send({ id, ok: true, session: session.id, event, time: Date.now() }));
}

export function unavailable(): never {
  throw new LocError("this loc daemon cannot expose services", "restart it with a kubeconfig that can edit the cluster", "EXPOSE_UNAVAILABLE");
}
