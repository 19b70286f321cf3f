// Grad-CAM end to end on small models (fast): against TensorFlow.js gradients, on a planted network
// whose right answer is known without any framework, the OpenCV-faithful overlay, and bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GradCam } from '../src/engine/gradcam.js';
import { Network } from '../src/engine/network.js';
import { heNormalWeights } from '../src/engine/synthetic.js';
import { gradcamHeatmapRef, gradcamChannelWeightsRef } from '../src/kernels/gradcam.ref.js';
import { jetColormap } from '../src/kernels/colormaps.js';
import { errorStats } from './support/compare.js';
import { syntheticPhoto } from './support/images.js';
import { testDevice } from './support/nodeDevice.js';
import { cvResizeLinear, kerasRecipeOverlay, octaveJet, roundHalfEven } from './support/opencv.js';
import { tfjsGradient } from '../src/bench/tfjsReference.js';
import { TINY_VGG } from './support/tinyVgg.js';
import { planted, SMALL, squareImage } from './support/smallVgg.js';

let device: GPUDevice;
beforeAll(async () => {
  device = await testDevice();
});
afterAll(() => device?.destroy());

describe('Grad-CAM vs TensorFlow.js gradients (small VGG-shaped model)', () => {
  let cam: GradCam;
  let weights: Map<string, Float32Array>;
  beforeAll(async () => {
    weights = heNormalWeights(SMALL, { seed: 4, classifierGain: 0.05 });
    cam = await GradCam.create(device, SMALL, weights);
  });
  afterAll(() => cam?.dispose());

  it.each([
    ['block2_conv2', 'prob', undefined],
    ['block2_conv1', 'logit', 7],
    ['block1_conv2', 'prob', 3],
    ['block1_conv1', 'logit', undefined],
  ] as const)('target %s, score %s, class %s', async (layer, score, classIndex) => {
    const image = syntheticPhoto(45, 37, 9);
    const r = await cam.run(image, { layer, score, classIndex, readGradient: true });
    const input = (await cam.network.forward(image, { read: ['input'] })).tensors.get('input')!;
    const ref = await tfjsGradient(SMALL, weights, input, layer, r.classIndex, score);
    if (classIndex !== undefined) expect(r.classIndex).toBe(classIndex);
    else expect(r.classIndex).toBe(r.predictions[0].index);
    const g = errorStats(r.gradient!, ref.gradient);
    expect(g.relL2, `gradient rel L2 ${g.relL2}`).toBeLessThan(1e-5);
    // The heatmap from the reference gradient and activations, by the recipe, in float64.
    const [h, w, c] = cam.network.tensorShape(layer);
    const shape = { positions: h * w, channels: c };
    const want = gradcamHeatmapRef(shape, ref.activation, gradcamChannelWeightsRef(shape, ref.gradient));
    expect(want.max).toBeGreaterThan(0);
    expect(errorStats(r.heatmap.data, want.heat).maxAbs).toBeLessThan(1e-5);
    expect(errorStats(r.rawHeatmap.data, want.raw).relL2).toBeLessThan(1e-5);
    expect([r.heatmap.height, r.heatmap.width]).toEqual([h, w]);
    expect(Math.max(...r.heatmap.data)).toBe(1);
    expect(r.warnings).toEqual([]);
    expect(r.timingsMs.total).toBeGreaterThan(0);
  });
});

describe('a planted network: the heatmap peaks where the test drew the object', () => {
  it.each([
    [4, 6],
    [40, 44],
    [44, 8],
  ])('square at (%i, %i)', async (x0, y0) => {
    const cam = await GradCam.create(device, SMALL, planted(SMALL));
    try {
      // 64×64 image → 32×32 input (nearest) → block2_conv2 at 16×16: one map cell covers 4×4 image pixels.
      const r = await cam.run(squareImage(x0, y0, 16), { classIndex: 0, layer: 'block2_conv2' });
      const { data, width } = r.heatmap;
      const cell = 64 / width;
      const hot = [...data.keys()].filter((i) => data[i] > 0.5).map((i) => [i % width, Math.floor(i / width)]);
      expect(hot.length).toBeGreaterThan(0);
      // Every hot cell lies on the square (cells are 8 image pixels wide at this layer).
      for (const [cx, cy] of hot) {
        expect(cx * cell + cell).toBeGreaterThan(x0);
        expect(cx * cell).toBeLessThan(x0 + 16);
        expect(cy * cell + cell).toBeGreaterThan(y0);
        expect(cy * cell).toBeLessThan(y0 + 16);
      }
      // And cells far from the square are cold.
      for (let i = 0; i < data.length; i++) {
        const [cx, cy] = [i % width, Math.floor(i / width)];
        if (cx * cell > x0 + 16 + cell || cx * cell + cell < x0 - cell || cy * cell > y0 + 16 + cell || cy * cell + cell < y0 - cell) expect(data[i]).toBe(0);
      }
    } finally {
      cam.dispose();
    }
  });

  it('an all-zero map gives zeros and a warning, never NaN', async () => {
    const cam = await GradCam.create(device, SMALL, planted(SMALL));
    try {
      const r = await cam.run(squareImage(0, 0, 0), { classIndex: 0, layer: 'block2_conv2' });
      expect(r.heatmap.data.every((v) => v === 0)).toBe(true);
      expect(r.warnings.join(' ')).toMatch(/has no positive value .* the heatmap is all zeros/);
      // NaN would first show in the float maps (0/0 in the normalisation; a uint8 overlay cannot hold it).
      expect(r.rawHeatmap.data.every(Number.isFinite), 'raw map finite').toBe(true);
      expect(Math.max(...r.rawHeatmap.data)).toBeLessThanOrEqual(0);
      // And the overlay is the recipe's blend of JET(0) over the image, at every pixel: on this black
      // image (0, 0, round(128 · 0.4)) = (0, 0, 51), opaque.
      const image = squareImage(0, 0, 0);
      const [jr, jg, jb] = octaveJet().subarray(0, 3);
      const blend = (jet: number, img: number) => Math.min(255, Math.max(0, roundHalfEven(jet * 0.4 + img)));
      const want = image.data.map((v, i) => (i % 4 === 3 ? v : blend([jr, jg, jb][i % 4], v)));
      expect([...want.subarray(0, 4)]).toEqual([0, 0, 51, 255]);
      expect(r.overlay!.data).toEqual(want);
    } finally {
      cam.dispose();
    }
  });
});

