// The references of the pixel-level explanations (issue #15), checked before any engine result is
// compared with them: TF.js input gradients under the plain / guided / deconvnet ReLU rules
// (src/bench/tfjsReference.ts) and the float64 post-processing (src/kernels/pixelMaps.ref.ts).
//
// Tolerances and why:
// - Plain gradient vs central finite differences of tfjsForward's float32 score, 40 input elements,
//   ε = 0.1 input units (inputs span ±128): rel L2 ≤ 3e-2. Two error sources pull ε opposite ways.
//   Rounding: the score is float32 (logit ≈ 17.5, ulp 1.9e-6) and carries ≈ 0.5 ulp of noise, so the
//   quotient carries ≈ 1e-6/(2ε)·√2 ≈ 7e-6 at ε = 0.1, ≈ 0.4 % of the gradient's rms (1.8e-3); at
//   ε = 1e-3 it is 28 %. Kinks: the score is piecewise linear in the input (ReLU, max-pool), and an
//   element moved by ±ε pushes some of its ≈ 9·8 first-layer pre-activations (and, through them,
//   later ones) across zero; those samples are off by the slope change times the crossed fraction —
//   a few of the 40 at ε = 0.1, most at ε = 1 (rel L2 7 %). ε = 0.1 measures 1.1e-2 (logit) and
//   6e-3 (prob); 3e-2 leaves ~3× for other seeds and hosts while any real error (a wrong layout,
//   channel or rule) is O(1).
// - TF.js (float32) vs the hand-written float64 backprop of a tiny net: rel L2 ≤ 1e-5 (sums of ≤ 48
//   float32 products, error ~1e-7 relative).
// - Rule identities on non-negative networks are exact (bitwise): multiplying by 1 or relu(dy) = dy
//   changes no bit.
// - The float64 deprocess/grayscale references against numpy's float64 on the same floats: equal
//   bytes (a truncation boundary within 1e-13 would be needed to differ).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { tfjsForward, tfjsInputGradient, tfjsInputGradients, type ReluRule } from '../src/bench/tfjsReference.js';
import type { ModelSpec } from '../src/engine/model.js';
import { fillNormal, heNormalWeights, mulberry32, syntheticPhoto } from '../src/engine/synthetic.js';
import {
  deprocessImageRef,
  grayscaleImageRef,
  integratedGradientsCombine,
  integratedGradientsPath,
  integratedGradientsRef,
  rgbFromInputGradient,
  saliencyMapRef,
  signedSumMapRef,
  smoothGradCombine,
  smoothGradRef,
} from '../src/kernels/pixelMaps.ref.js';
import { errorStats } from './support/compare.js';
import { pilNearestResizeRgb } from './support/pil.js';
import { planted, SMALL, squareImage } from './support/smallVgg.js';

const PYTHON = '/usr/bin/python3';
const MEAN_BGR = [103.939, 116.779, 123.68];
const H = 32;
const W = 32;
const PIXELS = H * W;

/** Keras 'caffe' on RGB (HWC, 0..255): BGR − mean, rounded to float32 as numpy does. */
function caffe(rgb: ArrayLike<number>): Float32Array {
  const x = new Float32Array(rgb.length);
  for (let p = 0; p < rgb.length / 3; p++) for (let c = 0; c < 3; c++) x[3 * p + c] = Math.fround(rgb[3 * p + 2 - c] - MEAN_BGR[c]);
  return x;
}

/** A 64×64 RGBA image → 32×32 RGB by Pillow's nearest (every other pixel, offset 1). */
const to32 = (img: { data: ArrayLike<number> }) => pilNearestResizeRgb(img.data, 64, 64, W, H);

const relDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => errorStats(a, b).relL2;
const mismatches = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i] + 0, b[i] + 0)) n++;
  return n;
};

