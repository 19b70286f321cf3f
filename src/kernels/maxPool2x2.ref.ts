// CPU reference for maxPool2x2.  x: [n, h, w, c] → y: [n, floor(h/2), floor(w/2), c], 'valid' windows.
import type { MaxPool2x2Shape } from './maxPool2x2.js';

export function maxPool2x2Ref(s: MaxPool2x2Shape, x: ArrayLike<number>): Float64Array {
  const oh = Math.floor(s.h / 2);
  const ow = Math.floor(s.w / 2);
  const y = new Float64Array(s.n * oh * ow * s.c);
  for (let n = 0; n < s.n; n++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let c = 0; c < s.c; c++) {
          let m = -Infinity;
          for (let dy = 0; dy < 2; dy++)
            for (let dx = 0; dx < 2; dx++) m = Math.max(m, x[((n * s.h + 2 * oy + dy) * s.w + 2 * ox + dx) * s.c + c]);
          y[((n * oh + oy) * ow + ox) * s.c + c] = m;
        }
  return y;
}
