// The pixel-level explanations: the gradient of a class score with respect to the image, as the model
// sees it (224×224 RGB in 0..255 units after load_img; the backward runs through the preprocessing).
//   saliency              |∂s/∂x| max over colour channels (Simonyan et al. 2014)
//   guided-backprop       ∂s/∂x through ReLUs that pass a gradient only where their input and the
//                         gradient are both positive (Springenberg et al. 2015)
//   guided-gradcam        guided backprop × the Grad-CAM map upsampled bilinearly (Selvaraju et al. 2017)
//   smoothgrad            the mean gradient over N copies of the image plus Gaussian noise of σ = noise ×
//                         (max − min of the image) (Smilkov et al. 2017), then as saliency
//   integrated-gradients  (x − x′) ⊙ the mean gradient at x′ + α(x − x′), α at the midpoints of M steps
//                         from a baseline x′ (black by default) (Sundararajan et al. 2017); Σ attributions
//                         ≈ s(x) − s(x′), and the gap is reported.
import type { ReluRule } from '../kernels/reluRule.js';
import { fillNormal, mulberry32 } from './synthetic.js';

export const PIXEL_METHODS = ['saliency', 'guided-backprop', 'guided-gradcam', 'smoothgrad', 'integrated-gradients'] as const;
export type PixelMethod = (typeof PIXEL_METHODS)[number];

export interface PixelMethodSpec {
  /** How the ReLUs pass the gradient in this method's backward. */
  rule: ReluRule;
  /** Gradients of many inputs near the image (batched), or of the kept forward only. */
  sampled: boolean;
  /** What `map` holds (absent: the method's output is the RGB attribution itself). */
  map?: 'max-abs' | 'signed-sum';
}

export const PIXEL_METHOD_SPECS: Readonly<Record<PixelMethod, PixelMethodSpec>> = {
  saliency: { rule: 'plain', sampled: false, map: 'max-abs' },
  'guided-backprop': { rule: 'guided', sampled: false },
  'guided-gradcam': { rule: 'guided', sampled: false },
  smoothgrad: { rule: 'plain', sampled: true, map: 'max-abs' },
  'integrated-gradients': { rule: 'plain', sampled: true, map: 'signed-sum' },
};

export const isPixelMethod = (m: string): m is PixelMethod => (PIXEL_METHODS as readonly string[]).includes(m);

/** Defaults: SmoothGrad's σ fraction 0.15 and Integrated Gradients' black baseline are the papers'; the counts are modest for a CPU rasteriser. */
export const PIXEL_DEFAULTS = { samples: 16, noise: 0.15, steps: 32, baseline: 0, seed: 1 } as const;

/** Most samples or steps one call takes (each is a full forward and backward). */
export const MAX_PIXEL_SAMPLES = 1024;

export interface PixelSampling {
  /** SmoothGrad: noisy copies (default 16). */
  samples?: number;
  /** SmoothGrad: σ as a fraction of the image's value range (default 0.15). */
  noise?: number;
  /** Integrated Gradients: Riemann steps (default 32). */
  steps?: number;
  /** Integrated Gradients: the baseline's grey level in 0..255 (default 0, black). */
  baseline?: number;
  /** SmoothGrad's noise seed (default 1): the same seed, the same map. */
  seed?: number;
}

export function checkPixelSampling(o: PixelSampling): void {
  const count = (name: string, v: number | undefined) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1 && v <= MAX_PIXEL_SAMPLES)) throw new Error(`${name} ${v}: must be an integer in 1..${MAX_PIXEL_SAMPLES}`);
  };
  count('samples', o.samples);
  count('steps', o.steps);
  if (o.noise !== undefined && !(Number.isFinite(o.noise) && o.noise >= 0 && o.noise <= 10)) throw new Error(`noise ${o.noise}: a fraction of the image's value range, 0..10 (SmoothGrad's paper uses 0.1–0.2)`);
  if (o.baseline !== undefined && !(Number.isFinite(o.baseline) && o.baseline >= 0 && o.baseline <= 255)) throw new Error(`baseline ${o.baseline}: a grey level in 0..255 (0 = black)`);
  if (o.seed !== undefined && !(Number.isInteger(o.seed) && o.seed >= 0 && o.seed < 2 ** 32)) throw new Error(`seed ${o.seed}: an integer in 0..2^32−1`);
}

/**
 * SmoothGrad's noise for sample k: N(0, σ²) per element, from a generator seeded by (seed, k) alone, so
 * the map does not depend on how the samples are batched.
 */
export function smoothGradNoise(seed: number, k: number, sigma: number, out: Float32Array): Float32Array {
  return fillNormal(out, mulberry32((seed + Math.imul(k + 1, 0x9e3779b1)) >>> 0), sigma);
}
