// CPU float64 references for the backward kernels (layouts as in their .wgsl headers).
// sharedForward: the forward tensor (y, or the pool's x) has ONE row/image, used for every row of dy;
// otherwise row r of dy pairs with row r of the forward tensor.
// reluRule (conv and dense, default 'plain'): how dy passes the layer's ReLU (reluRule.ts).
import type { Conv3x3BackwardShape } from './conv3x3BackwardInput.js';
import type { DenseBackwardShape } from './denseBackwardInput.js';
import type { MaxPool2x2BackwardShape } from './maxPool2x2Backward.js';
import type { ReluRule } from './reluRule.js';

/**
 * g for one element: the gradient dy passed back through a ReLU whose output was y, by the rule
 * (plain dy·[y > 0], guided dy·[y > 0]·[dy > 0], deconvnet dy·[dy > 0]); dy itself without a ReLU.
 */
export function reluBackwardRef(relu: boolean, rule: ReluRule, dy: number, y: number): number {
  if (!relu) return dy;
  const active = rule === 'deconvnet' || y > 0;
  const positive = rule === 'plain' || dy > 0;
  return active && positive ? dy : 0;
}

export function denseBackwardInputRef(s: DenseBackwardShape, dy: ArrayLike<number>, y: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(s.n * s.k);
  for (let r = 0; r < s.n; r++)
    for (let k = 0; k < s.k; k++) {
      const f = s.sharedForward ? 0 : r;
      let acc = 0;
      for (let m = 0; m < s.m; m++) {
        const g = reluBackwardRef(s.relu, s.reluRule ?? 'plain', dy[r * s.m + m], y[f * s.m + m]);
        acc += g * w[k * s.m + m];
      }
      dx[r * s.k + k] = acc;
    }
  return dx;
}

export function maxPool2x2BackwardRef(s: MaxPool2x2BackwardShape, dy: ArrayLike<number>, x: ArrayLike<number>): Float64Array {
  const oh = Math.floor(s.h / 2);
  const ow = Math.floor(s.w / 2);
  const dx = new Float64Array(s.n * s.h * s.w * s.c);
  for (let n = 0; n < s.n; n++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let c = 0; c < s.c; c++) {
          // The window's first maximum in x (image n, or the shared image 0), routed into image n of dx.
          const f = s.sharedForward ? 0 : n;
          let best = -1;
          let bestValue = -Infinity;
          for (const [dyy, dxx] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
            const i = ((f * s.h + 2 * oy + dyy) * s.w + 2 * ox + dxx) * s.c + c;
            if (best < 0 || x[i] > bestValue) {
              best = i;
              bestValue = x[i];
            }
          }
          dx[best + (n - f) * s.h * s.w * s.c] = dy[((n * oh + oy) * ow + ox) * s.c + c];
        }
  return dx;
}

export function conv3x3BackwardInputRef(s: Conv3x3BackwardShape, dy: ArrayLike<number>, y: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(s.n * s.h * s.w * s.cIn);
  for (let n = 0; n < s.n; n++)
    for (let oy = 0; oy < s.h; oy++)
      for (let ox = 0; ox < s.w; ox++)
        for (let co = 0; co < s.cOut; co++) {
          const o = ((n * s.h + oy) * s.w + ox) * s.cOut + co;
          const f = (((s.sharedForward ? 0 : n) * s.h + oy) * s.w + ox) * s.cOut + co;
          const g = reluBackwardRef(s.relu, s.reluRule ?? 'plain', dy[o], y[f]);
          if (g === 0) continue;
          for (let ky = 0; ky < 3; ky++) {
            const iy = oy + ky - 1;
            if (iy < 0 || iy >= s.h) continue;
            for (let kx = 0; kx < 3; kx++) {
              const ix = ox + kx - 1;
              if (ix < 0 || ix >= s.w) continue;
              const xBase = ((n * s.h + iy) * s.w + ix) * s.cIn;
              for (let ci = 0; ci < s.cIn; ci++) dx[xBase + ci] += g * w[((ky * 3 + kx) * s.cIn + ci) * s.cOut + co];
            }
          }
        }
  return dx;
}