describe('tfjsInputGradient on the small VGG', () => {
  const weights = heNormalWeights(SMALL, { seed: 4, classifierGain: 0.05 });
  const rgb = to32(syntheticPhoto(64, 64, 5));
  const input = caffe(rgb);
  let classIndex = 0;
  beforeAll(async () => {
    const p = (await tfjsForward(SMALL, weights, input)).get('predictions')!;
    classIndex = p.indexOf(Math.max(...p));
  });

  it('plain: matches central finite differences of tfjsForward at 40 elements, both scores (rel L2 ≤ 3e-2)', async () => {
    const eps = 0.1;
    const random = mulberry32(7);
    const at = Array.from({ length: 40 }, () => Math.floor(random() * input.length));
    const g = {
      logit: await tfjsInputGradient(SMALL, weights, input, { classIndex, score: 'logit', rule: 'plain' }),
      prob: await tfjsInputGradient(SMALL, weights, input, { classIndex, score: 'prob', rule: 'plain' }),
    };
    const fd = { logit: [] as number[], prob: [] as number[] };
    for (const i of at) {
      const plus = input.slice();
      const minus = input.slice();
      plus[i] += eps;
      minus[i] -= eps;
      const [fp, fm] = [await tfjsForward(SMALL, weights, plus), await tfjsForward(SMALL, weights, minus)];
      const h = plus[i] - minus[i]; // the float32 inputs' actual difference
      fd.logit.push((fp.get('predictions/logits')![classIndex] - fm.get('predictions/logits')![classIndex]) / h);
      fd.prob.push((fp.get('predictions')![classIndex] - fm.get('predictions')![classIndex]) / h);
    }
    const forward = await tfjsForward(SMALL, weights, input);
    for (const score of ['logit', 'prob'] as const) {
      const err = relDiff(fd[score], at.map((i) => g[score].gradient[i]));
      console.log(`FD ${score}: class ${classIndex}, score ${g[score].score.toPrecision(6)}, rel L2 ${err.toExponential(2)} over ${at.length} elements (ε = ${eps})`);
      expect(err).toBeLessThan(3e-2);
      const s = forward.get(score === 'logit' ? 'predictions/logits' : 'predictions')![classIndex];
      expect(g[score].score).toBe(s);
    }
  });

  it('guided and deconvnet differ from plain on a generic network', async () => {
    const opts = { classIndex, score: 'prob' } as const;
    const plain = await tfjsInputGradient(SMALL, weights, input, { ...opts, rule: 'plain' });
    const guided = await tfjsInputGradient(SMALL, weights, input, { ...opts, rule: 'guided' });
    const deconv = await tfjsInputGradient(SMALL, weights, input, { ...opts, rule: 'deconvnet' });
    console.log(`rel L2 vs plain: guided ${relDiff(guided.gradient, plain.gradient).toFixed(3)}, deconvnet ${relDiff(deconv.gradient, plain.gradient).toFixed(3)}`);
    expect(relDiff(guided.gradient, plain.gradient)).toBeGreaterThan(0.3);
    expect(relDiff(deconv.gradient, plain.gradient)).toBeGreaterThan(0.3);
    expect(relDiff(deconv.gradient, guided.gradient)).toBeGreaterThan(0.3);
    expect(guided.score).toBe(plain.score); // the rules change the backward only
    expect(deconv.score).toBe(plain.score);
  });

  // Non-negative kernels after the first layer and the logit score: dscore/d(every ReLU output) is a
  // sum of products of non-negative weights and 0/1 routing, so dy ≥ 0 at every ReLU; guided's extra
  // [dy > 0] mask then only zeroes zeros (guided = plain, bitwise). Deconvnet still ignores the forward
  // mask, so it differs where a pre-activation is ≤ 0 and dy > 0.
  it('guided = plain exactly when every ReLU sees dy ≥ 0; deconvnet does not', async () => {
    const w = new Map(weights);
    for (const l of SMALL.layers.slice(1)) if (l.kind !== 'maxpool2x2' && l.kind !== 'flatten') w.set(`${l.name}/kernel`, weights.get(`${l.name}/kernel`)!.map(Math.abs));
    const opts = { classIndex, score: 'logit' } as const;
    const plain = await tfjsInputGradient(SMALL, w, input, { ...opts, rule: 'plain' });
    const guided = await tfjsInputGradient(SMALL, w, input, { ...opts, rule: 'guided' });
    const deconv = await tfjsInputGradient(SMALL, w, input, { ...opts, rule: 'deconvnet' });
    expect(plain.gradient.some((v) => v !== 0)).toBe(true);
    expect(mismatches(guided.gradient, plain.gradient)).toBe(0);
    expect(relDiff(deconv.gradient, plain.gradient)).toBeGreaterThan(0.1);
  });

  // All kernels non-negative, positive biases and a positive input: every pre-activation is > 0 and
  // every dy ≥ 0, so all three rules are the true gradient, bitwise.
  it('plain = guided = deconvnet exactly when no ReLU is off and every dy ≥ 0', async () => {
    const w = new Map<string, Float32Array>();
    for (const [name, t] of weights) w.set(name, name.endsWith('/bias') ? t.map((v) => Math.abs(v) + 0.01) : t.map((v) => 0.3 * Math.abs(v)));
    const positive = Float32Array.from(rgb, (v) => v + 1);
    const opts = { classIndex, score: 'logit' } as const;
    const plain = await tfjsInputGradient(SMALL, w, positive, { ...opts, rule: 'plain' });
    const guided = await tfjsInputGradient(SMALL, w, positive, { ...opts, rule: 'guided' });
    const deconv = await tfjsInputGradient(SMALL, w, positive, { ...opts, rule: 'deconvnet' });
    expect(plain.gradient.every((v) => v > 0)).toBe(true);
    expect(mismatches(guided.gradient, plain.gradient)).toBe(0);
    expect(mismatches(deconv.gradient, plain.gradient)).toBe(0);
  });

  it('a batch of rows gives each row its single-row gradient and score (SmoothGrad over 3 noisy inputs)', async () => {
    const random = mulberry32(21);
    const noise = [0, 1, 2].map(() => fillNormal(new Float32Array(rgb.length), random, 0.15 * 255));
    const rows = new Float32Array(3 * rgb.length);
    noise.forEach((e, n) => rows.set(caffe(rgb.map((v, i) => v + e[i])), n * rgb.length));
    const classes = [classIndex, classIndex, 3];
    const batch = await tfjsInputGradients(SMALL, weights, rows, { classIndex: classes, score: 'prob', rule: 'guided' });
    const single: Float64Array[] = [];
    for (let n = 0; n < 3; n++) {
      const r = await tfjsInputGradient(SMALL, weights, rows.subarray(n * rgb.length, (n + 1) * rgb.length), { classIndex: classes[n], score: 'prob', rule: 'guided' });
      expect(mismatches(batch.gradient.subarray(n * rgb.length, (n + 1) * rgb.length), r.gradient)).toBe(0);
      expect(batch.scores[n]).toBe(r.score);
      single.push(rgbFromInputGradient(r.gradient, PIXELS));
    }
    // smoothGradRef with the noise handed over = the mean of those gradients (first two rows: one class).
    let call = 0;
    const sg = await smoothGradRef(() => single[call++], rgb, noise.slice(0, 2), PIXELS);
    const mean = single[0].map((v, i) => (v + single[1][i]) / 2);
    expect(errorStats(sg.gradient, mean).maxAbs).toBe(0);
    expect(Array.from(sg.saliency)).toEqual(Array.from(saliencyMapRef(mean, PIXELS)));
  });

  it('Integrated Gradients on the VGG: the completeness gap shrinks with M (logit score, black baseline)', async () => {
    const scoreAndGrad = async (x: Float64Array) => {
      const r = await tfjsInputGradient(SMALL, weights, caffe(x), { classIndex, score: 'logit', rule: 'plain' });
      return { score: r.score, gradient: rgbFromInputGradient(r.gradient, PIXELS) };
    };
    const baseline = new Float64Array(rgb.length);
    const gaps: number[] = [];
    let delta = 0;
    for (const M of [4, 16, 64]) {
      const ig = await integratedGradientsRef(scoreAndGrad, rgb, baseline, M);
      gaps.push(ig.completenessGap);
      delta = ig.delta;
      console.log(`IG M = ${M}: Σ attributions ${ig.sum.toFixed(5)}, s(x) − s(0) ${ig.delta.toFixed(5)}, gap ${ig.completenessGap.toExponential(2)}`);
    }
    // The integrand is piecewise constant along the path (a ReLU net's logit), so the midpoint sum's
    // error is set by where the kinks fall and need not fall monotonically at small M.
    expect(gaps[2]).toBeLessThan(gaps[0]);
    expect(gaps[2]).toBeLessThan(gaps[1]);
    expect(gaps[2] / Math.abs(delta)).toBeLessThan(1e-2);
  }, 60_000);
});

