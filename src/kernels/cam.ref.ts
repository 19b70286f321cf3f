// Float64 references of the CAM family's maps, written from the definitions (pytorch-grad-cam's, with
// Grad-CAM's mean over channels from the Keras recipe), independently of how the kernels split the work.
//   a: [P, C] the target layer's activations   g: [P, C] dscore/da   (one target)
// Each returns the raw map [P]; camNormalizeRef applies the shared ReLU and ÷max.
import { eigenProjectionRef } from './eigenProjection.ref.js';

export type GradientMethodRef = 'gradcam' | 'gradcam++' | 'xgradcam' | 'hirescam' | 'gradcam-elementwise' | 'layercam' | 'eigencam' | 'eigengradcam';

export interface CamRefShape {
  positions: number;
  channels: number;
}

/** Channel weights w[C] of the weighted methods. */
export function channelWeightsRef(method: 'gradcam' | 'gradcam++' | 'xgradcam', s: CamRefShape, a: ArrayLike<number>, g: ArrayLike<number>): Float64Array {
  const { positions: P, channels: C } = s;
  const w = new Float64Array(C);
  for (let k = 0; k < C; k++) {
    let sumA = 0;
    for (let i = 0; i < P; i++) sumA += a[i * C + k];
    let acc = 0;
    for (let i = 0; i < P; i++) {
      const gi = g[i * C + k];
      if (method === 'gradcam') acc += gi / P;
      else if (method === 'xgradcam') acc += (gi * a[i * C + k]) / (sumA + 1e-7);
      else {
        // Grad-CAM++ (eq. 19 with eq. 7's ReLU): a = G²/(2G² + ΣA·G³ + ε), 0 where G = 0.
        const aij = gi !== 0 ? (gi * gi) / (2 * gi * gi + sumA * gi * gi * gi + 1e-6) : 0;
        acc += Math.max(gi, 0) * aij;
      }
    }
    w[k] = acc;
  }
  return w;
}

/** The per-channel terms M[P, C] whose channel sum is the map (and whose first principal component eigen-smoothing takes). */
export function camTermsRef(method: GradientMethodRef, s: CamRefShape, a: ArrayLike<number>, g: ArrayLike<number>): Float64Array {
  const { positions: P, channels: C } = s;
  const m = new Float64Array(P * C);
  const w = method === 'gradcam' || method === 'gradcam++' || method === 'xgradcam' ? channelWeightsRef(method, s, a, g) : undefined;
  for (let i = 0; i < P * C; i++) {
    const [ai, gi] = [a[i], g[i]];
    switch (method) {
      case 'gradcam':
      case 'gradcam++':
      case 'xgradcam':
        m[i] = w![i % C] * ai;
        break;
      case 'hirescam':
      case 'eigengradcam':
        m[i] = gi * ai;
        break;
      case 'gradcam-elementwise':
        m[i] = Math.max(gi * ai, 0);
        break;
      case 'layercam':
        m[i] = Math.max(gi, 0) * ai;
        break;
      case 'eigencam':
        m[i] = ai;
        break;
    }
  }
  return m;
}

/** The raw map of a gradient (or eigen) method; eigenSmooth projects the terms instead of summing them. */
export function camRawRef(method: GradientMethodRef, s: CamRefShape, a: ArrayLike<number>, g: ArrayLike<number>, eigenSmooth = false): Float64Array {
  const m = camTermsRef(method, s, a, g);
  if (eigenSmooth || method === 'eigencam' || method === 'eigengradcam') return eigenProjectionRef(s, m).projection;
  const raw = new Float64Array(s.positions);
  for (let i = 0; i < s.positions; i++) {
    let sum = 0;
    for (let k = 0; k < s.channels; k++) sum += m[i * s.channels + k];
    raw[i] = method === 'gradcam' ? sum / s.channels : sum;
  }
  return raw;
}

/** The shared rule: ReLU, ÷max; all zero (never NaN) when nothing is positive. */
export function camNormalizeRef(raw: ArrayLike<number>): { heat: Float64Array; max: number } {
  let max = 0;
  for (let i = 0; i < raw.length; i++) max = Math.max(max, raw[i]);
  return { heat: Float64Array.from(raw, (v) => (max > 0 ? Math.max(v, 0) / max : 0)), max };
}

/** Map = Σ_k w_k A_k from given channel weights (Score-CAM, Ablation-CAM). */
export function weightedMapRef(s: CamRefShape, a: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const raw = new Float64Array(s.positions);
  for (let i = 0; i < s.positions; i++) for (let k = 0; k < s.channels; k++) raw[i] += w[k] * a[i * s.channels + k];
  return raw;
}

/** OpenCV's (half-pixel) bilinear resize of a [h, w] map, optionally mirrored horizontally after. */
export function resizeBilinearRef(src: ArrayLike<number>, sw: number, sh: number, dw: number, dh: number, flipX = false): Float64Array {
  const axis = (s: number, d: number, o: number) => {
    const pos = Math.min(Math.max((o + 0.5) * (s / d) - 0.5, 0), s - 1);
    const lo = Math.floor(pos);
    return [lo, Math.min(lo + 1, s - 1), pos - lo] as const;
  };
  const out = new Float64Array(dw * dh);
  for (let y = 0; y < dh; y++) {
    const [y0, y1, fy] = axis(sh, dh, y);
    for (let x = 0; x < dw; x++) {
      const [x0, x1, fx] = axis(sw, dw, flipX ? dw - 1 - x : x);
      const top = src[y0 * sw + x0] * (1 - fx) + src[y0 * sw + x1] * fx;
      const bottom = src[y1 * sw + x0] * (1 - fx) + src[y1 * sw + x1] * fx;
      out[y * dw + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}
