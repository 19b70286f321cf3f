// CPU float64 references for the backward kernels (layouts as in their .wgsl headers).
import type { Conv3x3Shape } from './conv3x3BiasRelu.js';
import type { DenseBackwardShape } from './denseBackwardInput.js';
import type { MaxPool2x2Shape } from './maxPool2x2.js';
import { TOP_CLASS, type SoftmaxScoreShape } from './softmaxScoreBackward.js';

export function softmaxScoreBackwardRef(s: SoftmaxScoreShape, p: ArrayLike<number>): { dz: Float64Array; chosen: number } {
  let c = s.classIndex;
  if (c === TOP_CLASS) {
    c = 0;
    for (let j = 1; j < s.c; j++) if (p[j] > p[c]) c = j;
  }
  const dz = new Float64Array(s.c);
  for (let j = 0; j < s.c; j++) dz[j] = s.score === 'prob' ? p[c] * ((j === c ? 1 : 0) - p[j]) : j === c ? 1 : 0;
  return { dz, chosen: c };
}

export function denseBackwardInputRef(s: DenseBackwardShape, dy: ArrayLike<number>, y: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(s.n * s.k);
  for (let r = 0; r < s.n; r++)
    for (let k = 0; k < s.k; k++) {
      let acc = 0;
      for (let m = 0; m < s.m; m++) {
        const g = s.relu && !(y[r * s.m + m] > 0) ? 0 : dy[r * s.m + m];
        acc += g * w[k * s.m + m];
      }
      dx[r * s.k + k] = acc;
    }
  return dx;
}

export function maxPool2x2BackwardRef(s: MaxPool2x2Shape, dy: ArrayLike<number>, x: ArrayLike<number>): Float64Array {
  const oh = Math.floor(s.h / 2);
  const ow = Math.floor(s.w / 2);
  const dx = new Float64Array(s.n * s.h * s.w * s.c);
  for (let n = 0; n < s.n; n++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let c = 0; c < s.c; c++) {
          let best = -1;
          let bestValue = -Infinity;
          for (const [dyy, dxx] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
            const i = ((n * s.h + 2 * oy + dyy) * s.w + 2 * ox + dxx) * s.c + c;
            if (best < 0 || x[i] > bestValue) {
              best = i;
              bestValue = x[i];
            }
          }
          dx[best] = dy[((n * oh + oy) * ow + ox) * s.c + c];
        }
  return dx;
}

export function conv3x3BackwardInputRef(s: Conv3x3Shape, dy: ArrayLike<number>, y: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(s.n * s.h * s.w * s.cIn);
  for (let n = 0; n < s.n; n++)
    for (let oy = 0; oy < s.h; oy++)
      for (let ox = 0; ox < s.w; ox++)
        for (let co = 0; co < s.cOut; co++) {
          const o = ((n * s.h + oy) * s.w + ox) * s.cOut + co;
          const g = s.relu && !(y[o] > 0) ? 0 : dy[o];
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
