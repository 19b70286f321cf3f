// The kept forward: explain() and overlay() rerun only their stages on the image run() or forward()
// left on the GPU, and give exactly what a full run() gives; buffers for one image size are made once;
// the normalised blend and the other colormaps against independent emulations; misuse is refused
// with a message that says what to call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GradCam, type StageCounts } from '../src/engine/gradcam.js';
import { heNormalWeights } from '../src/engine/synthetic.js';
import { colorizeHeatmap, colormap, jetColormap } from '../src/kernels/colormaps.js';
import { syntheticPhoto } from './support/images.js';
import { testDevice } from './support/nodeDevice.js';
import { cvResizeLinear, kerasRecipeOverlay, showCamOnImage } from './support/opencv.js';
import { TINY_VGG } from './support/tinyVgg.js';

let device: GPUDevice;
let cam: GradCam;
const image = syntheticPhoto(61, 47, 3);
beforeAll(async () => {
  device = await testDevice();
  cam = await GradCam.create(device, TINY_VGG, heNormalWeights(TINY_VGG, { seed: 8, classifierGain: 0.05 }));
});
afterAll(() => {
  cam?.dispose();
  device?.destroy();
});

const counts = (): StageCounts => ({ ...cam.stageCounts });
const delta = (before: StageCounts) => Object.fromEntries(Object.entries(cam.stageCounts).map(([k, v]) => [k, v - before[k as keyof StageCounts]]));
const options = { layer: 'block2_conv1', score: 'logit' } as const;

/** Counts device.createBuffer calls while `f` runs. */
async function buffersMadeBy(f: () => Promise<unknown>): Promise<number> {
  const original = device.createBuffer.bind(device);
  let made = 0;
  device.createBuffer = (d: GPUBufferDescriptor) => {
    made++;
    return original(d);
  };
  try {
    await f();
  } finally {
    device.createBuffer = original;
  }
  return made;
}

