// The CAM family end to end on a small VGG-shaped model: every gradient method's map against the float64
// formulas (src/kernels/cam.ref.ts) applied to TensorFlow.js CPU activations and tf.grad gradients;
// several targets in one backward equal to the same targets one at a time; class sets and
// counterfactuals; several layers; aug- and eigen-smoothing; and a planted network on which every
// method, with or without gradients, must light up the planted square.
// Tolerances: our gradients match TF.js' within rel L2 1e-5 (test/gradcam.test.ts), so maps built from
// sums of their products agree within 1e-4 of the map's max; the eigen maps depend on the gap between
// the first two singular values (power iteration to 1e-6, then a projection), within 2e-3.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAM_METHODS, GradCam, type CamMethod } from '../src/engine/gradcam.js';
import { heNormalWeights } from '../src/engine/synthetic.js';
import { camNormalizeRef, camRawRef, resizeBilinearRef, type GradientMethodRef } from '../src/kernels/cam.ref.js';
import { tfjsGradient } from '../src/bench/tfjsReference.js';
import { errorStats } from './support/compare.js';
import { syntheticPhoto } from './support/images.js';
import { testDevice } from './support/nodeDevice.js';
import { planted, SMALL, squareImage } from './support/smallVgg.js';

let device: GPUDevice;
beforeAll(async () => {
  device = await testDevice();
});
afterAll(() => device?.destroy());

const GRADIENT_METHODS = ['gradcam', 'gradcam++', 'xgradcam', 'hirescam', 'gradcam-elementwise', 'layercam', 'eigencam', 'eigengradcam'] as const satisfies readonly GradientMethodRef[];
const isEigen = (m: string) => m.startsWith('eigen');

