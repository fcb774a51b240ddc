/**
 * Kubernetes resource quantities ("250m", "1.5Gi", "1e3") as exact fractions, and the values the
 * kubelet gives a resourceFieldRef: ceil(quantity / divisor), CPU in milli-units first, memory and
 * storage in whole units first (k8s.io/kubernetes pkg/api/v1/resource, convertResource*ToString).
 */
export interface Fraction {
  num: bigint;
  den: bigint;
}

const BINARY: Record<string, bigint> = { Ki: 1n << 10n, Mi: 1n << 20n, Gi: 1n << 30n, Ti: 1n << 40n, Pi: 1n << 50n, Ei: 1n << 60n };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([numkMGTPE]?)|[eE]([+-]?\d+))$/;

export function parseQuantity(text: string): Fraction | undefined {
  const match = QUANTITY.exec(text.trim());
  if (!match) return undefined;
  const [, sign, digits = "0", binary, decimal, exponent] = match;
  const [whole = "", fraction = ""] = digits.split(".");
  let num = BigInt((whole || "0") + fraction) * (sign === "-" ? -1n : 1n);
  let den = 10n ** BigInt(fraction.length);
  if (binary) num *= BINARY[binary] ?? 1n;
  const power = exponent !== undefined ? Number(exponent) : (DECIMAL[decimal ?? ""] ?? 0);
  if (power >= 0) num *= 10n ** BigInt(power);
  else den *= 10n ** BigInt(-power);
  return { num, den };
}

/** ceil(a / b) for b > 0. */
function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a > 0n ? q + 1n : q;
}

/** Quantity.MilliValue / Quantity.Value: rounded up to whole milli-units / units. */
function scaledUp(q: Fraction, scale: bigint): bigint {
  return ceilDiv(q.num * scale, q.den);
}

/** The string the kubelet puts in the variable; `resource` is e.g. "limits.cpu". */
export function resourceValue(resource: string, quantity: Fraction, divisor: Fraction): string {
  const isCpu = resource.endsWith(".cpu");
  const scale = isCpu ? 1000n : 1n;
  const value = scaledUp(quantity, scale);
  const by = scaledUp(divisor, scale);
  if (by <= 0n) return "0";
  return ceilDiv(value, by).toString();
}
