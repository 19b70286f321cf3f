// CPU float64 references for the Grad-CAM kernels (the overlay's reference is the independent OpenCV
// emulation in the tests, since "as OpenCV does it" is its specification).
import type { GradcamShape } from './gradcam.js';

export function gradcamChannelWeightsRef(s: GradcamShape, grad: ArrayLike<number>): Float64Array {
  const alpha = new Float64Array(s.channels);
  for (let i = 0; i < s.positions; i++) for (let k = 0; k < s.channels; k++) alpha[k] += grad[i * s.channels + k];
  return alpha.map((v) => v / s.positions);
}

export function gradcamHeatmapRef(s: GradcamShape, a: ArrayLike<number>, alpha: ArrayLike<number>): { raw: Float64Array; heat: Float64Array; max: number } {
  const raw = new Float64Array(s.positions);
  for (let i = 0; i < s.positions; i++) {
    let sum = 0;
    for (let k = 0; k < s.channels; k++) sum += a[i * s.channels + k] * alpha[k];
    raw[i] = sum / s.channels;
  }
  const max = raw.reduce((m, v) => Math.max(m, v), 0);
  const heat = raw.map((v) => (max > 0 ? Math.max(v, 0) / max : 0));
  return { raw, heat, max };
}