describe('every gradient method vs the float64 formulas on TF.js activations and gradients', () => {
  let cam: GradCam;
  let weights: Map<string, Float32Array>;
  let input: Float32Array;
  let top: number[];
  beforeAll(async () => {
    weights = heNormalWeights(SMALL, { seed: 4, classifierGain: 0.05 });
    cam = await GradCam.create(device, SMALL, weights);
    const f = await cam.forward(syntheticPhoto(45, 37, 9), { read: ['input'], top: 5 });
    input = f.tensors.get('input')!;
    top = f.predictions.map((p) => p.index);
  });
  afterAll(() => cam?.dispose());

  /** The reference G of a signed sum of classes' scores: tf.grad is linear in the score. */
  async function reference(layer: string, classes: number[], sign: number, score: 'prob' | 'logit') {
    let g: Float64Array | undefined;
    let a: Float32Array | undefined;
    for (const c of classes) {
      const r = await tfjsGradient(SMALL, weights, input, layer, c, score);
      a = r.activation;
      g ??= new Float64Array(r.gradient.length);
      r.gradient.forEach((v, i) => (g![i] += sign * v));
    }
    const [h, w, k] = cam.network.tensorShape(layer);
    return { a: a!, g: g!, shape: { positions: h * w, channels: k }, h, w };
  }

  it.each([
    ['block2_conv2', 'prob'],
    ['block1_conv2', 'logit'],
  ] as const)('at %s, score %s: all eight maps, and eigen-smoothed Grad-CAM++ and LayerCAM', async (layer, score) => {
    const ref = await reference(layer, [top[1]], 1, score);
    const check = async (method: CamMethod, eigenSmooth: boolean) => {
      const r = await cam.explain({ method, layer, score, classIndex: top[1], eigenSmooth });
      const want = camNormalizeRef(camRawRef(method as GradientMethodRef, ref.shape, ref.a, ref.g, eigenSmooth));
      expect(want.max, `${method}: the reference map has a positive value`).toBeGreaterThan(0);
      const tol = isEigen(method) || eigenSmooth ? 2e-3 : 1e-4;
      const e = errorStats(r.heatmap.data, want.heat);
      expect(e.maxAbs, `${method}${eigenSmooth ? ' eigen-smoothed' : ''} at ${layer}: max |Δ| ${e.maxAbs}`).toBeLessThan(tol);
      expect([r.heatmap.width, r.heatmap.height]).toEqual([ref.w, ref.h]);
      expect(r.method).toBe(method);
      expect(r.target).toEqual({ kind: 'class', classes: [top[1]], sign: 1 });
      expect(r.warnings).toEqual([]);
      return r;
    };
    const maps = new Map<string, Float32Array>();
    for (const method of GRADIENT_METHODS) maps.set(method, (await check(method, false)).heatmap.data);
    for (const method of ['gradcam++', 'layercam'] as const) await check(method, true);
    // With post-ReLU activations ReLU(G)·A = ReLU(G·A): LayerCAM and the elementwise Grad-CAM agree exactly.
    expect(maps.get('layercam')).toEqual(maps.get('gradcam-elementwise'));
    // And they are different maps from Grad-CAM's (the test would not see a method mix-up otherwise).
    expect(errorStats(maps.get('hirescam')!, maps.get('gradcam')!).maxAbs).toBeGreaterThan(1e-3);
  });

  it('class sets and counterfactuals: the gradient of Σ ±score, for every gradient method', async () => {
    const layer = 'block2_conv2';
    for (const [target, classes, sign] of [
      [`classes:${top[0]},${top[2]}`, [top[0], top[2]], 1],
      [`counterfactual:${top[0]}`, [top[0]], -1],
    ] as const) {
      const ref = await reference(layer, [...classes], sign, 'logit');
      for (const method of ['gradcam', 'hirescam', 'layercam', 'xgradcam'] as const) {
        const r = await cam.explain({ method, layer, score: 'logit', target, readGradient: true });
        expect(errorStats(r.gradient!, ref.g).relL2, `${target} gradient`).toBeLessThan(1e-5);
        const want = camNormalizeRef(camRawRef(method, ref.shape, ref.a, ref.g));
        expect(errorStats(r.heatmap.data, want.heat).maxAbs, `${method} ${target}`).toBeLessThan(1e-4);
        expect(r.target).toEqual({ kind: target.split(':')[0], classes: [...classes], sign });
      }
    }
  });

  it('top-5 maps from one backward pass equal five single-target runs', async () => {
    for (const method of ['gradcam', 'gradcam++', 'hirescam'] as const) {
      const before = { ...cam.stageCounts };
      const many = await cam.explain({ method, targets: [0, 1, 2, 3, 4].map((rank) => ({ kind: 'rank' as const, rank })), readGradient: true });
      expect(cam.stageCounts.backward - before.backward, 'one backward for five targets').toBe(1);
      expect(many.maps.map((m) => m.classIndex)).toEqual(top);
      for (const [i, m] of many.maps.entries()) {
        const one = await cam.explain({ method, classIndex: top[i], readGradient: true });
        // Rows are summed in another order by the batched dense backward: equal within float32 rounding.
        const n = one.gradient!.length;
        expect(errorStats(many.gradient!.subarray(i * n, (i + 1) * n), one.gradient!).relL2, `${method} gradient row ${i}`).toBeLessThan(1e-6);
        expect(errorStats(m.heatmap.data, one.heatmap.data).maxAbs, `${method} map ${i}`).toBeLessThan(1e-5);
      }
    }
  });

  it('targets that take one pass each (eigen maps): every map as its own run; overlay() redraws the first', async () => {
    const many = await cam.explain({ method: 'eigengradcam', targets: [`class:${top[0]}`, `counterfactual:${top[1]}`] });
    expect(many.maps.map((m) => m.target)).toEqual([
      { kind: 'class', classes: [top[0]], sign: 1 },
      { kind: 'counterfactual', classes: [top[1]], sign: -1 },
    ]);
    const second = await cam.explain({ method: 'eigengradcam', target: `counterfactual:${top[1]}` });
    const first = await cam.explain({ method: 'eigengradcam', target: `class:${top[0]}` });
    expect(many.maps[0].heatmap.data).toEqual(first.heatmap.data);
    expect(many.maps[1].heatmap.data).toEqual(second.heatmap.data);
    await cam.explain({ method: 'eigengradcam', targets: [`class:${top[0]}`, `counterfactual:${top[1]}`] });
    expect((await cam.overlay()).overlay.data).toEqual(first.overlay!.data);
  });

  it('several layers: each map normalised, upsampled to the input size, averaged, normalised', async () => {
    const layers = ['block2_conv2', 'block1_conv2'];
    const r = await cam.explain({ method: 'gradcam', layers, classIndex: top[0] });
    expect([r.heatmap.width, r.heatmap.height]).toEqual([32, 32]);
    expect(r.layers).toEqual(layers);
    const sum = new Float64Array(32 * 32);
    for (const layer of layers) {
      const ref = await reference(layer, [top[0]], 1, 'prob');
      const heat = camNormalizeRef(camRawRef('gradcam', ref.shape, ref.a, ref.g)).heat;
      resizeBilinearRef(heat, ref.w, ref.h, 32, 32).forEach((v, i) => (sum[i] += v / layers.length));
    }
    expect(errorStats(r.heatmap.data, camNormalizeRef(sum).heat).maxAbs).toBeLessThan(1e-4);
  });

  it('aug-smooth = the mean of six runs on the flipped and scaled input, each mirrored back', async () => {
    const layer = 'block2_conv2';
    const r = await cam.explain({ method: 'gradcam++', layer, classIndex: top[0], augSmooth: true });
    // The kept forward is still the unaugmented image's: explain() and overlay() go on working.
    expect(cam.hasForward).toBe(true);
    const [h, w] = [r.heatmap.height, r.heatmap.width];
    const sum = new Float64Array(w * h);
    const [H, W, C] = SMALL.inputShape;
    for (const flip of [true, false])
      for (const factor of [0.9, 1.0, 1.1]) {
        const x = new Float32Array(input.length);
        for (let y = 0; y < H; y++) for (let c = 0; c < W; c++) for (let ch = 0; ch < C; ch++) x[(y * W + c) * C + ch] = Math.fround(factor) * input[(y * W + (flip ? W - 1 - c : c)) * C + ch];
        const one = await cam.run(x, { method: 'gradcam++', layer, classIndex: top[0] });
        for (let y = 0; y < h; y++) for (let c = 0; c < w; c++) sum[y * w + c] += one.heatmap.data[y * w + (flip ? w - 1 - c : c)] / 6;
      }
    expect(errorStats(r.heatmap.data, camNormalizeRef(sum).heat).maxAbs).toBeLessThan(1e-5);
  });
});

