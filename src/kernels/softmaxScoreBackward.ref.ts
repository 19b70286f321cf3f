// Float64 reference of the target-score gradient (see softmaxScoreBackward.wgsl for the formulas).
import { NOT_RANKED, type SoftmaxScoreShape, type TargetRow } from './softmaxScoreBackward.js';

/** The class of rank k in descending probability (first index on ties), as the shader orders them. */
export function rankedClassRef(p: ArrayLike<number>, rank: number): number {
  const order = Array.from({ length: p.length }, (_, j) => j).sort((a, b) => p[b] - p[a] || a - b);
  return order[rank];
}

/** p: [c], or [rows, c] with perRowForward (row r's target over row r's probabilities). */
export function softmaxScoreBackwardRef(s: SoftmaxScoreShape, probabilities: ArrayLike<number>, rows: readonly TargetRow[]): { dz: Float64Array; chosen: number[] } {
  const dz = new Float64Array(rows.length * s.c);
  const chosen: number[] = [];
  const all = Array.from(probabilities);
  rows.forEach((row, r) => {
    const p = s.perRowForward ? all.slice(r * s.c, (r + 1) * s.c) : all;
    const t = new Float64Array(s.c);
    if ('rank' in row) {
      const c = rankedClassRef(p, row.rank);
      chosen.push(c);
      t[c] = 1;
    } else {
      chosen.push(NOT_RANKED);
      for (const c of row.classes) t[c] = row.sign;
    }
    let score = 0;
    for (let c = 0; c < s.c; c++) score += t[c] * p[c];
    for (let j = 0; j < s.c; j++) dz[r * s.c + j] = s.score === 'prob' ? t[j] * p[j] - p[j] * score : t[j];
  });
  return { dz, chosen };
}