describe('overlay: the recipe’s OpenCV steps', () => {
  it('JET matches the Octave jet table within 1 level (OpenCV rounds its float32 resampling)', () => {
    const ours = jetColormap();
    const octave = octaveJet();
    for (let i = 0; i < ours.length; i++) expect(Math.abs(ours[i] - octave[i]), `entry ${i}`).toBeLessThanOrEqual(1);
    // Known OpenCV values: 0 → dark blue (0, 0, 128), 255 → dark red (128, 0, 0), in RGB.
    expect([...ours.subarray(0, 3)]).toEqual([0, 0, 128]);
    expect([...ours.subarray(765, 768)]).toEqual([128, 0, 0]);
  });

  it('matches an independent emulation within 1 level per channel, at the original image size', async () => {
    const cam = await GradCam.create(device, TINY_VGG, heNormalWeights(TINY_VGG, { seed: 8, classifierGain: 0.05 }));
    try {
      for (const [W, H, alpha] of [[61, 47, 0.4], [16, 16, 1], [300, 200, 0.25]] as const) {
        const image = syntheticPhoto(W, H, W);
        // Class 1's map at block2_conv1 has no zero cell; class 3's has 20 of 64, for the check below.
        let cold = 0;
        for (const classIndex of [1, 3]) {
          const r = await cam.run(image, { layer: 'block2_conv1', alpha, score: 'logit', classIndex });
          expect(r.overlay!.width).toBe(W);
          expect(r.overlay!.height).toBe(H);
          const want = kerasRecipeOverlay(r.heatmap.data, r.heatmap.width, r.heatmap.height, image.data, W, H, alpha);
          let worst = 0;
          for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(r.overlay!.data[i] - want[i]));
          expect(worst, `${W}×${H} α=${alpha} class ${classIndex}`).toBeLessThanOrEqual(1);
          // Where the heatmap is 0 the JET colour is dark blue (0, 0, 128): only blue moves, and by exactly
          // the recipe's blend, round(128·α + B) saturated. "Heatmap 0": uint8(255·h) = 0 for the OpenCV-style
          // upsampled map h, with a margin (255·h < 0.99) far above float32 rounding (~1e-7), so the
          // engine's own upsampling must pick JET(0) there too; the 1-level tolerance above does not apply.
          const [jr, jg, jb] = octaveJet().subarray(0, 3);
          const blend = (jet: number, img: number) => Math.min(255, Math.max(0, roundHalfEven(jet * alpha + img)));
          const up = cvResizeLinear(r.heatmap.data, r.heatmap.width, r.heatmap.height, W, H);
          const wrong: string[] = [];
          for (let p = 0; p < W * H; p++) {
            if (!(255 * up[p] < 0.99)) continue;
            cold++;
            const got = [...r.overlay!.data.subarray(4 * p, 4 * p + 3)];
            const img = [...image.data.subarray(4 * p, 4 * p + 3)];
            const exact = [blend(jr, img[0]), blend(jg, img[1]), blend(jb, img[2])];
            if (got.some((v, c) => v !== exact[c])) wrong.push(`(${p % W}, ${Math.floor(p / W)}): image ${img}, overlay ${got}, want ${exact}`);
          }
          expect(wrong.slice(0, 5), `${W}×${H} α=${alpha} class ${classIndex}: ${wrong.length} pixels where the map is 0`).toEqual([]);
          expect(up.some((v) => v > 0.5)).toBe(true);
        }
        // The exact check above ran on some pixels (measured: 355, 28 and 6146 for the three sizes).
        expect(cold, `${W}×${H}: pixels where the map is 0`).toBeGreaterThan(0);
      }
    } finally {
      cam.dispose();
    }
  });
});

