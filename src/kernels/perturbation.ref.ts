// CPU float64 references for the perturbation-CAM kernels (ablateChannels, scoreCamMasks, targetScores,
// channelScoreWeights); layouts as in their .wgsl headers.
import type { AblateShape } from './ablateChannels.js';
import type { ScoreCamMaskShape } from './scoreCamMasks.js';

export function ablateChannelsRef(s: AblateShape, a: ArrayLike<number>): Float64Array {
  const n = s.positions * s.channels;
  const x = new Float64Array(s.rows * n);
  for (let r = 0; r < s.rows; r++)
    for (let i = 0; i < n; i++) x[r * n + i] = i % s.channels === s.k0 + r ? 0 : a[i];
  return x;
}

/** One axis of torch's upsample_bilinear2d with align_corners=True: source index pair and weight of the second. */
function alignCornersTap(d: number, inSize: number, outSize: number): [number, number, number] {
  const src = outSize > 1 ? ((inSize - 1) / (outSize - 1)) * d : 0;
  const i0 = Math.min(Math.floor(src), inSize - 1);
  return [i0, i0 + 1 < inSize ? i0 + 1 : i0, Math.min(Math.max(src - i0, 0), 1)];
}

/**
 * Channel k of a: [srcH, srcW, channels] upsampled to [dstH, dstW] as torch.nn.UpsamplingBilinear2d
 * (bilinear, align_corners=True), then min–max normalised: (u − min) / (max − min + 1e-8).
 */
export function scoreCamMaskRef(s: Omit<ScoreCamMaskShape, 'rows' | 'k0' | 'inChannels'>, a: ArrayLike<number>, k: number): Float64Array {
  const u = new Float64Array(s.dstH * s.dstW);
  const at = (y: number, x: number) => a[(y * s.srcW + x) * s.channels + k];
  for (let oy = 0; oy < s.dstH; oy++) {
    const [y0, y1, wy] = alignCornersTap(oy, s.srcH, s.dstH);
    for (let ox = 0; ox < s.dstW; ox++) {
      const [x0, x1, wx] = alignCornersTap(ox, s.srcW, s.dstW);
      const top = (1 - wx) * at(y0, x0) + wx * at(y0, x1);
      const bottom = (1 - wx) * at(y1, x0) + wx * at(y1, x1);
      u[oy * s.dstW + ox] = (1 - wy) * top + wy * bottom;
    }
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of u) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  return u.map((v) => (v - lo) / (hi - lo + 1e-8));
}

export function scoreCamMasksRef(s: ScoreCamMaskShape, a: ArrayLike<number>, input: ArrayLike<number>): Float64Array {
  const n = s.dstH * s.dstW * s.inChannels;
  const x = new Float64Array(s.rows * n);
  for (let r = 0; r < s.rows && s.k0 + r < s.channels; r++) {
    const m = scoreCamMaskRef(s, a, s.k0 + r);
    for (let i = 0; i < n; i++) x[r * n + i] = input[i] * m[Math.floor(i / s.inChannels)];
  }
  return x;
}

/** y: [rows, classes] → Σ_c t_c · y[r, c] per row. */
export function targetScoresRef(y: ArrayLike<number>, t: ArrayLike<number>): Float64Array {
  const rows = y.length / t.length;
  const s = new Float64Array(rows);
  for (let r = 0; r < rows; r++) for (let c = 0; c < t.length; c++) s[r] += t[c] * y[r * t.length + c];
  return s;
}

/**
 * AblationCAM: w_k = (s − s_k) / s (0 for every k when s is 0 or not finite: `unusable`);
 * Score-CAM: softmax over k of s_k.
 */
export function channelScoreWeightsRef(perturbed: ArrayLike<number>, ablation: { s: number } | undefined): { w: Float64Array; unusable: boolean } {
  const k = perturbed.length;
  if (ablation) {
    const { s } = ablation;
    const unusable = s === 0 || !Number.isFinite(s);
    return { w: Float64Array.from({ length: k }, (_, i) => (unusable ? 0 : (s - perturbed[i]) / s)), unusable };
  }
  let max = -Infinity;
  for (let i = 0; i < k; i++) max = Math.max(max, perturbed[i]);
  const e = Float64Array.from({ length: k }, (_, i) => Math.exp(perturbed[i] - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return { w: e.map((v) => v / sum), unusable: false };
}
