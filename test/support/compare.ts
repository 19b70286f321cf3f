// Numeric comparison used by every kernel and network test (Node and browser).
// |actual − expected| ≤ atol + rtol·|expected| per element; failures report the count and the first
// five positions, like llm.c's validate_result.

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface Stats {
  maxAbs: number;
  maxRel: number;
  relL2: number;
}

export function errorStats(actual: ArrayLike<number>, expected: ArrayLike<number>): Stats {
  let maxAbs = 0;
  let maxRel = 0;
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    maxAbs = Math.max(maxAbs, d);
    if (expected[i] !== 0) maxRel = Math.max(maxRel, d / Math.abs(expected[i]));
    num += d * d;
    den += expected[i] * expected[i];
  }
  return { maxAbs, maxRel, relL2: den > 0 ? Math.sqrt(num / den) : Math.sqrt(num) };
}

export function assertClose(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): Stats {
  if (actual.length !== expected.length) throw new Error(`${name}: length ${actual.length}, expected ${expected.length}`);
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const ok = Number.isFinite(a) && Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e);
    if (!ok) {
      count++;
      if (bad.length < 5) bad.push(`[${i}] got ${a}, expected ${e}`);
    }
  }
  const stats = errorStats(actual, expected);
  if (count > 0) {
    throw new Error(
      `${name}: ${count}/${expected.length} values outside atol ${tol.atol} + rtol ${tol.rtol}·|ref| ` +
        `(max |Δ| ${stats.maxAbs.toExponential(3)}, rel L2 ${stats.relL2.toExponential(3)}): ${bad.join('; ')}`,
    );
  }
  return stats;
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}