describe('kept forward: each change reruns only what it needs', () => {
  it('explain() for another class and layer = a full run(), without preprocess or forward', async () => {
    const first = await cam.run(image, options);
    const other = first.predictions[1].index;
    const before = counts();
    const explained = await cam.explain({ ...options, classIndex: other });
    expect(delta(before)).toEqual({ preprocess: 0, forward: 0, backward: 1, cam: 1, overlay: 1 });
    const full = await cam.run(image, { ...options, classIndex: other });
    expect(explained.classIndex).toBe(other);
    expect(explained.heatmap.data).toEqual(full.heatmap.data);
    expect(explained.overlay!.data).toEqual(full.overlay!.data);
    expect(explained.predictions).toEqual(full.predictions);
    expect(explained.heatmap.data).not.toEqual(first.heatmap.data);
    // Another layer: a different map size, still no forward.
    const b1 = counts();
    const layer = await cam.explain({ layer: 'block1_conv1', score: 'logit' });
    expect(delta(b1)).toEqual({ preprocess: 0, forward: 0, backward: 1, cam: 1, overlay: 1 });
    expect([layer.heatmap.width, layer.heatmap.height]).toEqual([16, 16]);
    const fullLayer = await cam.run(image, { layer: 'block1_conv1', score: 'logit' });
    expect(layer.heatmap.data).toEqual(fullLayer.heatmap.data);
    expect(Object.keys(layer.timingsMs)).toContain('total');
    expect(Object.keys(layer.timingsMs)).not.toContain('forward');
  });

  it('overlay() for another α, blend or colormap = the overlay of a full run(), and runs only the overlay pass', async () => {
    await cam.run(image, options);
    for (const o of [{ alpha: 0.8 }, { alpha: 0.3, blend: 'normalized' }, { alpha: 0.5, colormap: 'viridis' }, { alpha: 1, blend: 'normalized', colormap: 'gray' }] as const) {
      const before = counts();
      const recoloured = await cam.overlay(o);
      expect(delta(before), JSON.stringify(o)).toEqual({ preprocess: 0, forward: 0, backward: 0, cam: 0, overlay: 1 });
      const full = await cam.run(image, { ...options, ...o });
      expect(recoloured.overlay.data, JSON.stringify(o)).toEqual(full.overlay!.data);
    }
  });

  it('forward() then explain() = run(); the predictions come from the forward', async () => {
    const before = counts();
    const view = await cam.forward(image, { read: ['block1_pool'] });
    expect(delta(before)).toEqual({ preprocess: 1, forward: 1, backward: 0, cam: 0, overlay: 0 });
    expect(view.tensors.get('block1_pool')!.length).toBe(8 * 8 * 8);
    const explained = await cam.explain(options);
    const full = await cam.run(image, options);
    expect(view.predictions).toEqual(full.predictions);
    expect(explained.heatmap.data).toEqual(full.heatmap.data);
    expect(explained.overlay!.data).toEqual(full.overlay!.data);
  });

  it('one compute pass per stage gives exactly what one pass per kernel (profile) gives; only profiling times every kernel', async () => {
    const asked = { ...options, readGradient: true, read: ['block1_pool', 'block2_conv1'] };
    const staged = await cam.run(image, asked);
    const profiled = await cam.run(image, { ...asked, profile: true });
    for (const k of ['probabilities', 'gradient'] as const) expect(profiled[k], k).toEqual(staged[k]);
    expect(profiled.heatmap.data).toEqual(staged.heatmap.data);
    expect(profiled.rawHeatmap.data).toEqual(staged.rawHeatmap.data);
    expect(profiled.overlay!.data).toEqual(staged.overlay!.data);
    expect(profiled.tensors).toEqual(staged.tensors);
    // Network.forward splits its pass where a tensor is copied out before its buffer is reused.
    const read = await cam.network.forward(image, { read: asked.read });
    expect(read.tensors).toEqual(staged.tensors);
    expect(read.probabilities).toEqual(staged.probabilities);
    if (!device.features.has('timestamp-query')) return;
    expect(staged.passTimings.map((p) => p.stage)).toEqual(['preprocess', 'forward', 'backward', 'cam', 'overlay']);
    const forwardKernels = new Set(profiled.passTimings.filter((p) => p.stage === 'forward').map((p) => p.label.split(' ')[0]));
    expect([...forwardKernels]).toEqual(TINY_VGG.layers.filter((l) => l.kind !== 'flatten').map((l) => l.name));
  });

  it('buffers for one image size are made once: repeated runs, explains, layer switches and overlays allocate none', async () => {
    await cam.run(image, options);
    await cam.explain({ ...options, classIndex: 2 });
    await cam.explain({ layer: 'block1_conv1', score: 'logit' });
    await cam.overlay({ alpha: 0.7 });
    const bytes = cam.memoryBytes;
    const made = await buffersMadeBy(async () => {
      await cam.run(syntheticPhoto(61, 47, 9), options);
      await cam.explain({ ...options, classIndex: 2 });
      await cam.explain({ layer: 'block1_conv1', score: 'logit' });
      await cam.explain(options);
      await cam.overlay({ alpha: 0.2 });
      await cam.overlay({ alpha: 0.9, blend: 'normalized' });
    });
    expect(made).toBe(0);
    expect(cam.memoryBytes).toBe(bytes);
    // Another size: new image and overlay buffers, the old ones freed (memory does not grow per size).
    await cam.run(syntheticPhoto(30, 20, 1), options);
    await cam.run(image, options);
    expect(cam.memoryBytes).toBeLessThanOrEqual(bytes);
  });
});

