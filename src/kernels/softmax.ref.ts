// CPU float64 reference for softmax over the last axis of x: [n, c].
import type { SoftmaxShape } from './softmax.js';

export function softmaxRef(s: SoftmaxShape, x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(s.n * s.c);
  for (let r = 0; r < s.n; r++) {
    let max = -Infinity;
    for (let i = 0; i < s.c; i++) max = Math.max(max, x[r * s.c + i]);
    let sum = 0;
    for (let i = 0; i < s.c; i++) sum += Math.exp(x[r * s.c + i] - max);
    for (let i = 0; i < s.c; i++) y[r * s.c + i] = Math.exp(x[r * s.c + i] - max) / sum;
  }
  return y;
}
