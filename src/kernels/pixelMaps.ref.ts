// Float64 references of the pixel-level explanations' post-processing (issue #15), written from the
// definitions, independently of the kernels: the backward of Keras' 'caffe' preprocessing, the
// saliency and signed-sum maps, pytorch-grad-cam's deprocess_image, the grayscale rendering, and
// Integrated Gradients and SmoothGrad from caller-supplied gradients. Pure functions, no GPU, no TF.js.
// Layouts: HWC, 3 channels per pixel; "RGB" means the gradient w.r.t. the RGB 0..255 image.

/**
 * The backward of Keras' 'caffe' preprocessing (RGB → BGR, − mean): the gradient w.r.t. the
 * preprocessed BGR input becomes the gradient w.r.t. RGB 0..255 by flipping the channels back (the
 * mean subtraction has derivative 1; the resize is not part of it).
 */
export function rgbFromInputGradient(g: ArrayLike<number>, pixels: number): Float64Array {
  if (g.length !== 3 * pixels) throw new Error(`rgbFromInputGradient: ${g.length} values for ${pixels} pixels`);
  const out = new Float64Array(3 * pixels);
  for (let p = 0; p < pixels; p++) for (let c = 0; c < 3; c++) out[3 * p + c] = g[3 * p + 2 - c];
  return out;
}

/** Simonyan et al.'s saliency: max over the colour channels of |g|, one value per pixel. */
export function saliencyMapRef(gRgb: ArrayLike<number>, pixels: number): Float64Array {
  const out = new Float64Array(pixels);
  for (let p = 0; p < pixels; p++) out[p] = Math.max(Math.abs(gRgb[3 * p]), Math.abs(gRgb[3 * p + 1]), Math.abs(gRgb[3 * p + 2]));
  return out;
}

/** The sum over colour channels (Integrated Gradients' per-pixel map), signed. */
export function signedSumMapRef(aRgb: ArrayLike<number>, pixels: number): Float64Array {
  const out = new Float64Array(pixels);
  for (let p = 0; p < pixels; p++) out[p] = aRgb[3 * p] + aRgb[3 * p + 1] + aRgb[3 * p + 2];
  return out;
}

const mean = (x: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s / x.length;
};

/**
 * pytorch-grad-cam's deprocess_image, in float64:
 *   img = img − mean(img); img = img / (std(img) + 1e-5); img = img·0.1 + 0.5; clip to [0, 1]; uint8(img·255)
 * with numpy's population std (which subtracts its own mean of the already-centred array again) and
 * np.uint8's truncation. Any layout: every element is one value.
 */
export function deprocessImageRef(gRgb: ArrayLike<number>): Uint8Array {
  const n = gRgb.length;
  const m = mean(gRgb);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) y[i] = gRgb[i] - m;
  const m2 = mean(y);
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (y[i] - m2) ** 2;
  const std = Math.sqrt(ss / n);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = Math.min(1, Math.max(0, (y[i] / (std + 1e-5)) * 0.1 + 0.5));
    out[i] = Math.trunc(v * 255);
  }
  return out;
}

/**
 * The saliency rendering: map / max(map) × 255 → uint8 (truncation), 0 everywhere when max ≤ 0.
 * Negative values (signed maps) clamp to 0.
 */
export function grayscaleImageRef(map: ArrayLike<number>): Uint8Array {
  let max = -Infinity;
  for (let i = 0; i < map.length; i++) max = Math.max(max, map[i]);
  const out = new Uint8Array(map.length);
  if (!(max > 0)) return out;
  for (let i = 0; i < map.length; i++) out[i] = Math.trunc(Math.min(255, Math.max(0, (map[i] / max) * 255)));
  return out;
}

export interface ScoreAndGradient {
  score: number;
  /** ds/dx, in x's layout (the RGB domain). */
  gradient: ArrayLike<number>;
}

/** Integrated Gradients' M midpoint inputs baseline + α_k (x − baseline), α_k = (k − 0.5)/M, k = 1..M. */
export function integratedGradientsPath(x: ArrayLike<number>, baseline: ArrayLike<number>, steps: number): Float64Array[] {
  if (x.length !== baseline.length) throw new Error(`integratedGradientsPath: x has ${x.length} values, the baseline ${baseline.length}`);
  if (!(Number.isInteger(steps) && steps >= 1)) throw new Error(`integratedGradientsPath: steps must be a positive integer, got ${steps}`);
  const out: Float64Array[] = [];
  for (let k = 1; k <= steps; k++) {
    const alpha = (k - 0.5) / steps;
    const p = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) p[i] = baseline[i] + alpha * (x[i] - baseline[i]);
    out.push(p);
  }
  return out;
}

