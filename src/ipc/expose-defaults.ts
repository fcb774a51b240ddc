import { DEFAULT_PROXY_IMAGE, DEFAULT_PROXY_UID, DEFAULT_PROXY_USER, DEFAULT_SSH_PORT } from "../expose/proxy-pod.js";
import { DEFAULT_STRATEGY } from "../expose/strategy.js";

/**
 * What an expose uses when `loc expose` leaves a flag out: the CLI's help shows these and the
 * daemon applies them (toExposeSpec), so the two cannot disagree. Kept apart from the parser so
 * src/cli/program.ts can show them without loading it.
 */
export const EXPOSE_DEFAULTS = {
  transport: "ssh",
  strategy: DEFAULT_STRATEGY,
  image: DEFAULT_PROXY_IMAGE,
  user: DEFAULT_PROXY_USER,
  runAsUser: DEFAULT_PROXY_UID,
  sshPort: DEFAULT_SSH_PORT,
  readyTimeoutMs: 60_000,
  connectTimeoutMs: 60_000,
} as const;