// A tiny network small enough for a float64 backprop written here from the definitions: conv3x3
// 'same' + ReLU, max-pool 2×2, flatten, dense + ReLU, dense + softmax.
const TINY: ModelSpec = {
  name: 'tiny',
  inputShape: [4, 4, 3],
  layers: [
    { name: 'c1', kind: 'conv3x3', filters: 4, activation: 'relu' },
    { name: 'p1', kind: 'maxpool2x2' },
    { name: 'flatten', kind: 'flatten' },
    { name: 'd1', kind: 'dense', units: 6, activation: 'relu' },
    { name: 'predictions', kind: 'dense', units: 5, activation: 'softmax' },
  ],
};

function tinyGradient64(w: ReadonlyMap<string, Float32Array>, x: ArrayLike<number>, c: number, score: 'prob' | 'logit', rule: ReluRule): Float64Array {
  const [h, wd, ci, co, d1, k] = [4, 4, 3, 4, 6, 5];
  const K1 = w.get('c1/kernel')!;
  const b1 = w.get('c1/bias')!;
  const z1 = new Float64Array(h * wd * co);
  for (let y = 0; y < h; y++)
    for (let xx = 0; xx < wd; xx++)
      for (let o = 0; o < co; o++) {
        let s = b1[o];
        for (let ky = 0; ky < 3; ky++)
          for (let kx = 0; kx < 3; kx++) {
            const iy = y + ky - 1;
            const ix = xx + kx - 1;
            if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
            for (let i = 0; i < ci; i++) s += x[(iy * wd + ix) * ci + i] * K1[((ky * 3 + kx) * ci + i) * co + o];
          }
        z1[(y * wd + xx) * co + o] = s;
      }
  const a1 = z1.map((v) => Math.max(v, 0));
  const pooled = new Float64Array(2 * 2 * co);
  const argmax = new Int32Array(2 * 2 * co);
  for (let py = 0; py < 2; py++)
    for (let px = 0; px < 2; px++)
      for (let o = 0; o < co; o++) {
        let best = -Infinity;
        for (const [dy, dx] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
          const at = ((2 * py + dy) * wd + 2 * px + dx) * co + o;
          if (a1[at] > best) [best, argmax[(py * 2 + px) * co + o]] = [a1[at], at];
        }
        pooled[(py * 2 + px) * co + o] = best;
      }
  const dense = (name: string, v: ArrayLike<number>, units: number) => {
    const kk = w.get(`${name}/kernel`)!;
    const out = Float64Array.from(w.get(`${name}/bias`)!);
    for (let j = 0; j < units; j++) for (let i = 0; i < v.length; i++) out[j] += v[i] * kk[i * units + j];
    return out;
  };
  const denseBack = (name: string, dOut: ArrayLike<number>, inputs: number) => {
    const kk = w.get(`${name}/kernel`)!;
    const units = dOut.length;
    const out = new Float64Array(inputs);
    for (let i = 0; i < inputs; i++) for (let j = 0; j < units; j++) out[i] += kk[i * units + j] * dOut[j];
    return out;
  };
  const reluBack = (z: ArrayLike<number>, dy: ArrayLike<number>) =>
    Float64Array.from(dy, (d, i) => (rule === 'deconvnet' ? (d > 0 ? d : 0) : rule === 'guided' ? (z[i] > 0 && d > 0 ? d : 0) : z[i] > 0 ? d : 0));
  const z2 = dense('d1', pooled, d1);
  const a2 = z2.map((v) => Math.max(v, 0));
  const z3 = dense('predictions', a2, k);
  const e = z3.map((v) => Math.exp(v - Math.max(...z3)));
  const p = e.map((v) => v / e.reduce((a, b) => a + b, 0));
  const dz3 = Float64Array.from({ length: k }, (_, j) => (score === 'logit' ? (j === c ? 1 : 0) : p[c] * ((j === c ? 1 : 0) - p[j])));
  const dz2 = reluBack(z2, denseBack('predictions', dz3, d1));
  const dPooled = denseBack('d1', dz2, pooled.length);
  const da1 = new Float64Array(a1.length);
  dPooled.forEach((v, i) => (da1[argmax[i]] += v));
  const dz1 = reluBack(z1, da1);
  const dx = new Float64Array(h * wd * ci);
  for (let y = 0; y < h; y++)
    for (let xx = 0; xx < wd; xx++)
      for (let o = 0; o < co; o++)
        for (let ky = 0; ky < 3; ky++)
          for (let kx = 0; kx < 3; kx++) {
            const iy = y + ky - 1;
            const ix = xx + kx - 1;
            if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
            for (let i = 0; i < ci; i++) dx[(iy * wd + ix) * ci + i] += dz1[(y * wd + xx) * co + o] * K1[((ky * 3 + kx) * ci + i) * co + o];
          }
  return dx;
}