export interface IntegratedGradientsResult {
  /** (x − baseline) ⊙ mean_k ∇s(path_k), in x's layout. */
  attributions: Float64Array;
  /** Σ attributions. */
  sum: number;
  /** s(x) − s(baseline). */
  delta: number;
  /** |Σ attributions − (s(x) − s(baseline))|: 0 for the exact integral. */
  completenessGap: number;
}

/** Integrated Gradients from the gradients at integratedGradientsPath's points (in its order) and the end scores. */
export function integratedGradientsCombine(
  x: ArrayLike<number>,
  baseline: ArrayLike<number>,
  gradients: readonly ArrayLike<number>[],
  scoreX: number,
  scoreBaseline: number,
): IntegratedGradientsResult {
  const n = x.length;
  const attributions = new Float64Array(n);
  for (const g of gradients) {
    if (g.length !== n) throw new Error(`integratedGradientsCombine: a gradient has ${g.length} values, x ${n}`);
    for (let i = 0; i < n; i++) attributions[i] += g[i];
  }
  let sum = 0;
  for (let i = 0; i < n; i++) {
    attributions[i] *= (x[i] - baseline[i]) / gradients.length;
    sum += attributions[i];
  }
  const delta = scoreX - scoreBaseline;
  return { attributions, sum, delta, completenessGap: Math.abs(sum - delta) };
}

/**
 * Integrated Gradients (Sundararajan et al.) by the midpoint Riemann sum over M steps:
 * attributions = (x − baseline) ⊙ (1/M) Σ_k ∇s(baseline + α_k (x − baseline)), α_k = (k − 0.5)/M, and
 * the completeness gap |Σ attributions − (s(x) − s(baseline))|. scoreAndGrad may be synchronous or
 * asynchronous (the TF.js reference is); it is called M + 2 times (the path, then x and the baseline).
 */
export async function integratedGradientsRef(
  scoreAndGrad: (x: Float64Array) => ScoreAndGradient | Promise<ScoreAndGradient>,
  x: ArrayLike<number>,
  baseline: ArrayLike<number>,
  steps: number,
): Promise<IntegratedGradientsResult> {
  const gradients: ArrayLike<number>[] = [];
  for (const p of integratedGradientsPath(x, baseline, steps)) gradients.push((await scoreAndGrad(p)).gradient);
  const sx = (await scoreAndGrad(Float64Array.from(x))).score;
  const sb = (await scoreAndGrad(Float64Array.from(baseline))).score;
  return integratedGradientsCombine(x, baseline, gradients, sx, sb);
}

/** SmoothGrad from gradients already taken at the noisy inputs: their mean and its saliency map. */
export function smoothGradCombine(gradients: readonly ArrayLike<number>[], pixels: number): { gradient: Float64Array; saliency: Float64Array } {
  if (gradients.length === 0) throw new Error('smoothGradCombine: no gradients');
  const gradient = new Float64Array(3 * pixels);
  for (const g of gradients) {
    if (g.length !== 3 * pixels) throw new Error(`smoothGradCombine: a gradient has ${g.length} values for ${pixels} pixels`);
    for (let i = 0; i < gradient.length; i++) gradient[i] += g[i] / gradients.length;
  }
  return { gradient, saliency: saliencyMapRef(gradient, pixels) };
}

/**
 * SmoothGrad (Smilkov et al.): the mean of ∇s(x + noise_k) over the caller's noise samples (so the
 * engine and the reference can share them), and the saliency map of that mean. `gradientAt` may be
 * synchronous or asynchronous.
 */
export async function smoothGradRef(
  gradientAt: (x: Float64Array) => ArrayLike<number> | Promise<ArrayLike<number>>,
  x: ArrayLike<number>,
  noise: readonly ArrayLike<number>[],
  pixels: number,
): Promise<{ gradient: Float64Array; saliency: Float64Array }> {
  const gradients: ArrayLike<number>[] = [];
  for (const e of noise) {
    if (e.length !== x.length) throw new Error(`smoothGradRef: a noise sample has ${e.length} values, x ${x.length}`);
    const p = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) p[i] = x[i] + e[i];
    gradients.push(await gradientAt(p));
  }
  return smoothGradCombine(gradients, pixels);
}

/**
 * Captum's visualize_image_attr threshold (_cumulative_sum_threshold): the sorted value at which the
 * running sum of the sorted values first reaches `percentile`% of their total (as numpy's cumsum/where).
 */
export function cumulativeSumThresholdRef(values: ArrayLike<number>, percentile: number): number {
  const sorted = Float64Array.from(values).sort();
  const cum = new Float64Array(sorted.length);
  let run = 0;
  sorted.forEach((v, i) => (cum[i] = run += v));
  const goal = cum[cum.length - 1] * 0.01 * percentile;
  const i = cum.findIndex((c) => c >= goal);
  return sorted[i];
}
