import { LocError } from "../errors.js";

/**
 * How an expose takes the Service's traffic over:
 * - `scale`: the backing Deployments/StatefulSets go to 0 and the proxy pod carries the Service's
 *   selector labels (every consumer of those labels now reaches the laptop);
 * - `selector`: the Service's selector is pointed at the proxy pod alone; the application's pods keep
 *   running untouched (no restart, warm caches kept, direct pod consumers unaffected).
 */
export const EXPOSE_STRATEGIES = ["scale", "selector"] as const;
export type ExposeStrategy = (typeof EXPOSE_STRATEGIES)[number];
export const DEFAULT_STRATEGY: ExposeStrategy = "scale";

export function parseStrategy(text: string): ExposeStrategy {
  const found = EXPOSE_STRATEGIES.find((strategy) => strategy === text);
  if (found) return found;
  throw new LocError(`unknown strategy "${text}"; available: ${EXPOSE_STRATEGIES.join(", ")}`, "e.g. --strategy selector (keeps the app's pods running)", "UNKNOWN_STRATEGY");
}
