// The local label-selector parser against the real API server of the test cluster: for every
// selector of a corpus (the unit table, generated valid selectors, near-selectors and junk) the
// local verdict must be the server's. The server parses `labelSelector` with labels.Parse and
// answers 400 when it refuses; the query goes out the way the daemon sends it (URL searchParams).
import { KubeConfig } from "@kubernetes/client-node";
import fc from "fast-check";
import fetch from "node-fetch";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { LocError } from "../../../src/errors.js";
import { parseLabelSelector } from "../../../src/kube/label-selector.js";
import { acceptedSelectors, refusedSelectors, selectorishArb, validSelectorArb } from "../../helpers/label-selector-corpus.js";

type Verdict = "accepted" | "refused";

function localVerdict(selector: string): Verdict {
  try {
    parseLabelSelector(selector);
    return "accepted";
  } catch (error) {
    if (error instanceof LocError) return "refused";
    throw error;
  }
}

async function serverVerdict(config: KubeConfig, selector: string): Promise<Verdict> {
  const server = config.getCurrentCluster()?.server;
  if (!server) throw new Error("the test kubeconfig names no cluster");
  const url = new URL(`${server}/api/v1/services`);
  url.searchParams.set("limit", "1");
  url.searchParams.set("labelSelector", selector);
  const response = await fetch(url.toString(), await config.applyToFetchOptions({}));
  const body = await response.text();
  if (response.status === 200) return "accepted";
  if (response.status === 400) return "refused";
  throw new Error(`GET ${url.pathname}${url.search}: unexpected ${response.status} ${body.slice(0, 200)}`);
}

/** Valid selectors with one character inserted, dropped or replaced: mostly refused, not always. */
const nearSelectorArb = fc
  .tuple(validSelectorArb, fc.nat(), fc.constantFrom("", ",", "(", ")", "=", "!", " ", "-", "_", ".", "/", "A", "é", "\0"), fc.constantFrom(0, 1))
  .map(([{ text }, at, ch, drop]) => {
    const cut = text.length === 0 ? 0 : at % text.length;
    return text.slice(0, cut) + ch + text.slice(cut + drop);
  });

const seed = 20260723; // fixed, so a failure names a selector that fails again
const corpus = [
  ...new Set([
    ...acceptedSelectors.map(([selector]) => selector),
    ...refusedSelectors.map(([selector]) => selector),
    ...fc.sample(validSelectorArb, { seed, numRuns: 40 }).map(({ text }) => text),
    ...fc.sample(nearSelectorArb, { seed, numRuns: 80 }),
    ...fc.sample(selectorishArb, { seed, numRuns: 80 }),
  ]),
];

describe("label selectors: local parser vs the API server", () => {
  let config: KubeConfig;

  beforeAll(() => {
    config = new KubeConfig();
    config.loadFromFile(inject("kubeconfig"));
  });

  it("gives the server's verdict for every selector of the corpus", async () => {
    const mismatches: string[] = [];
    const counts: Record<Verdict, number> = { accepted: 0, refused: 0 };
    for (const selector of corpus) {
      const server = await serverVerdict(config, selector);
      counts[server] += 1;
      const local = localVerdict(selector);
      if (local !== server) mismatches.push(`${JSON.stringify(selector)}: server ${server}, loc ${local}`);
    }
    console.error(`[label-selector] ${corpus.length} selectors: server accepted ${counts.accepted}, refused ${counts.refused}`);
    expect(mismatches).toEqual([]);
    // The corpus must exercise both answers, or agreeing would prove little.
    expect(counts.accepted).toBeGreaterThanOrEqual(60);
    expect(counts.refused).toBeGreaterThanOrEqual(60);
  });

  it("takes the unit table's verdicts from the server too", async () => {
    for (const [selector] of acceptedSelectors.slice(0, 5)) expect(await serverVerdict(config, selector)).toBe("accepted");
    for (const [selector] of refusedSelectors.slice(0, 5)) expect(await serverVerdict(config, selector)).toBe("refused");
  });
});