describe('tfjsInputGradient vs a float64 backprop of a tiny network', () => {
  const w = heNormalWeights(TINY, { seed: 12, biasStd: 0.3 });
  const x = fillNormal(new Float32Array(4 * 4 * 3), mulberry32(13), 1);
  it.each([
    ['plain', 'prob'],
    ['guided', 'prob'],
    ['deconvnet', 'prob'],
    ['plain', 'logit'],
    ['guided', 'logit'],
    ['deconvnet', 'logit'],
  ] as const)('%s, score %s: rel L2 ≤ 1e-5', async (rule, score) => {
    for (const c of [0, 3]) {
      const got = await tfjsInputGradient(TINY, w, x, { classIndex: c, score, rule });
      const ref = tinyGradient64(w, x, c, score, rule);
      expect(relDiff(got.gradient, ref)).toBeLessThan(1e-5);
      // The rules are not vacuous on this net: each differs from the true gradient.
      if (rule !== 'plain') expect(relDiff(ref, tinyGradient64(w, x, c, score, 'plain'))).toBeGreaterThan(0.05);
    }
  });
});

describe('guided backprop on the planted network', () => {
  const img = to32(squareImage(16, 20, 24));
  const inside = Array.from({ length: PIXELS }, (_, p) => img[3 * p] > 0);
  /** The share of Σ saliency (max |g| over channels) that falls on the square's pixels. */
  async function massInside(w: ReadonlyMap<string, Float32Array>, rule: ReluRule) {
    const g = rgbFromInputGradient((await tfjsInputGradient(SMALL, w, caffe(img), { classIndex: 0, score: 'prob', rule })).gradient, PIXELS);
    const sal = saliencyMapRef(g, PIXELS);
    const total = sal.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(0);
    return { fraction: sal.reduce((a, v, p) => a + (inside[p] ? v : 0), 0) / total, g };
  }

  it('puts the |gradient| mass inside the planted square (and with the weights perturbed)', async () => {
    expect(inside.filter(Boolean).length).toBe(12 * 12);
    const exact = planted(SMALL);
    // The planted weights plus 0.05·He-normal noise (0.001· on the classifier, the planted gain):
    // every channel now mixes, and a ReLU's dy can be negative, so the rules no longer coincide.
    const noisy = planted(SMALL);
    const noise = heNormalWeights(SMALL, { seed: 9 });
    for (const [name, t] of noisy) {
      const e = noise.get(name)!;
      const gain = name.startsWith('predictions/') ? 0.001 : 0.05;
      t.forEach((v, i) => (t[i] = v + gain * e[i]));
    }
    const f: Record<string, number> = {};
    for (const rule of ['guided', 'plain', 'deconvnet'] as const) {
      const a = await massInside(exact, rule);
      f[rule] = a.fraction;
      f[`${rule}+noise`] = (await massInside(noisy, rule)).fraction;
      // Only the red channel feeds the planted path.
      if (rule === 'guided') expect(a.g.filter((v, i) => i % 3 !== 0 && v !== 0).length).toBe(0);
    }
    const show = (k: string) => `${k} ${f[k].toFixed(4)}`;
    console.log(`planted square (144 of 1024 pixels): |gradient| mass inside — ${Object.keys(f).map(show).join(', ')}`);
    // The planted weights are all ≥ 0, so guided = plain there; deconvnet ignores the forward ReLU mask
    // and spreads over the black background (it barely beats the square's 14 % area).
    expect(f.guided).toBeGreaterThan(0.999);
    expect(f['guided+noise']).toBeGreaterThan(0.9);
    expect(f.deconvnet).toBeLessThan(0.5);
  });
});

