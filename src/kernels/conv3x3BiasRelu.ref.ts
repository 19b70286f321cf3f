// CPU float64 reference for conv3x3BiasRelu: the specification the GPU versions are tested against.
//   x: [n, h, w, cIn]   w: [3, 3, cIn, cOut] (HWIO, cross-correlation)   b: [cOut]   → y: [n, h, w, cOut]
// Zero 'same' padding, stride 1, y = relu?(sum + b).
import type { Conv3x3Shape } from './conv3x3BiasRelu.js';

export function conv3x3BiasReluRef(
  s: Conv3x3Shape,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(s.n * s.h * s.w * s.cOut);
  const acc = new Float64Array(s.cOut);
  for (let n = 0; n < s.n; n++) {
    for (let oy = 0; oy < s.h; oy++) {
      for (let ox = 0; ox < s.w; ox++) {
        acc.fill(0);
        for (let ky = 0; ky < 3; ky++) {
          const iy = oy + ky - 1;
          if (iy < 0 || iy >= s.h) continue;
          for (let kx = 0; kx < 3; kx++) {
            const ix = ox + kx - 1;
            if (ix < 0 || ix >= s.w) continue;
            const xBase = ((n * s.h + iy) * s.w + ix) * s.cIn;
            const wBase = (ky * 3 + kx) * s.cIn * s.cOut;
            for (let ci = 0; ci < s.cIn; ci++) {
              const xv = x[xBase + ci];
              if (xv === 0) continue;
              const wRow = wBase + ci * s.cOut;
              for (let co = 0; co < s.cOut; co++) acc[co] += xv * w[wRow + co];
            }
          }
        }
        const yBase = ((n * s.h + oy) * s.w + ox) * s.cOut;
        for (let co = 0; co < s.cOut; co++) {
          const v = acc[co] + b[co];
          y[yBase + co] = s.relu ? Math.max(v, 0) : v;
        }
      }
    }
  }
  return y;
}