describe('blends and colormaps against independent emulations', () => {
  it("'normalized' = pytorch-grad-cam's show_cam_on_image blend (before its max rescale) within 1 level; α 0 is the image", async () => {
    for (const alpha of [0, 0.3, 0.5, 1]) {
      const r = await cam.run(image, { ...options, alpha, blend: 'normalized' });
      const up = cvResizeLinear(r.heatmap.data, r.heatmap.width, r.heatmap.height, image.width, image.height);
      const want = showCamOnImage(up, image.data, image.width, image.height, alpha);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(r.overlay!.data[i] - want[i]));
      expect(worst, `α ${alpha}`).toBeLessThanOrEqual(1);
      if (alpha === 0) expect(r.overlay!.data).toEqual(new Uint8ClampedArray(image.data));
    }
    // The default stays the recipe's saturating blend.
    const r = await cam.run(image, options);
    const recipe = kerasRecipeOverlay(r.heatmap.data, r.heatmap.width, r.heatmap.height, image.data, image.width, image.height, 0.4);
    let worst = 0;
    for (let i = 0; i < recipe.length; i++) worst = Math.max(worst, Math.abs(r.overlay!.data[i] - recipe[i]));
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('colormaps: gray is the identity, viridis is within 6 levels of matplotlib, hot is black to white; each at α 1 is its colour', async () => {
    const gray = colormap('gray');
    for (let i = 0; i < 256; i++) expect([...gray.subarray(3 * i, 3 * i + 3)]).toEqual([i, i, i]);
    // matplotlib.cm.viridis at 0, 0.25, 0.5, 0.75, 1 (its published table).
    const viridis = colormap('viridis');
    const anchors: [number, number[]][] = [
      [0, [0.267004, 0.004874, 0.329415]],
      [64, [0.229739, 0.322361, 0.545706]],
      [128, [0.127568, 0.566949, 0.550556]],
      [191, [0.369214, 0.788888, 0.382914]],
      [255, [0.993248, 0.906157, 0.143936]],
    ];
    for (const [i, rgb] of anchors) for (let c = 0; c < 3; c++) expect(Math.abs(viridis[3 * i + c] - 255 * rgb[c]), `viridis[${i}][${c}]`).toBeLessThanOrEqual(6);
    const hot = colormap('hot');
    expect([...hot.subarray(0, 3)]).toEqual([0, 0, 0]);
    expect([...hot.subarray(765, 768)]).toEqual([255, 255, 255]);
    expect(colormap('jet')).toEqual(jetColormap());
    // At α 1 with the normalised blend the overlay is the colour itself: the engine's LUT upload and
    // indexing per colormap, against colorizeHeatmap (same upsampling in float64: a pixel may sit on a
    // uint8 level boundary, so 1 level).
    const r = await cam.run(image, options);
    for (const name of ['viridis', 'hot', 'gray'] as const) {
      const o = await cam.overlay({ alpha: 1, blend: 'normalized', colormap: name });
      const want = colorizeHeatmap(r.heatmap, image.width, image.height, name);
      let off = 0;
      for (let p = 0; p < image.width * image.height; p++) if ([0, 1, 2].some((c) => o.overlay.data[4 * p + c] !== want[4 * p + c])) off++;
      expect(off / (image.width * image.height), name).toBeLessThan(0.02);
    }
  });
});

describe('misuse', () => {
  it('explain() and overlay() before a forward, after another forward, and bad options say what to do', async () => {
    const fresh = await GradCam.create(device, TINY_VGG, heNormalWeights(TINY_VGG, { seed: 2 }));
    try {
      await expect(fresh.explain()).rejects.toThrow(/no image yet; call forward\(image\) or run\(image\) first/);
      await expect(fresh.overlay()).rejects.toThrow(/no image yet/);
      await fresh.forward(image);
      await expect(fresh.overlay({ alpha: 0.5 })).rejects.toThrow(/no map for this image yet; call explain\(\) or run\(image\) first/);
      await fresh.explain();
      await fresh.network.forward(image);
      await expect(fresh.explain()).rejects.toThrow(/the network ran another forward since this image's; call forward\(image\) or run\(image\) again/);
      await expect(fresh.run(image, { blend: 'multiply' as never })).rejects.toThrow(/blend 'multiply': choose one of add, normalized/);
      await expect(fresh.run(image, { colormap: 'rainbow' as never })).rejects.toThrow(/colormap 'rainbow': choose one of jet, viridis, hot, gray/);
      // After a refused call the engine still works.
      const ok = await fresh.run(image);
      expect(ok.overlay!.width).toBe(61);
      fresh.dispose();
      await expect(fresh.run(image)).rejects.toThrow(/after dispose/);
    } finally {
      fresh.dispose();
    }
  });

  it('a forward of the network alone, even concurrent, never lends its activations to explain()', async () => {
    const other = syntheticPhoto(61, 47, 77);
    const [a, b] = await Promise.all([cam.run(image, options), cam.network.forward(other)]);
    const [a2, b2] = [await cam.run(image, options), await cam.network.forward(other)];
    // Same size, one shared upload buffer: each call still saw its own pixels.
    expect(a.probabilities).toEqual(a2.probabilities);
    expect(b.probabilities).toEqual(b2.probabilities);
    expect(a.probabilities).not.toEqual(b.probabilities);
    await expect(cam.explain(options)).rejects.toThrow(/the network ran another forward/);
    await expect(cam.overlay()).rejects.toThrow(/the network ran another forward/);
    expect(cam.hasForward).toBe(false);
    // Asking for a tensor twice gives it once, and the engine goes on.
    const r = await cam.run(image, { ...options, read: ['block1_pool', 'block1_pool'] });
    expect(r.tensors.get('block1_pool')!.length).toBe(8 * 8 * 8);
    expect(cam.hasForward).toBe(true);
  });

  it('concurrent calls are run one after another, each with its own result', async () => {
    const [a, b, c] = await Promise.all([cam.run(image, { ...options, classIndex: 1 }), cam.explain({ ...options, classIndex: 4 }), cam.overlay({ alpha: 0.9 })]);
    expect(a.classIndex).toBe(1);
    expect(b.classIndex).toBe(4);
    const full = await cam.run(image, { ...options, classIndex: 4, alpha: 0.9 });
    expect(c.overlay.data).toEqual(full.overlay!.data);
  });
});
