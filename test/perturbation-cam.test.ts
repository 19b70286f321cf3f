// The perturbation CAMs (AblationCAM, Score-CAM) on tiny VGG-shaped models, against a float64 CPU
// reference that runs the K perturbed forwards with the kernels' float64 references (conv3x3BiasReluRef,
// maxPool2x2Ref, denseBiasActRef, softmaxRef) and the same formulas (perturbation.ref.ts); plus the
// kernels that build the batches on their own, chunking, progress, s = 0, float16 weights and cleanup.
// The kept forward is a Network keeping every tensor (what GradCam makes), so this file does not
// depend on the Grad-CAM engine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convLayerNames, type ModelSpec } from '../src/engine/model.js';
import { Network } from '../src/engine/network.js';
import { DEFAULT_BATCH_ROWS, PerturbationCam, chunkRows, type PerturbationMethod, type PerturbationTarget } from '../src/engine/perturbationCam.js';
import { planForward } from '../src/engine/plan.js';
import { heNormalWeights, syntheticPhoto } from '../src/engine/synthetic.js';
import { ablateChannelsVersions } from '../src/kernels/ablateChannels.js';
import { conv3x3BiasReluRef } from '../src/kernels/conv3x3BiasRelu.ref.js';
import { denseBiasActRef } from '../src/kernels/denseBiasAct.ref.js';
import { maxPool2x2Ref } from '../src/kernels/maxPool2x2.ref.js';
import { unpackHalves } from '../src/kernels/packHalf.ref.js';
import { ablateChannelsRef, channelScoreWeightsRef, scoreCamMaskRef, scoreCamMasksRef, targetScoresRef } from '../src/kernels/perturbation.ref.js';
import { scoreCamMasksVersions, type ScoreCamMaskShape } from '../src/kernels/scoreCamMasks.js';
import { softmaxRef } from '../src/kernels/softmax.ref.js';
import { packTargetCoefficients } from '../src/kernels/targetScores.js';
import { assertClose } from './support/compare.js';
import { guardedOutput, readBack, readGuarded, run, upload } from './support/gpu.js';
import { testDevice } from './support/nodeDevice.js';
import { TINY_VGG } from './support/tinyVgg.js';

let device: GPUDevice;
beforeAll(async () => {
  device = await testDevice();
});
afterAll(() => device?.destroy());

type Weights = ReadonlyMap<string, ArrayLike<number>>;

/** A float64 forward of `model` over `n` rows of `input` (NHWC), every tensor by name. */
function forwardRef(model: ModelSpec, weights: Weights, input: ArrayLike<number>, n: number): Map<string, Float64Array> {
  const plan = planForward(model, n);
  const t = new Map<string, Float64Array>([['input', Float64Array.from(input)]]);
  for (const op of plan.ops) {
    const x = t.get(plan.tensors.get(op.input)!.aliasOf ?? op.input)!;
    const w = (name: string) => weights.get(name)!;
    switch (op.kind) {
      case 'conv3x3':
        t.set(op.output, conv3x3BiasReluRef(op.shape, x, w(op.weights), w(op.bias)));
        break;
      case 'maxpool2x2':
        t.set(op.output, maxPool2x2Ref(op.shape, x));
        break;
      case 'dense':
        t.set(op.output, denseBiasActRef(op.shape, x, w(op.weights), w(op.bias)));
        break;
      case 'softmax':
        t.set(op.output, softmaxRef(op.shape, x));
        break;
    }
  }
  for (const d of plan.tensors.values()) if (d.aliasOf) t.set(d.name, t.get(d.aliasOf)!);
  return t;
}

/** The layers after `layer`, on its output shape: the network AblationCAM runs. */
function tailModel(model: ModelSpec, layer: string): ModelSpec {
  const shape = planForward(model).tensors.get(layer)!.shape as [number, number, number];
  return { name: `${model.name} after ${layer}`, inputShape: shape, layers: model.layers.slice(model.layers.findIndex((l) => l.name === layer) + 1) };
}

