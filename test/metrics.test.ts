// The faithfulness metrics (GradCam.evaluate) against float64 references: the perturbed images built by
// src/engine/metrics/metrics.ref.ts (2-D blur, plain sorts) and ROAD's imputation solved directly
// (src/kernels/roadImpute.ref.ts), each scored by TensorFlow.js' CPU backend, not by our network; the
// statistics (Spearman, SSIM, percentiles) against their definitions and numpy; and the sanity check on
// the planted network, whose right answer is known.
//
// Tolerances, and why: our batched forward and TF.js' both run float32 but sum in other orders; on the
// small VGG the probabilities agree within ~1e-7 (measured), so scores are held to |Δ| ≤ 2e-6 and AUCs
// (means of scores) to the same. ROAD's iterative solve stops at relative residual 1e-6 here; the
// imputed pixels then differ from the direct solve by ≲ 1e-3 levels (a 224-level range), which moves a
// score by ≲ 1e-6: held to 1e-5.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tfjsForward } from '../src/bench/tfjsReference.js';
import { GradCam } from '../src/engine/gradcam.js';
import { aucRef, curveInputsRef, gaussianBlurRef, maskedImageRef, salientOrderRef, ssimRef } from '../src/engine/metrics/metrics.ref.js';
import { roadKeepMask } from '../src/engine/metrics/road.js';
import { resizeBilinearRef } from '../src/kernels/cam.ref.js';
import { roadImputeRef } from '../src/kernels/roadImpute.ref.js';
import { seededNormalRef } from '../src/kernels/seededNormal.ref.js';
import { SANITY_SPEARMAN_BOUND } from '../src/engine/metrics/sanity.js';
import { averageRanks, percentile, spearman, ssim } from '../src/engine/metrics/stats.js';
import type { EvaluateResult } from '../src/engine/metrics/types.js';
import { heNormalWeights, mulberry32 } from '../src/engine/synthetic.js';
import { syntheticPhoto } from './support/images.js';
import { readBack } from './support/gpu.js';
import { testDevice } from './support/nodeDevice.js';
import { planted, SMALL, squareImage } from './support/smallVgg.js';

const MEAN_BGR = [103.939, 116.779, 123.68];
const W = 32;
const H = 32;
let device: GPUDevice;
beforeAll(async () => {
  device = await testDevice();
});
afterAll(() => device?.destroy());

describe('statistics against their definitions and numpy', () => {
  const random = mulberry32(5);
  const a = Float64Array.from({ length: 400 }, () => random());
  const b = Float64Array.from(a, (v) => v + 0.3 * random());

  it('Spearman: 1 − 6Σd²/(n(n²−1)) without ties; average ranks with ties; NaN for a constant side', () => {
    const n = a.length;
    const ra = averageRanks(a);
    const rb = averageRanks(b);
    let d2 = 0;
    for (let i = 0; i < n; i++) d2 += (ra[i] - rb[i]) ** 2;
    expect(spearman(a, b)).toBeCloseTo(1 - (6 * d2) / (n * (n * n - 1)), 12);
    expect([...averageRanks([3, 1, 3, 2])]).toEqual([3.5, 1, 3.5, 2]);
    expect(spearman(a, a)).toBeCloseTo(1, 12);
    expect(spearman(a, Float64Array.from(a, (v) => -v))).toBeCloseTo(-1, 12);
    expect(spearman(a, new Float64Array(n))).toBeNaN();
  });

  it('SSIM: equals the window-by-window definition; 1 for equal maps; lower for unrelated ones', () => {
    const w = 20;
    const h = 20;
    expect(ssim(a, b, w, h)).toBeCloseTo(ssimRef(a, b, w, h), 10);
    expect(ssim(a, a, w, h)).toBeCloseTo(1, 12);
    const c = Float64Array.from({ length: 400 }, () => random());
    expect(ssim(a, c, w, h)).toBeLessThan(0.2);
  });

  it("percentile: numpy's linear interpolation, to the last bit", () => {
    const values = Array.from({ length: 37 }, () => Math.fround(random() * 10));
    const qs = [0, 10, 25, 50, 80, 90, 100];
    const out = execFileSync('/usr/bin/python3', ['-c', `import json,sys,numpy as np; v=np.array(json.loads(sys.argv[1]),dtype=np.float64); print(json.dumps([float(np.percentile(v,q)) for q in ${JSON.stringify(qs)}]))`, JSON.stringify(values)]);
    expect(qs.map((q) => percentile(values, q))).toEqual(JSON.parse(out.toString()));
  });
});

