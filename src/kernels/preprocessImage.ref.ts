// CPU float64 reference for preprocessImage: resize RGBA8 → BGR − ImageNet mean, [dstH, dstW, 3].
// Nearest: samples Pillow's pixel and rounds the subtraction to float32 once, as numpy does on the
// float32 array Keras builds (the result is bit-exact). Bilinear: exact float64 interpolation.
import { IMAGENET_MEAN_BGR, resizeAxisTable, type PreprocessShape } from './preprocessImage.js';

export function preprocessImageRef(s: PreprocessShape, rgba: ArrayLike<number>): Float64Array {
  const tx = resizeAxisTable(s.srcW, s.dstW, s.method);
  const ty = resizeAxisTable(s.srcH, s.dstH, s.method);
  const y = new Float64Array(s.dstH * s.dstW * 3);
  const px = (x: number, yy: number, c: number) => rgba[(yy * s.srcW + x) * 4 + c];
  for (let oy = 0; oy < s.dstH; oy++)
    for (let ox = 0; ox < s.dstW; ox++)
      for (let c = 0; c < 3; c++) {
        const wx = tx.w1[ox];
        const wy = ty.w1[oy];
        const top = (1 - wx) * px(tx.i0[ox], ty.i0[oy], c) + wx * px(tx.i1[ox], ty.i0[oy], c);
        const bottom = (1 - wx) * px(tx.i0[ox], ty.i1[oy], c) + wx * px(tx.i1[ox], ty.i1[oy], c);
        const v = (1 - wy) * top + wy * bottom;
        // Output channel 2 - c holds input channel c (RGB → BGR).
        const mean = Math.fround(IMAGENET_MEAN_BGR[2 - c]);
        y[(oy * s.dstW + ox) * 3 + (2 - c)] = s.method === 'nearest' ? Math.fround(v - mean) : v - IMAGENET_MEAN_BGR[2 - c];
      }
  return y;
}