/** pytorch-grad-cam's recipe, in float64, from the kept input. */
function referenceWeights(model: ModelSpec, weights: Weights, input: ArrayLike<number>, method: PerturbationMethod, layer: string, target: PerturbationTarget) {
  const last = model.layers[model.layers.length - 1].name;
  const out = target.score === 'prob' ? last : `${last}/logits`;
  const kept = forwardRef(model, weights, input, 1);
  const a = kept.get(layer)!;
  const [h, w, k] = planForward(model).tensors.get(layer)!.shape;
  const classes = kept.get(last)!.length;
  const t = packTargetCoefficients(classes, target.classes, target.sign);
  if (method === 'ablationcam') {
    const x = ablateChannelsRef({ rows: k, positions: h * w, channels: k, k0: 0 }, a);
    const scores = targetScoresRef(forwardRef(tailModel(model, layer), weights, x, k).get(out)!, t);
    const s = targetScoresRef(kept.get(out)!, t)[0];
    return { ...channelScoreWeightsRef(scores, { s }), scores, s };
  }
  const [H, W, C] = model.inputShape;
  const x = scoreCamMasksRef({ rows: k, k0: 0, channels: k, srcH: h, srcW: w, dstH: H, dstW: W, inChannels: C }, a, input);
  const scores = targetScoresRef(forwardRef(model, weights, x, k).get(out)!, t);
  return { ...channelScoreWeightsRef(scores, undefined), scores, s: NaN };
}

const keepAll = (model: ModelSpec) => ['input', ...model.layers.map((l) => l.name)];
const topClasses = (p: Float32Array) => [...p.keys()].sort((a, b) => p[b] - p[a]);

describe('the batch-building kernels vs their float64 references', () => {
  it.each([
    [1, 1, 1, 0],
    [3, 5, 7, 2],
    [4, 9, 6, 4], // rows past K: row 2 and 3 ablate channels 6 and 7, i.e. nothing
  ])('ablateChannels: %i rows, %i positions, %i channels from k0 = %i', async (rows, positions, channels, k0) => {
    const a = Float32Array.from({ length: positions * channels }, (_, i) => 1 + i);
    const aBuffer = upload(device, a, 'a');
    const x = guardedOutput(device, rows * positions * channels, 'x');
    const shape = { rows, positions, channels, k0 };
    await run(device, await ablateChannelsVersions[0].prepare(device, shape, { a: aBuffer, x }));
    const got = await readGuarded(device, x, rows * positions * channels, 'ablateChannels');
    expect([...got]).toEqual([...ablateChannelsRef(shape, a)]);
    aBuffer.destroy();
    x.destroy();
  });

  it.each([
    // [srcH, srcW, channels, dstH, dstW, rows, k0]: odd ratios, a 1-pixel axis each way, padding rows.
    [3, 5, 4, 16, 11, 4, 0],
    [7, 7, 3, 32, 32, 3, 1],
    [1, 4, 2, 6, 9, 2, 0],
    [4, 3, 2, 1, 1, 2, 0],
    [2, 2, 5, 224, 224, 2, 3],
  ])('scoreCamMasks: %i×%i×%i → %i×%i, %i rows from k0 = %i', async (srcH, srcW, channels, dstH, dstW, rows, k0) => {
    const s: ScoreCamMaskShape = { rows, k0, channels, srcH, srcW, dstH, dstW, inChannels: 3 };
    const a = Float32Array.from({ length: srcH * srcW * channels }, (_, i) => Math.abs(Math.sin(1.7 * i + 0.3)) * (i % 3 === 0 ? 0 : 4));
    const input = Float32Array.from({ length: dstH * dstW * 3 }, (_, i) => 50 * Math.cos(0.37 * i));
    const [aB, inB] = [upload(device, a, 'a'), upload(device, input, 'input')];
    const n = rows * dstH * dstW * 3;
    const x = guardedOutput(device, n, 'x');
    await run(device, await scoreCamMasksVersions[0].prepare(device, s, { a: aB, input: inB, x }));
    const got = await readGuarded(device, x, n, 'scoreCamMasks');
    // float32 interpolation (weights and positions rounded to float32) against float64: a few ulps of
    // the mask, times |input| ≤ 50.
    assertClose('masked input', got, scoreCamMasksRef(s, a, input), { atol: 5e-5, rtol: 1e-5 });
    for (const b of [aB, inB, x]) b.destroy();
  });

  it('align_corners=True: the corners of the image sample the corners of the map exactly', () => {
    const a = Float64Array.from([0, 1, 2, 3, 4, 5]); // 2×3, one channel
    const m = scoreCamMaskRef({ channels: 1, srcH: 2, srcW: 3, dstH: 5, dstW: 7 }, a, 0);
    const norm = (v: number) => v / (5 + 1e-8);
    expect([m[0], m[6], m[28], m[34]]).toEqual([norm(0), norm(2), norm(3), norm(5)]);
    expect(m[3]).toBeCloseTo(norm(1), 12); // middle of the top row: source column 1
    expect(m[2 * 7]).toBeCloseTo(norm(1.5), 12); // middle row, first column: halfway between 0 and 3
  });

  it('chunkRows spreads K over as few chunks as the rows allow', () => {
    expect(chunkRows(512, 64, 1000)).toEqual({ rows: 64, chunks: 8 });
    expect(chunkRows(20, 8, 1000)).toEqual({ rows: 7, chunks: 3 });
    expect(chunkRows(16, 6, 1000)).toEqual({ rows: 6, chunks: 3 });
    expect(chunkRows(8, 64, 1000)).toEqual({ rows: 8, chunks: 1 });
    expect(chunkRows(512, 64, 10)).toEqual({ rows: 10, chunks: 52 });
  });
});