describe('small VGG: deletion, insertion, confidence and ROAD against TF.js on the reference perturbations', () => {
  let cam: GradCam;
  let weights: Map<string, Float32Array>;
  let input: Float32Array;
  let r: EvaluateResult;
  const steps = 6;
  const percentiles = [20, 50, 80];
  /** TF.js probability of the class for each input. */
  const tfScores = async (rows: Float32Array[], classIndex: number) => {
    const out: number[] = [];
    for (const x of rows) out.push((await tfjsForward(SMALL, weights, x)).get('predictions')![classIndex]);
    return out;
  };
  beforeAll(async () => {
    weights = heNormalWeights(SMALL, { seed: 4, classifierGain: 0.05 });
    cam = await GradCam.create(device, SMALL, weights);
    const f = await cam.forward(syntheticPhoto(45, 37, 9), { read: ['input'] });
    input = f.tensors.get('input')!;
    r = await cam.evaluate({ metrics: ['deletion', 'insertion', 'confidence', 'road'], steps, percentiles, roadNoise: 0, roadTolerance: 1e-6, batchRows: 4, layer: 'block2_conv2' });
  }, 120_000);
  afterAll(() => cam?.dispose());

  it('judges the Grad-CAM map upsampled bilinearly (half-pixel centres) to the input size', async () => {
    expect(r.method).toBe('gradcam');
    expect(r.map).toMatchObject({ width: W, height: H });
    const e = await cam.explain({ layer: 'block2_conv2', classIndex: r.classIndex });
    expect(e.heatmap.width).toBe(16);
    const up = resizeBilinearRef(e.heatmap.data, 16, 16, W, H);
    r.map.data.forEach((v, i) => expect(Math.abs(v - up[i])).toBeLessThan(1e-6));
    expect(r.map.data.some((v) => v > 0)).toBe(true);
  });

  it('deletion and insertion: every point of both curves, and their AUC', async () => {
    const order = salientOrderRef(r.map.data);
    const blurred = gaussianBlurRef(input, W, H, 3, 5);
    const deletion = await tfScores(curveInputsRef(input, blurred, order, steps), r.classIndex);
    const insertion = await tfScores(curveInputsRef(blurred, input, order, steps), r.classIndex);
    for (const [ours, ref] of [
      [r.deletion!, deletion],
      [r.insertion!, insertion],
    ] as const) {
      expect(ours.fractions).toEqual(Array.from({ length: steps + 1 }, (_, k) => k / steps));
      ours.scores.forEach((s, k) => expect(Math.abs(s - ref[k])).toBeLessThan(2e-6));
      expect(Math.abs(ours.auc - aucRef(ref))).toBeLessThan(2e-6);
    }
    console.log(`deletion AUC ${r.deletion!.auc.toFixed(5)}, insertion AUC ${r.insertion!.auc.toFixed(5)} (class ${r.classIndex})`);
    // The ends: everything removed is the blur, where insertion starts.
    expect(Math.abs(r.deletion!.scores[steps] - r.insertion!.scores[0])).toBeLessThan(2e-6);
  });

  it("deletion to the mean colour (RISE's deletion substrate: zero in the preprocessed space)", async () => {
    const m = await cam.evaluate({ metrics: ['deletion'], steps: 3, deletionSubstrate: 'mean', layer: 'block2_conv2' });
    const ref = await tfScores(curveInputsRef(input, new Float32Array(input.length), salientOrderRef(m.map.data), 3), m.classIndex);
    m.deletion!.scores.forEach((s, k) => expect(Math.abs(s - ref[k])).toBeLessThan(2e-6));
    expect(m.insertion).toBeUndefined();
  });

  it('confidence: the image × the map, Average Drop and Increase', async () => {
    const [original, masked] = await tfScores([input, maskedImageRef(input, r.map.data, MEAN_BGR)], r.classIndex);
    const c = r.confidence!;
    expect(Math.abs(c.original - original)).toBeLessThan(2e-6);
    expect(Math.abs(c.masked - masked)).toBeLessThan(2e-6);
    expect(c.averageDropPercent).toBeCloseTo((Math.max(0, original - masked) / original) * 100, 3);
    expect(c.increase).toBe(masked > original);
  });

  it('ROAD: masks as pytorch-grad-cam, imputation as a direct sparse solve, score changes per percentile', async () => {
    const road = r.road!;
    expect(road.percentiles).toEqual(percentiles);
    expect(road.solver.relativeResidual).toBeLessThanOrEqual(1e-6);
    const original = (await tfScores([input], r.classIndex))[0];
    for (const [i, p] of percentiles.entries()) {
      for (const order of ['morf', 'lerf'] as const) {
        const keep = roadKeepMask(r.map.data, p, order);
        const removed = 1 - keep.reduce((s, v) => s + v, 0) / keep.length;
        expect(order === 'morf' ? road.removedMorf[i] : road.removedLerf[i]).toBeCloseTo(removed, 12);
        const imputed = roadImputeRef({ masks: 1, height: H, width: W }, input, keep, new Float32Array(input.length));
        const [s] = await tfScores([Float32Array.from(imputed)], r.classIndex);
        expect(Math.abs((order === 'morf' ? road.morf[i] : road.lerf[i]) - (s - original))).toBeLessThan(1e-5);
      }
      // pytorch-grad-cam keeps the pixels strictly below the threshold: about p% of them.
      expect(road.removedMorf[i]).toBeGreaterThan(1 - p / 100 - 0.05);
    }
    const combined = percentiles.reduce((s, _, i) => s + (road.lerf[i] - road.morf[i]) / 2, 0) / percentiles.length;
    expect(road.combined).toBeCloseTo(combined, 12);
  });

  it("ROAD's masks equal pytorch-grad-cam's numpy expressions (MoRF: cam < percentile; LeRF: the same on 1 − cam)", () => {
    const code =
      'import json,sys,numpy as np\n' +
      'cam=np.array(json.loads(sys.stdin.read()),dtype=np.float64)\n' +
      `print(json.dumps([[int(v) for v in (c < np.percentile(c, p))] for p in ${JSON.stringify(percentiles)} for c in (cam, 1 - cam)]))`;
    const ref = JSON.parse(execFileSync('/usr/bin/python3', ['-c', code], { input: JSON.stringify([...r.map.data]) }).toString()) as number[][];
    percentiles.forEach((p, i) => {
      expect([...roadKeepMask(r.map.data, p, 'morf')]).toEqual(ref[2 * i]);
      expect([...roadKeepMask(r.map.data, p, 'lerf')]).toEqual(ref[2 * i + 1]);
    });
  });

  it('ROAD with noise, 5 percentiles in chunks of 4 rows (a padded chunk): the seeded noise on the imputed pixels only', async () => {
    const ps = [10, 30, 50, 70, 90];
    const noise = 2;
    const seed = 7;
    const n = await cam.evaluate({ metrics: ['road'], percentiles: ps, roadNoise: noise, seed, roadTolerance: 1e-6, batchRows: 4, layer: 'block2_conv2' });
    const masks = [...ps.map((p) => roadKeepMask(n.map.data, p, 'morf')), ...ps.map((p) => roadKeepMask(n.map.data, p, 'lerf'))];
    const S = masks.length;
    const keep = new Uint32Array(S * W * H);
    masks.forEach((m, i) => keep.set(m, i * W * H));
    const image = new Float32Array(S * input.length);
    for (let m = 0; m < S; m++) image.set(input, m * input.length);
    const draws = seededNormalRef(S * input.length, { seed, mean: 0, std: noise });
    const imputed = roadImputeRef({ masks: S, height: H, width: W }, input, keep, draws);
    const original = (await tfScores([input], n.classIndex))[0];
    const scores = await tfScores(
      masks.map((_, m) => Float32Array.from(imputed.subarray(m * input.length, (m + 1) * input.length))),
      n.classIndex,
    );
    ps.forEach((_, i) => {
      expect(Math.abs(n.road!.morf[i] - (scores[i] - original))).toBeLessThan(1e-5);
      expect(Math.abs(n.road!.lerf[i] - (scores[ps.length + i] - original))).toBeLessThan(1e-5);
    });
    // Noise changes the scores: the noisy run differs from a noiseless one.
    const quiet = await cam.evaluate({ metrics: ['road'], percentiles: ps, roadNoise: 0, roadTolerance: 1e-6, layer: 'block2_conv2' });
    expect(quiet.road!.morf.some((v, i) => Math.abs(v - n.road!.morf[i]) > 1e-6)).toBe(true);
  });

  it('rejects bad options with the fix', async () => {
    await expect(cam.evaluate({ metrics: ['speed' as never] })).rejects.toThrow(/metric 'speed': choose from deletion, insertion, road, confidence, sanity/);
    await expect(cam.evaluate({ steps: 0 })).rejects.toThrow(/steps 0: deletion\/insertion steps must be an integer in 1\.\.1024/);
    await expect(cam.evaluate({ percentiles: [0, 50] })).rejects.toThrow(/percentile 0: the % of pixels kept, strictly between 0 and 100/);
    await expect(cam.evaluate({ sanityLayers: ['block1_conv1', 'fc1'], metrics: ['sanity'] })).rejects.toThrow(/list layers from the top down/);
    await expect(cam.evaluate({ sanityLayers: [], metrics: ['sanity'] })).rejects.toThrow(/sanityLayers: name at least one layer/);
    await expect(cam.evaluate({ score: 'bogus' as never })).rejects.toThrow(/score 'bogus': choose 'prob' or 'logit'/);
    await expect(cam.evaluate({ deletionSubstrate: 'black' as never })).rejects.toThrow(/deletionSubstrate 'black': choose 'blur' or 'mean'/);
  });
});

