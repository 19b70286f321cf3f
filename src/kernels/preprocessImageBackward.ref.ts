// Float64 references for preprocessImageBackward (layouts as in its .wgsl header): the forward it
// differentiates, and the backward itself.
import { IMAGENET_MEAN_BGR } from './preprocessImage.js';
import type { PreprocessBackwardShape } from './preprocessImageBackward.js';

/** The 'caffe' step at the model's size: rgb [P, 3] (0..255) → [P, 3] B, G, R minus the ImageNet means. */
export function caffePreprocessRef(rgb: ArrayLike<number>): Float64Array {
  const out = new Float64Array(rgb.length);
  for (let i = 0; i < rgb.length; i += 3) for (let c = 0; c < 3; c++) out[i + c] = rgb[i + 2 - c] - IMAGENET_MEAN_BGR[c];
  return out;
}

/**
 * out[p, c] = previous[p, c] (when accumulate) + Σ_r rowWeights[r] · g[r, p, 2 − c].
 * g: [rows, pixels, 3] B, G, R; out and previous: [pixels, 3] R, G, B.
 */
export function preprocessImageBackwardRef(
  s: PreprocessBackwardShape,
  g: ArrayLike<number>,
  rowWeights: ArrayLike<number>,
  previous?: ArrayLike<number>,
): Float64Array {
  const out = new Float64Array(3 * s.pixels);
  if (s.accumulate) {
    if (!previous) throw new Error('preprocessImageBackwardRef: accumulate needs the previous output');
    for (let i = 0; i < out.length; i++) out[i] = previous[i];
  }
  for (let r = 0; r < s.rows; r++)
    for (let p = 0; p < s.pixels; p++)
      for (let c = 0; c < 3; c++) out[3 * p + c] += rowWeights[r] * g[3 * (r * s.pixels + p) + 2 - c];
  return out;
}