describe('channel weights vs a float64 reference of the K perturbed forwards (TINY_VGG)', () => {
  const weights = heNormalWeights(TINY_VGG, { seed: 5, classifierGain: 0.005 }); // logits of order 1: an unsaturated softmax
  let network: Network;
  let cam: PerturbationCam;
  let input: Float32Array;
  let top: number[];
  let keptBefore: Float32Array[];
  const keptBuffers = () => ['input', 'block1_conv1', 'block2_conv1', 'predictions'].map((n) => network.tensorBuffer(n));
  beforeAll(async () => {
    network = await Network.create(device, TINY_VGG, weights, { keep: keepAll(TINY_VGG) });
    const r = await network.forward(syntheticPhoto(40, 28, 6), { read: ['input'] });
    input = r.tensors.get('input')!;
    top = topClasses(r.probabilities);
    cam = new PerturbationCam(network);
    keptBefore = await Promise.all(keptBuffers().map((b) => readBack(device, b)));
  });
  afterAll(() => {
    cam?.dispose();
    network?.dispose();
  });

  const cases: [PerturbationMethod, string, PerturbationTarget['score'], 'two classes' | 'counterfactual'][] = [];
  for (const method of ['ablationcam', 'scorecam'] as const)
    for (const layer of convLayerNames(TINY_VGG)) for (const score of ['prob', 'logit'] as const) for (const kind of ['two classes', 'counterfactual'] as const) cases.push([method, layer, score, kind]);

  it.each(cases)('%s at %s, score %s, %s', async (method, layer, score, kind) => {
    const target: PerturbationTarget = kind === 'two classes' ? { classes: [top[0], top[2]], sign: 1, score } : { classes: [top[1]], sign: -1, score };
    const k = network.tensorShape(layer)[2];
    const w = guardedOutput(device, k, 'w');
    const r = await network.exclusive(() => cam.channelWeights(method, layer, target, w));
    const got = await readGuarded(device, w, k, 'w');
    w.destroy();
    const want = referenceWeights(TINY_VGG, weights, input, method, layer, target);
    expect(r.warnings).toEqual([]);
    const chunks = chunkRows(k, DEFAULT_BATCH_ROWS[method], Infinity);
    expect(r).toMatchObject({ rows: chunks.rows * chunks.chunks, submissions: chunks.chunks });
    // The scores come from float32 forwards (relative error ~1e-6, the input being float32 too):
    // AblationCAM's (s − s_k)/s turns that into an absolute error of ~1e-6·|s_k / s|; Score-CAM's
    // softmax keeps it relative. Measured: ≤ 2.3e-6 of the largest weight (ablation), ≤ 2.2e-7
    // (Score-CAM); 1e-4 of the largest weight leaves a margin of 40× or more.
    const maxW = Math.max(...want.w.map(Math.abs));
    expect(maxW).toBeGreaterThan(0);
    assertClose(`${method} ${layer} w`, got, want.w, { atol: 1e-4 * maxW, rtol: 0 });
    // Not a trivial answer: the channels differ.
    expect(Math.max(...got) - Math.min(...got)).toBeGreaterThan(1e-3 * maxW);
  });

  it('the kept forward is untouched by all of that', async () => {
    const after = await Promise.all(keptBuffers().map((b) => readBack(device, b)));
    after.forEach((a, i) => expect([...a]).toEqual([...keptBefore[i]]));
  });

  it.each([
    ['ablationcam', 'block2_conv1', 6, [6, 12, 16], 18],
    ['scorecam', 'block1_conv1', 3, [3, 6, 8], 9],
  ] as const)('%s at %s in chunks of %i rows (not dividing K) equals one chunk; progress after each', async (method, layer, batchRows, progress, rows) => {
    const k = network.tensorShape(layer)[2];
    const target: PerturbationTarget = { classes: [top[0]], sign: 1, score: 'logit' };
    const one = device.createBuffer({ size: 4 * k, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const chunked = device.createBuffer({ size: 4 * k, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const seen: [number, number][] = [];
    const a = await network.exclusive(() => cam.channelWeights(method, layer, target, one, { batchRows: 64 }));
    const b = await network.exclusive(() => cam.channelWeights(method, layer, target, chunked, { batchRows, onProgress: (done, total) => seen.push([done, total]) }));
    expect(a).toMatchObject({ rows: k, submissions: 1 });
    expect(b).toMatchObject({ rows, submissions: progress.length });
    expect(seen).toEqual(progress.map((d) => [d, k]));
    // Each row of a batched forward is computed exactly as alone: the same bits.
    expect([...(await readBack(device, chunked))]).toEqual([...(await readBack(device, one))]);
    one.destroy();
    chunked.destroy();
  });

  it('rejects what it cannot do, naming it', async () => {
    const w = device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE });
    const t: PerturbationTarget = { classes: [1], sign: 1, score: 'prob' };
    await expect(cam.channelWeights('ablationcam', 'fc1', t, w)).rejects.toThrow(/'fc1' is not a conv layer of tinyvgg/);
    await expect(cam.channelWeights('gradcam' as PerturbationMethod, 'block1_conv1', t, w)).rejects.toThrow(/choose one of scorecam, ablationcam/);
    await expect(cam.channelWeights('scorecam', 'block1_conv1', { ...t, classes: [10] }, w)).rejects.toThrow(/class 10: must be an integer in 0..9/);
    await expect(cam.channelWeights('scorecam', 'block1_conv1', { ...t, classes: [2, 2] }, w)).rejects.toThrow(/listed twice/);
    await expect(cam.channelWeights('scorecam', 'block1_conv1', { ...t, classes: [] }, w)).rejects.toThrow(/at least one class/);
    await expect(cam.channelWeights('scorecam', 'block2_conv1', t, device.createBuffer({ size: 32, usage: GPUBufferUsage.STORAGE }))).rejects.toThrow(/32 bytes, block2_conv1 has 16 channels/);
    await expect(cam.channelWeights('scorecam', 'block1_conv1', t, w, { batchRows: 0 })).rejects.toThrow(/batchRows 0/);
    w.destroy();
  });
});

describe('AblationCAM when the unperturbed score is 0', () => {
  it('gives all-zero weights and says why; Score-CAM gives uniform weights', async () => {
    // Class 0's logit is exactly 0 for every input: its column of the classifier and its bias are 0.
    const weights = heNormalWeights(TINY_VGG, { seed: 5, classifierGain: 0.05 });
    const kernel = weights.get('predictions/kernel')!;
    for (let i = 0; i < kernel.length; i += 10) kernel[i] = 0;
    weights.get('predictions/bias')![0] = 0;
    const network = await Network.create(device, TINY_VGG, weights, { keep: keepAll(TINY_VGG) });
    const cam = new PerturbationCam(network);
    try {
      await network.forward(syntheticPhoto(20, 20, 2));
      const target: PerturbationTarget = { classes: [0], sign: 1, score: 'logit' };
      const w = guardedOutput(device, 16, 'w');
      const r = await network.exclusive(() => cam.channelWeights('ablationcam', 'block2_conv1', target, w));
      expect([...(await readGuarded(device, w, 16, 'w'))]).toEqual(new Array(16).fill(0));
      expect(r.warnings).toHaveLength(1);
      expect(r.warnings[0]).toMatch(/target score \(logit of class 0\) of the image is 0, so the ablation ratio \(s − s_k\) \/ s is undefined; every channel weight was set to 0/);
      const s = await network.exclusive(() => cam.channelWeights('scorecam', 'block2_conv1', target, w));
      expect(s.warnings).toEqual([]);
      expect([...(await readGuarded(device, w, 16, 'w'))]).toEqual(new Array(16).fill(1 / 16));
      w.destroy();
    } finally {
      cam.dispose();
      network.dispose();
    }
  });
});

describe('float16 dense weights', () => {
  // Like TINY_VGG with 12 classes: the f16 dense kernels need units in multiples of 4.
  const MODEL: ModelSpec = {
    ...TINY_VGG,
    name: 'tinyvgg12',
    layers: TINY_VGG.layers.map((l) => (l.name === 'predictions' ? { ...l, units: 12 } : l)),
  };

  it('the batched networks read the kept network’s packed float16 weights (reference: the same halves)', async () => {
    const weights = heNormalWeights(MODEL, { seed: 8, classifierGain: 0.05 });
    const network = await Network.create(device, MODEL, weights, { f16: true, keep: keepAll(MODEL) });
    const cam = new PerturbationCam(network);
    try {
      const r = await network.forward(syntheticPhoto(30, 30, 4), { read: ['input'] });
      // The reference uses exactly the values the GPU holds: dense kernels unpacked from their halves.
      const used = new Map<string, ArrayLike<number>>(weights);
      for (const name of ['fc1/kernel', 'predictions/kernel']) {
        const words = new Uint32Array((await readBack(device, network.weightBuffer(name))).buffer);
        used.set(name, unpackHalves(words, weights.get(name)!.length));
      }
      const input = r.tensors.get('input')!;
      const target: PerturbationTarget = { classes: [topClasses(r.probabilities)[0]], sign: 1, score: 'logit' };
      for (const method of ['ablationcam', 'scorecam'] as const) {
        const w = device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
        await network.exclusive(() => cam.channelWeights(method, 'block2_conv1', target, w, { batchRows: 5 }));
        const want = referenceWeights(MODEL, used, input, method, 'block2_conv1', target).w;
        assertClose(`${method} f16`, await readBack(device, w), want, { atol: 1e-4 * Math.max(...want.map(Math.abs)), rtol: 0 });
        w.destroy();
      }
    } finally {
      cam.dispose();
      network.dispose();
    }
  });
});

describe('GPU memory', () => {
  it('borrows the weights (nothing uploaded), frees everything it made in dispose(), and leaves the kept network working', async () => {
    const weights = heNormalWeights(TINY_VGG, { seed: 5, classifierGain: 0.05 });
    const network = await Network.create(device, TINY_VGG, weights, { keep: keepAll(TINY_VGG) });
    const image = syntheticPhoto(20, 24, 3);
    const before = await network.forward(image);
    const created: GPUBuffer[] = [];
    const destroyed = new Set<GPUBuffer>();
    const createBuffer = device.createBuffer;
    device.createBuffer = function (descriptor: GPUBufferDescriptor) {
      const b = createBuffer.call(device, descriptor);
      created.push(b);
      const destroy = b.destroy;
      b.destroy = () => (destroyed.add(b), destroy.call(b));
      return b;
    };
    try {
      const cam = new PerturbationCam(network);
      const w = device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE });
      const target: PerturbationTarget = { classes: [3], sign: 1, score: 'prob' };
      for (const method of ['ablationcam', 'scorecam'] as const)
        for (const layer of ['block1_conv1', 'block2_conv1']) await network.exclusive(() => cam.channelWeights(method, layer, target, w, { batchRows: 5 }));
      w.destroy();
      expect(cam.bytes).toBeGreaterThan(0);
      expect(created.filter((b) => /\/(kernel|bias)|float16/.test(b.label)).map((b) => b.label)).toEqual([]);
      cam.dispose();
      expect(created.filter((b) => !destroyed.has(b)).map((b) => `${b.label} (${b.size} bytes)`)).toEqual([]);
      await expect(cam.channelWeights('scorecam', 'block1_conv1', target, w)).rejects.toThrow(/used after dispose/);
    } finally {
      device.createBuffer = createBuffer;
    }
    try {
      const again = await network.forward(image);
      expect([...again.probabilities]).toEqual([...before.probabilities]);
    } finally {
      network.dispose();
    }
  });

  it('a borrowing network fails loudly once its lender is disposed, and checks what it borrows', async () => {
    const weights = heNormalWeights(TINY_VGG, { seed: 5 });
    const lender = await Network.create(device, TINY_VGG, weights);
    const tail = await Network.borrowing(lender, tailModel(TINY_VGG, 'block1_conv1'), { batch: 2 });
    await expect(Network.borrowing(lender, { ...TINY_VGG, layers: [{ name: 'other', kind: 'conv3x3', filters: 4, activation: 'relu' }] })).rejects.toThrow(
      /weight tensor 'other\/kernel' is not one of tinyvgg's/,
    );
    await expect(Network.borrowing(lender, { ...TINY_VGG, inputShape: [16, 16, 4] })).rejects.toThrow(/'block1_conv1\/kernel' is 3×3×4×8 here but 3×3×3×8 in tinyvgg/);
    expect(tail.memoryBytes).toBeLessThan(lender.memoryBytes);
    lender.dispose();
    expect(() => tail.encodeForward(device.createCommandEncoder(), {})).toThrow(/its weights' owner tinyvgg was disposed/);
    tail.dispose();
  });

  it('PerturbationCam needs the target layer (and for Score-CAM the input) kept', async () => {
    const network = await Network.create(device, TINY_VGG, heNormalWeights(TINY_VGG, { seed: 5 }));
    const cam = new PerturbationCam(network);
    try {
      const w = device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE });
      await expect(cam.channelWeights('scorecam', 'block2_conv1', { classes: [1], sign: 1, score: 'prob' }, w)).rejects.toThrow(/needs '\w+' kept after the forward/);
      w.destroy();
    } finally {
      cam.dispose();
      network.dispose();
    }
  });
});