describe('batched forward (the benchmark’s batch 8)', () => {
  it('a batch of 3 gives each image exactly what a batch of 1 gives it', async () => {
    const weights = heNormalWeights(SMALL, { seed: 4, classifierGain: 0.05 });
    const single = await Network.create(device, SMALL, weights);
    const batched = await Network.create(device, SMALL, weights, { batch: 3 });
    try {
      const inputs = [1, 2, 3].map((seed) => syntheticPhoto(40, 30, seed));
      const staged = await Promise.all(inputs.map(async (im) => (await single.forward(im, { read: ['input', 'block2_conv2'] })).tensors));
      const all = new Float32Array(3 * staged[0].get('input')!.length);
      staged.forEach((t, i) => all.set(t.get('input')!, i * t.get('input')!.length));
      const r = await batched.forward(all, { read: ['block2_conv2'] });
      const perImage = (a: Float32Array, i: number, n: number) => [...a.subarray(i * n, (i + 1) * n)];
      for (let i = 0; i < 3; i++) {
        const one = await single.forward(Float32Array.from(staged[i].get('input')!));
        expect(perImage(r.probabilities, i, 1000), `image ${i} probabilities`).toEqual([...one.probabilities]);
        const conv = staged[i].get('block2_conv2')!;
        expect(perImage(r.tensors.get('block2_conv2')!, i, conv.length), `image ${i} block2_conv2`).toEqual([...conv]);
      }
      await expect(batched.forward(inputs[0])).rejects.toThrow(/a batch-3 network takes 3 preprocessed images as one Float32Array/);
      await expect(batched.forward(new Float32Array(10))).rejects.toThrow(/got 10 floats, smallvgg takes 3×32×32×3 = 9216 \(NHWC, batch 3\)/);
      await expect(GradCam.create(device, SMALL, weights, { batch: 2 })).rejects.toThrow(/one image at a time/);
    } finally {
      single.dispose();
      batched.dispose();
    }
  });
});

describe('float16 dense weights (off by default)', () => {
  it('half the dense weight memory, the f16 kernels forward and backward, and the same map within float16 rounding', async () => {
    const weights = heNormalWeights(SMALL, { seed: 4, classifierGain: 0.05 });
    const full = await GradCam.create(device, SMALL, weights);
    const half = await GradCam.create(device, SMALL, weights, { f16: true });
    try {
      const image = syntheticPhoto(45, 37, 9);
      const a = await full.run(image, { layer: 'block2_conv2' });
      const b = await half.run(image, { layer: 'block2_conv2', classIndex: a.classIndex });
      const denseBytes = 4 * (1024 * 64 + 64 * 1000);
      expect(full.memoryBytes - half.memoryBytes).toBe(denseBytes / 2);
      expect(half.network.plan.ops.filter((o) => o.kind === 'dense').map((o) => half.network.versions[half.network.plan.ops.indexOf(o)])).toEqual(['vec4f16', 'vec4f16']);
      expect([...half.backwardVersions.values()].filter((v) => v.startsWith('denseBackwardInput'))).toEqual(['denseBackwardInput.vec4f16', 'denseBackwardInput.vec4f16']);
      // Each weight is within 2⁻¹¹ relative of its float32 value: the map moves by about that much.
      const heat = errorStats(b.heatmap.data, a.heatmap.data);
      expect(heat.maxAbs).toBeGreaterThan(0);
      expect(heat.maxAbs).toBeLessThan(1e-2);
      expect(errorStats(b.probabilities, a.probabilities).maxAbs).toBeLessThan(1e-3);
    } finally {
      full.dispose();
      half.dispose();
    }
  });
});

describe('bad input', () => {
  let cam: GradCam;
  beforeAll(async () => {
    cam = await GradCam.create(device, TINY_VGG, heNormalWeights(TINY_VGG, { seed: 8 }));
  });
  afterAll(() => cam?.dispose());
  const image = syntheticPhoto(20, 20);

  it('unknown layer', async () => {
    await expect(cam.run(image, { layer: 'block9_conv1' })).rejects.toThrow("layer 'block9_conv1' is not a conv layer of tinyvgg; choose one of block1_conv1, block2_conv1");
    await expect(cam.run(image, { layer: 'fc1' })).rejects.toThrow(/'fc1' is not a conv layer/);
  });
  it('class out of range', async () => {
    await expect(cam.run(image, { classIndex: 10 })).rejects.toThrow('class 10: must be an integer in 0..9');
    await expect(cam.run(image, { classIndex: -1 })).rejects.toThrow(/class -1/);
  });
  it('alpha and score', async () => {
    await expect(cam.run(image, { alpha: 1.5 })).rejects.toThrow(/alpha 1.5: must be between 0 and 1/);
    await expect(cam.run(image, { score: 'softmax' as 'prob' })).rejects.toThrow(/choose 'prob' or 'logit'/);
  });
  it('0-pixel and huge images', async () => {
    await expect(cam.run({ width: 0, height: 5, data: new Uint8Array(0) })).rejects.toThrow(/positive integers/);
    await expect(cam.run({ width: 10000, height: 5000, data: new Uint8Array(0) })).rejects.toThrow(/10000×5000 is larger than the 40 megapixel limit/);
  });
});