describe('sanity check (cascading randomization) on the planted network', () => {
  let cam: GradCam;
  let r: EvaluateResult;
  beforeAll(async () => {
    cam = await GradCam.create(device, SMALL, planted(SMALL));
    await cam.forward(squareImage(16, 16, 24));
  }, 60_000);
  afterAll(() => cam?.dispose());

  it("Grad-CAM's map loses its square as the layers are randomized, and the loaded weights are untouched", async () => {
    const before = await readWeight(cam, 'fc1/kernel');
    r = await cam.evaluate({ metrics: ['sanity'], classIndex: 0, layer: 'block2_conv2', seed: 3, mapScore: 'logit' });
    const s = r.sanity!;
    planted32 = r;
    console.log(`sanity: ${s.layers.map((l, i) => `${l} ρ=${s.spearman[i].toFixed(3)} ssim=${s.ssim[i].toFixed(3)}`).join(', ')}`);
    expect(s.layers).toEqual(['predictions', 'fc1', 'block2_conv2', 'block2_conv1', 'block1_conv2', 'block1_conv1']);
    // The original map is the square (checked in cam-methods.test.ts): here it is the reference.
    let inside = 0;
    let total = 0;
    r.map.data.forEach((v, p) => {
      total += v;
      if (p % 32 >= 8 && p % 32 < 20 && Math.floor(p / 32) >= 8 && Math.floor(p / 32) < 20) inside += v;
    });
    expect(inside / total).toBeGreaterThan(0.9);
    expect(Math.abs(s.spearman.at(-1)!) > SANITY_SPEARMAN_BOUND).toBe(false);
    expect(s.passed).toBe(true);
    expect(s.verdict).toMatch(/^passes/);
    expect([...(await readWeight(cam, 'fc1/kernel'))]).toEqual([...before]);
    // The kept forward still serves the original map.
    const again = await cam.explain({ classIndex: 0, layer: 'block2_conv2' });
    expect(again.heatmap.data.some((v) => v > 0)).toBe(true);
  }, 120_000);

  it('cannot judge a constant original map, and says so without randomizing anything', async () => {
    // Class 1 has no weight in the planted classifier: its Grad-CAM map is zero everywhere.
    const z = await cam.evaluate({ metrics: ['sanity'], classIndex: 1, layer: 'block2_conv2' });
    expect(z.sanity!.passed).toBe(false);
    expect(z.sanity!.layers).toEqual([]);
    expect(z.sanity!.verdict).toMatch(/^cannot judge: the original gradcam map is constant/);
    expect(z.warnings.join('\n')).toMatch(/map of class 1 is constant/);
  });

  it('is seeded (the same seed, the same numbers), and fails a map that does not change', async () => {
    const again = await cam.evaluate({ metrics: ['sanity'], classIndex: 0, layer: 'block2_conv2', seed: 3, mapScore: 'logit', sanityLayers: ['predictions', 'fc1'] });
    expect(again.sanity!.spearman).toEqual(r.sanity!.spearman.slice(0, 2));
    // Randomized only down to fc1, the planted map is still the square (A has one live channel, and
    // fc1's random weights only rescale it): a check that stops there must say the map did not change.
    expect(again.sanity!.spearman[1]).toBeGreaterThan(0.9);
    expect(again.sanity!.passed).toBe(false);
    expect(again.sanity!.verdict).toMatch(/^FAILS: .*down to fc1/);
  }, 60_000);
});

let planted32: EvaluateResult;
describe('sanity check with float16 dense weights', () => {
  it('randomized dense layers are packed to the loaded format and the numbers follow the float32 run', async () => {
    const half = await GradCam.create(device, SMALL, planted(SMALL), { f16: true });
    try {
      await half.forward(squareImage(16, 16, 24));
      const h = await half.evaluate({ metrics: ['sanity'], classIndex: 0, layer: 'block2_conv2', seed: 3, mapScore: 'logit' });
      expect(h.sanity!.layers).toEqual(planted32.sanity!.layers);
      // float16 rounding of the dense weights moves ranks a little, never the verdict on this network.
      h.sanity!.spearman.forEach((s, i) => (Number.isNaN(s) ? expect(planted32.sanity!.spearman[i]).toBeNaN() : expect(Math.abs(s - planted32.sanity!.spearman[i])).toBeLessThan(0.05)));
      expect(h.sanity!.passed).toBe(planted32.sanity!.passed);
    } finally {
      half.dispose();
    }
  }, 60_000);
});

const readWeight = (cam: GradCam, name: string) => readBack(device, cam.network.weightBuffer(name));