describe('the planted network: every method lights up the square', () => {
  let cam: GradCam;
  beforeAll(async () => {
    cam = await GradCam.create(device, SMALL, planted(SMALL));
  });
  afterAll(() => cam?.dispose());

  it.each([
    [4, 6],
    [40, 44],
  ])('square at (%i, %i)', async (x0, y0) => {
    await cam.forward(squareImage(x0, y0, 16));
    for (const method of CAM_METHODS) {
      const r = await cam.explain({ method, classIndex: 0, layer: 'block2_conv2', score: 'logit' });
      const { data, width } = r.heatmap;
      const cell = 64 / width;
      const peak = data.indexOf(Math.max(...data));
      const [cx, cy] = [peak % width, Math.floor(peak / width)];
      expect(data[peak], method).toBe(1);
      // The peak cell overlaps the square.
      expect(cx * cell + cell, `${method} peak x`).toBeGreaterThan(x0);
      expect(cx * cell, `${method} peak x`).toBeLessThan(x0 + 16);
      expect(cy * cell + cell, `${method} peak y`).toBeGreaterThan(y0);
      expect(cy * cell, `${method} peak y`).toBeLessThan(y0 + 16);
    }
  });

  it('an image without the object: every method gives zeros and a warning, never NaN', async () => {
    await cam.forward(squareImage(0, 0, 0));
    for (const method of CAM_METHODS) {
      const r = await cam.explain({ method, classIndex: 0, layer: 'block2_conv2', score: 'logit' });
      expect(r.heatmap.data.every((v) => v === 0), method).toBe(true);
      expect(r.rawHeatmap.data.every(Number.isFinite), method).toBe(true);
      expect(r.warnings.join(' '), method).toMatch(/no positive value|undefined|zero/);
    }
  });
});

describe('state after unusual calls', () => {
  it('run() with Eigen-CAM (no score pass) explains the top-1; a call that fails part-way leaves no map to redraw', async () => {
    const cam = await GradCam.create(device, SMALL, heNormalWeights(SMALL, { seed: 4, classifierGain: 0.05 }));
    try {
      const r = await cam.run(syntheticPhoto(40, 30, 2), { method: 'eigencam' });
      expect(r.classIndex).toBe(r.predictions[0].index);
      expect(r.target).toEqual({ kind: 'class', classes: [r.predictions[0].index], sign: 1 });
      const stop = () => {
        throw new Error('stopped by the caller');
      };
      await expect(cam.explain({ method: 'ablationcam', batchRows: 4, onProgress: stop })).rejects.toThrow('stopped by the caller');
      expect(cam.hasForward).toBe(true);
      await expect(cam.overlay()).rejects.toThrow(/no map for this image yet/);
      // And the engine goes on: the same call without the interruption, then its overlay.
      const ablation = await cam.explain({ method: 'ablationcam', batchRows: 4 });
      expect(ablation.score).toBe('logit');
      expect((await cam.overlay()).overlay.data).toEqual(ablation.overlay!.data);
    } finally {
      cam.dispose();
    }
  });
});

describe('bad options say what to do', () => {
  let cam: GradCam;
  beforeAll(async () => {
    cam = await GradCam.create(device, SMALL, heNormalWeights(SMALL, { seed: 4 }));
    await cam.forward(syntheticPhoto(32, 32, 1));
  });
  afterAll(() => cam?.dispose());

  it.each([
    [{ method: 'gradcam+' }, /method 'gradcam\+': choose one of gradcam, gradcam\+\+, /],
    [{ target: 'klass:3' }, /target 'klass:3': unknown kind 'klass'; write class:<i>/],
    [{ target: 'classes:' }, /target 'classes:': '' is not a class index/],
    [{ target: 'class:1000' }, /target class 1000: must be an integer in 0\.\.999/],
    [{ target: 'counterfactual:1,2' }, /give one class index/],
    [{ layers: [] }, /layers: list at least one conv layer/],
    [{ layers: ['block1_conv1', 'fc1'] }, /layer 'fc1' is not a conv layer of smallvgg/],
    [{ layers: ['block1_conv1', 'block1_conv1'] }, /listed twice/],
    [{ targets: [] }, /targets: list at least one target/],
    [{ method: 'scorecam', augSmooth: true }, /augSmooth with scorecam: each of the 6 augmentations would rerun its 512 forwards/],
  ] as const)('%o', async (options, message) => {
    await expect(cam.explain(options as never)).rejects.toThrow(message);
    // A refused call leaves the kept forward usable.
    expect(cam.hasForward).toBe(true);
  });
});