describe('float64 pixel-map references', () => {
  it('rgbFromInputGradient flips BGR to RGB; saliency is max |g| over channels; the signed map sums them', () => {
    expect(Array.from(rgbFromInputGradient([1, 2, 3, 4, 5, 6], 2))).toEqual([3, 2, 1, 6, 5, 4]);
    expect(Array.from(saliencyMapRef([-3, 1, 2, 0.5, -0.25, 0], 2))).toEqual([3, 0.5]);
    expect(Array.from(signedSumMapRef([-3, 1, 2, 0.5, -0.25, 0], 2))).toEqual([0, 0.25]);
  });

  it('deprocessImageRef on hand-computed arrays', () => {
    // mean 0, std 1: ±1/(1 + 1e-5)·0.1 + 0.5 = 0.599999…, 0.400001 → ×255 = 152.9997…, 102.0003 → truncated.
    expect(Array.from(deprocessImageRef([-1, 1]))).toEqual([102, 152]);
    // mean 1, std √3: −1/(√3 + 1e-5) = −0.577347 → 0.4422653·255 = 112.78; 3/(√3 + 1e-5) = 1.732041 → 0.6732041·255 = 171.67.
    expect(Array.from(deprocessImageRef([0, 0, 0, 4]))).toEqual([112, 112, 112, 171]);
    // Constant: std 0, 0/(1e-5) = 0 → 0.5·255 = 127.5 → 127.
    expect(Array.from(deprocessImageRef([2, 2, 2]))).toEqual([127, 127, 127]);
    // 99 zeros and a 1: mean 0.01, std √(0.01·0.99) = 0.0995; the 1 is 9.95 std out → clipped to 255;
    // the zeros: −0.01/0.0995 = −0.1005 → 0.48995·255 = 124.94 → 124.
    const spike = new Float64Array(100);
    spike[99] = 1;
    expect(Array.from(deprocessImageRef(spike))).toEqual([...new Array<number>(99).fill(124), 255]);
  });

  it('grayscaleImageRef on hand-computed arrays', () => {
    expect(Array.from(grayscaleImageRef([0, 1, 2, 4]))).toEqual([0, 63, 127, 255]); // 63.75, 127.5 truncate
    expect(Array.from(grayscaleImageRef([0, 0]))).toEqual([0, 0]);
    expect(Array.from(grayscaleImageRef([-1, -2]))).toEqual([0, 0]);
    expect(Array.from(grayscaleImageRef([-1, 2]))).toEqual([0, 255]);
  });

  it.skipIf(!existsSync(PYTHON))('deprocess, grayscale and saliency agree with numpy on the same floats', () => {
    const random = mulberry32(31);
    const g = Array.from(fillNormal(new Float32Array(PIXELS * 3), random, 3e-3));
    for (let i = 0; i < 20; i++) g[Math.floor(random() * g.length)] *= 40; // outliers, so some clip
    const script = [
      'import json, sys, numpy as np',
      'g = np.array(json.load(sys.stdin), dtype=np.float64)',
      'def deprocess_image(img):',
      '    img = img - np.mean(img)',
      '    img = img / (np.std(img) + 1e-5)',
      '    img = img * 0.1',
      '    img = img + 0.5',
      '    img = np.clip(img, 0, 1)',
      '    return np.uint8(img * 255)',
      'sal = np.abs(g.reshape(-1, 3)).max(axis=-1)',
      'gray = np.uint8(np.clip(sal / np.max(sal) * 255, 0, 255))',
      // pytorch-grad-cam runs deprocess_image on float32 gradients, in float32: how far that is from float64.
      'd32 = deprocess_image(g.astype(np.float32)).astype(np.int32)',
      "json.dump({'deprocess': deprocess_image(g).tolist(), 'deprocess32': d32.tolist(), 'sal': sal.tolist(), 'gray': gray.tolist()}, sys.stdout)",
    ].join('\n');
    const np = JSON.parse(execFileSync(PYTHON, ['-c', script], { input: JSON.stringify(g), encoding: 'utf8' })) as Record<'deprocess' | 'deprocess32' | 'sal' | 'gray', number[]>;
    const dep = deprocessImageRef(g);
    const sal = saliencyMapRef(g, PIXELS);
    expect(Array.from(dep)).toEqual(np.deprocess);
    expect(Array.from(sal)).toEqual(np.sal);
    expect(Array.from(grayscaleImageRef(sal))).toEqual(np.gray);
    expect(new Set(dep).size).toBeGreaterThan(50); // not a degenerate image
    expect(dep.some((v) => v === 255) && dep.some((v) => v === 0)).toBe(true); // the outliers clip
    const off = np.deprocess32.filter((v, i) => v !== dep[i]);
    console.log(`deprocess: numpy float32 (pytorch-grad-cam's dtype) differs from the float64 reference at ${off.length} of ${dep.length} elements`);
    expect(np.deprocess32.every((v, i) => Math.abs(v - dep[i]) <= 1)).toBe(true);
  });

  it('Integrated Gradients on s(x) = exp(w·x): midpoint error falls as 1/M², completeness gap with it', async () => {
    const w = [0.7, -0.4, 0.25, 0.9, -0.6];
    const x = [1.2, 0.5, -0.8, 0.6, -0.3];
    const b = [0.1, -0.2, 0.3, 0, 0.2];
    const dot = (u: ArrayLike<number>) => Array.from(u).reduce((s, v, i) => s + v * w[i], 0);
    const f = (u: Float64Array) => ({ score: Math.exp(dot(u)), gradient: w.map((wi) => wi * Math.exp(dot(u))) });
    // ∫₀¹ ∂ᵢs(b + α(x − b)) dα = wᵢ (e^{w·x} − e^{w·b}) / (w·(x − b)).
    const k = dot(x) - dot(b);
    const exact = x.map((xi, i) => ((xi - b[i]) * w[i] * (Math.exp(dot(x)) - Math.exp(dot(b)))) / k);
    const errors: number[] = [];
    const gaps: number[] = [];
    for (const M of [4, 16, 64]) {
      const ig = await integratedGradientsRef(f, x, b, M);
      errors.push(errorStats(ig.attributions, exact).maxAbs);
      gaps.push(ig.completenessGap);
    }
    console.log(`toy IG: max attribution error ${errors.map((e) => e.toExponential(2)).join(', ')}; gap ${gaps.map((e) => e.toExponential(2)).join(', ')} (M = 4, 16, 64)`);
    for (let j = 1; j < 3; j++) {
      expect(errors[j - 1] / errors[j]).toBeGreaterThan(14); // 16 for an O(1/M²) rule
      expect(gaps[j - 1] / gaps[j]).toBeGreaterThan(14);
    }
    expect(gaps[2]).toBeLessThan(1e-4 * Math.abs(Math.exp(dot(x)) - Math.exp(dot(b))));
    // The path's points and the pieces agree with the one-call form.
    const path = integratedGradientsPath(x, b, 4);
    expect(path[0][0]).toBeCloseTo(b[0] + 0.125 * (x[0] - b[0]), 15);
    const parts = integratedGradientsCombine(x, b, path.map((p) => f(p).gradient), f(Float64Array.from(x)).score, f(Float64Array.from(b)).score);
    expect(parts.completenessGap).toBe(gaps[0]);
  });

  it('smoothGradCombine: the mean gradient and its saliency', () => {
    const r = smoothGradCombine([[1, -2, 3], [3, 2, -7]], 1);
    expect(Array.from(r.gradient)).toEqual([2, 0, -2]);
    expect(Array.from(r.saliency)).toEqual([2]);
  });
});
