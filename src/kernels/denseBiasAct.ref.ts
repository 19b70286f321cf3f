// CPU float64 reference for denseBiasAct.  x: [n, k], w: [k, m], b: [m] → y: [n, m] = act(x·w + b).
import type { DenseShape } from './denseBiasAct.js';

export function denseBiasActRef(s: DenseShape, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const y = new Float64Array(s.n * s.m);
  for (let r = 0; r < s.n; r++) {
    const acc = new Float64Array(s.m);
    for (let k = 0; k < s.k; k++) {
      const xv = x[r * s.k + k];
      const row = k * s.m;
      for (let m = 0; m < s.m; m++) acc[m] += xv * w[row + m];
    }
    for (let m = 0; m < s.m; m++) {
      const v = acc[m] + b[m];
      y[r * s.m + m] = s.relu ? Math.max(v, 0) : v;
    }
  }
  return y;
}
