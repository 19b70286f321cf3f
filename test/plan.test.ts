// CPU-only tests: model shapes, pass planning, buffer sharing, dispatch math, parameter packing,
// limits, weights validation, class decoding. No GPU needed.
import { describe, expect, it } from 'vitest';
import { checkAdapterLimits, largestTensor, MissingLimitError } from '../src/engine/device.js';
import { decodePredictions, formatPredictions, IMAGENET_CLASS_INDEX } from '../src/engine/imagenet.js';
import { elementCount, inferShapes, VGG16, VGG19, weightSpecs, type ModelSpec } from '../src/engine/model.js';
import { validateImage } from '../src/engine/network.js';
import { validateWeights } from '../src/engine/weights/gpuWeights.js';
import { assignBuffers, forwardLifetimes, planForward, type Lifetime } from '../src/engine/plan.js';
import { heNormalWeights } from '../src/engine/synthetic.js';
import { conv3x3BiasReluVersions, packConv3x3Params, TILED_PIXELS } from '../src/kernels/conv3x3BiasRelu.js';
import { denseBiasActVersions } from '../src/kernels/denseBiasAct.js';
import { checkedWorkgroups, packU32Params, wgslConstU32 } from '../src/kernels/kernel.js';
import { choiceKey, chooseCandidate, opKernel } from '../src/engine/opKernels.js';
import { maxPool2x2Versions } from '../src/kernels/maxPool2x2.js';
import { packResizeTable, resizeAxisTable } from '../src/kernels/preprocessImage.js';
import { pilNearestResizeRgb } from './support/pil.js';
import { TINY_VGG } from './support/tinyVgg.js';

const paramCount = (m: ModelSpec) => weightSpecs(m).reduce((n, w) => n + elementCount(w.shape), 0);

describe('model specs', () => {
  it('VGG16 and VGG19 have Keras’ parameter counts (model.summary: 138,357,544 and 143,667,240)', () => {
    expect(paramCount(VGG16)).toBe(138_357_544);
    expect(paramCount(VGG19)).toBe(143_667_240);
  });

  it('derives Keras’ shapes: block5_conv3 14×14×512, block5_pool 7×7×512, flatten 25088', () => {
    const shapes = new Map(inferShapes(VGG16).map((l) => [l.layer.name, l.output]));
    expect(shapes.get('block1_conv1')).toEqual([224, 224, 64]);
    expect(shapes.get('block5_conv3')).toEqual([14, 14, 512]);
    expect(shapes.get('block5_pool')).toEqual([7, 7, 512]);
    expect(shapes.get('flatten')).toEqual([25088]);
    expect(shapes.get('predictions')).toEqual([1000]);
    expect(weightSpecs(VGG16).find((w) => w.name === 'fc1/kernel')!.shape).toEqual([25088, 4096]);
  });

  it('names the layer whose input does not fit', () => {
    const bad: ModelSpec = { name: 'bad', inputShape: [8, 8, 3], layers: [{ name: 'fc', kind: 'dense', units: 2, activation: 'relu' }] };
    expect(() => inferShapes(bad)).toThrow(/bad\/fc: dense needs a flat input/);
  });
});

describe('forward plan and buffer sharing', () => {
  it('has one pass per conv/pool/dense layer plus softmax; flatten is a view', () => {
    const plan = planForward(VGG16);
    expect(plan.ops).toHaveLength(13 + 5 + 3 + 1);
    expect(plan.ops.at(-1)!.kind).toBe('softmax');
    expect(plan.tensors.get('flatten')!.aliasOf).toBe('block5_pool');
    expect(plan.output).toBe('predictions');
  });

  it('a chain needs two shared buffers, sized by the largest activation', () => {
    const plan = assignBuffers(forwardLifetimes(planForward(VGG16)));
    expect(plan.slotBytes).toHaveLength(2);
    expect(Math.max(...plan.slotBytes)).toBe(224 * 224 * 64 * 4);
    // Consecutive tensors never share a buffer: a pass reads one while writing the other.
    const p = planForward(VGG16);
    for (const op of p.ops) expect(plan.slotOf.get(op.input), op.layer).not.toBe(plan.slotOf.get(op.output));
    expect(plan.slotOf.get('flatten')).toBe(plan.slotOf.get('block5_pool'));
  });

  it('kept tensors keep their buffer to the end', () => {
    const lifetimes = forwardLifetimes(planForward(VGG16));
    const plan = assignBuffers(lifetimes, new Set(['block5_conv3', 'block1_conv1']));
    const slot = plan.slotOf.get('block5_conv3')!;
    const kept = lifetimes.find((l) => l.name === 'block5_conv3')!;
    for (const l of lifetimes) if (l.first > kept.first) expect(plan.slotOf.get(l.name), l.name).not.toBe(slot);
    expect(() => assignBuffers(lifetimes, new Set(['nope']))).toThrow(/unknown tensor 'nope'/);
  });

  it('never lets two live tensors share a buffer (random lifetimes)', () => {
    let seed = 1;
    const rand = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    for (let trial = 0; trial < 50; trial++) {
      const ls: Lifetime[] = Array.from({ length: 12 }, (_, i) => ({ name: `t${i}`, bytes: 4 + Math.floor(rand() * 100), first: i, last: i + Math.floor(rand() * 5) }));
      const plan = assignBuffers(ls);
      for (const a of ls)
        for (const b of ls)
          if (a !== b && plan.slotOf.get(a.name) === plan.slotOf.get(b.name)) expect(a.last < b.first || b.last < a.first).toBe(true);
      for (const l of ls) expect(plan.slotBytes[plan.slotOf.get(l.name)!]).toBeGreaterThanOrEqual(l.bytes);
    }
  });
});

describe('dispatch math and parameter blocks', () => {
  it('covers every output with the fewest workgroups', () => {
    const unrolled = conv3x3BiasReluVersions.find((v) => v.name === 'unrolled')!;
    expect(unrolled.workgroups({ n: 1, h: 224, w: 224, cIn: 3, cOut: 64, relu: true })).toEqual([1, 7, 224]);
    expect(unrolled.workgroups({ n: 2, h: 14, w: 14, cIn: 512, cOut: 512, relu: true })).toEqual([8, 1, 28]);
    const naive = conv3x3BiasReluVersions.find((v) => v.name === 'naive')!;
    expect(naive.workgroups({ n: 1, h: 3, w: 5, cIn: 7, cOut: 65, relu: true })).toEqual([2, 5, 3]);
    expect(maxPool2x2Versions[0].workgroups({ n: 1, h: 7, w: 5, c: 3 })).toEqual([1, 2, 3]);
    expect(denseBiasActVersions.find((v) => v.name === 'naive')!.workgroups({ n: 3, k: 10, m: 4097, relu: false })).toEqual([65, 3, 1]);
    // 8 (or 16) pixels × 8 channels per invocation, 8 × 8 invocations per workgroup.
    const blocked = conv3x3BiasReluVersions.find((v) => v.name === 'blocked')!;
    expect(blocked.workgroups({ n: 1, h: 224, w: 224, cIn: 64, cOut: 64, relu: true })).toEqual([1, 4, 224]);
    expect(blocked.workgroups({ n: 8, h: 14, w: 14, cIn: 512, cOut: 512, relu: true })).toEqual([8, 1, 112]);
    const blocked16 = conv3x3BiasReluVersions.find((v) => v.name === 'blocked16')!;
    expect(blocked16.workgroups({ n: 1, h: 224, w: 224, cIn: 64, cOut: 64, relu: true })).toEqual([1, 2, 224]);
    // 4 output units per invocation; split-K: 64 of them × 4 k-slices per workgroup.
    for (const name of ['vec4', 'splitK']) expect(denseBiasActVersions.find((v) => v.name === name)!.workgroups({ n: 3, k: 25088, m: 4096, relu: true }), name).toEqual([16, 1, 3]);
  });

  it('names the kernel and axis when a dispatch is too large', () => {
    expect(() => checkedWorkgroups('k', [1, 70000, 1])).toThrow(/k: 70000 workgroups along y/);
  });

  it('packs uniforms as u32, padded to 16 bytes, in WGSL field order', () => {
    expect([...packConv3x3Params({ n: 1, h: 2, w: 3, cIn: 4, cOut: 5, relu: true })]).toEqual([1, 2, 3, 4, 5, 0, 0, 0]);
    expect(() => packU32Params([-1])).toThrow(/not a u32/);
  });

  it('reads tile constants from the WGSL source', () => {
    expect(TILED_PIXELS).toBe(4);
    expect(wgslConstU32('const TILE: u32 = 16u;', 'TILE')).toBe(16);
    expect(() => wgslConstU32('override TILE: u32 = 16u;', 'TILE')).toThrow(/no 'const TILE/);
  });

  it('runs the tuned version, else the first that supports the shape; a forced one must exist and fit', () => {
    const ops = planForward(VGG16).ops;
    const conv1 = opKernel(ops.find((o) => o.layer === 'block1_conv1')!, 'forward')!;
    const conv5 = opKernel(ops.find((o) => o.layer === 'block5_conv3')!, 'forward')!;
    // Cin = 3: no vec4 input loads, so 'blocked' is not a candidate there.
    expect(conv1.candidates.map((c) => c.version)).toEqual(['unrolled', 'tiled', 'naive']);
    expect(conv5.candidates.map((c) => c.version)).toEqual(['blocked', 'blocked16', 'unrolled', 'tiled', 'gemm32', 'gemm64', 'gemm64t8', 'splitK', 'naive']);
    expect(chooseCandidate(conv5).version).toBe('blocked');
    expect(chooseCandidate(conv5, undefined, { [choiceKey('conv3x3BiasRelu', '14×14×512→512')]: 'tiled' }).version).toBe('tiled');
    // A stale table naming a version that no longer exists falls back to the default.
    expect(chooseCandidate(conv5, undefined, { [choiceKey('conv3x3BiasRelu', '14×14×512→512')]: 'gone' }).version).toBe('blocked');
    expect(chooseCandidate(conv5, 'naive', { [choiceKey('conv3x3BiasRelu', '14×14×512→512')]: 'tiled' }).version).toBe('naive');
    expect(() => chooseCandidate(conv1, 'blocked')).toThrow(/conv3x3BiasRelu: no version named 'blocked' supports block1_conv1 \(224×224×3→64\); have: unrolled, tiled, naive/);
    expect(opKernel(ops.at(-1)!, 'backward')).toBeUndefined();
    const fc1 = opKernel(ops.find((o) => o.layer === 'fc1')!, 'backward', { reduce: true })!;
    // Tuning shapes are reduced but keep the full shape's key.
    expect(fc1).toMatchObject({ kernel: 'denseBackwardInput', shape: '25088→4096', buffers: { dy: 4096, y: 4096, weights: 2048 * 4096, dx: 2048 } });
  });

  it('a batch multiplies every pass and buffer, never the per-image shapes', () => {
    const one = planForward(VGG16);
    const eight = planForward(VGG16, 8);
    expect(eight.ops.map((o) => o.shape.n)).toEqual(one.ops.map(() => 8));
    expect([...eight.tensors.values()].map((t) => t.shape)).toEqual([...one.tensors.values()].map((t) => t.shape));
    expect(assignBuffers(forwardLifetimes(eight)).slotBytes).toEqual(assignBuffers(forwardLifetimes(one)).slotBytes.map((b) => 8 * b));
    expect(opKernel(eight.ops[0], 'forward')!.shape).toBe('8×224×224×3→64');
    expect(() => planForward(VGG16, 0)).toThrow(/batch 0: must be a positive integer/);
  });
});

describe('resize tables', () => {
  const sizes: [number, number][] = [[1, 224], [7, 3], [224, 224], [320, 224], [448, 224], [500, 224], [375, 224], [640, 224], [1000, 224], [100, 224]];
  it.each(sizes)('nearest %i → %i picks Pillow’s pixels', (inSize, outSize) => {
    const rgba = new Uint8Array(inSize * 4).map((_, i) => (i >> 2) % 256);
    const pil = pilNearestResizeRgb(rgba, inSize, 1, outSize, 1);
    const t = resizeAxisTable(inSize, outSize, 'nearest');
    for (let d = 0; d < outSize; d++) {
      expect(t.i0[d] % 256).toBe(pil[d * 3]);
      expect(t.i1[d]).toBe(t.i0[d]);
      expect(t.w1[d]).toBe(0);
    }
  });

  it('bilinear uses half-pixel centres and stays inside the image', () => {
    const t = resizeAxisTable(4, 8, 'bilinear');
    expect([...t.i0]).toEqual([0, 0, 0, 1, 1, 2, 2, 3]);
    expect(t.w1[1]).toBe(0.25); // (1 + 0.5)·0.5 − 0.5
    expect(t.w1[7]).toBe(0);
    expect(packResizeTable({ srcW: 4, srcH: 2, dstW: 8, dstH: 3, method: 'bilinear' })).toHaveLength(3 * 11);
  });
});

describe('device limits', () => {
  it('VGG16 needs 411 MB bindings for fc1', () => {
    expect(largestTensor(VGG16)).toMatchObject({ tensor: 'fc1/kernel', bytes: 25088 * 4096 * 4 });
  });

  it('names the missing limit, the tensor and the fix', () => {
    const limits = { maxStorageBufferBindingSize: 134217728, maxBufferSize: 268435456 } as GPUSupportedLimits;
    let err: unknown;
    try {
      checkAdapterLimits(limits, VGG16);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingLimitError);
    expect(String(err)).toMatch(/maxStorageBufferBindingSize is 134217728 bytes, but vgg16 needs 411041792 bytes for fc1\/kernel \(25088×4096 float32\)/);
    const ok = { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30 } as GPUSupportedLimits;
    expect(checkAdapterLimits(ok, VGG16)).toEqual({ maxStorageBufferBindingSize: 411041792, maxBufferSize: 411041792 });
  });
});

describe('weights and image validation', () => {
  const tiny: ModelSpec = {
    name: 'tiny',
    inputShape: [4, 4, 3],
    layers: [
      { name: 'c1', kind: 'conv3x3', filters: 8, activation: 'relu' },
      { name: 'flatten', kind: 'flatten' },
      { name: 'out', kind: 'dense', units: 2, activation: 'softmax' },
    ],
  };
  it('accepts a complete map and names what is missing, misshapen or extra', () => {
    const w = heNormalWeights(tiny, { seed: 1 });
    expect(() => validateWeights(tiny, w)).not.toThrow();
    const missing = new Map(w);
    missing.delete('out/kernel');
    expect(() => validateWeights(tiny, missing)).toThrow("weights: missing tensor 'out/kernel'; tiny needs float32 128×2 (256 values)");
    const wrong = new Map(w).set('c1/bias', new Float32Array(7));
    expect(() => validateWeights(tiny, wrong)).toThrow(/'c1\/bias' has 7 values; tiny needs float32 8/);
    const extra = new Map(w).set('fc9/kernel', new Float32Array(1));
    expect(() => validateWeights(tiny, extra)).toThrow(/unexpected tensor 'fc9\/kernel'/);
  });

  it('rejects images whose data does not match their size', () => {
    expect(() => validateImage({ width: 2, height: 2, data: new Uint8Array(12) })).toThrow(/12 bytes but 2×2 RGBA needs 16/);
    expect(() => validateImage({ width: 0, height: 2, data: new Uint8Array(0) })).toThrow(/positive integers/);
  });

  it('synthetic weights are seeded and He-scaled', () => {
    // TINY_VGG, not VGG16: two full VGG16 sets are 2 × 138 M normal samples (~37 s here); the rule
    // checked (same seed → same tensors, std = sqrt(2 / fan_in) per kernel) is the same at any size.
    const a = heNormalWeights(TINY_VGG, { seed: 5 });
    const b = heNormalWeights(TINY_VGG, { seed: 5 });
    expect([...a.keys()]).toEqual(weightSpecs(TINY_VGG).map((s) => s.name));
    for (const [name, t] of a) expect(b.get(name), name).toEqual(t);
    expect(heNormalWeights(TINY_VGG, { seed: 6 }).get('block2_conv1/kernel')).not.toEqual(a.get('block2_conv1/kernel'));
    // fan_in = 3·3·Cin for conv kernels, K for dense ones. The sample std of n normals is allowed 4
    // standard errors (relative SE 1/sqrt(2n): 19% for block1_conv1's 216 values, 3% for fc1's 8192);
    // a wrong fan-in (fan_out instead, or a conv's 3·3 left out) is off by 29% or more on every layer
    // here, beyond each layer's bound (measured: the four kernels are within 4% of He).
    for (const s of weightSpecs(TINY_VGG).filter((w) => w.name.endsWith('/kernel'))) {
      const t = a.get(s.name)!;
      const std = Math.sqrt(t.reduce((sum, v) => sum + v * v, 0) / t.length);
      const want = Math.sqrt(2 / elementCount(s.shape.slice(0, -1)));
      expect(Math.abs(std / want - 1), `${s.name}: std ${std}, He ${want}`).toBeLessThan(4 / Math.sqrt(2 * t.length));
    }
  });
});

describe('decodePredictions', () => {
  it('returns (wnid, label, probability) for the top classes, highest first', () => {
    const p = new Float32Array(1000).fill(0.0001);
    p[386] = 0.7; // African_elephant
    p[101] = 0.2;
    const top = decodePredictions(p, 3);
    expect(top.map((t) => [t.index, t.wnid, t.label])).toEqual([
      [386, 'n02504458', 'African_elephant'],
      [101, 'n01871265', 'tusker'],
      [0, 'n01440764', 'tench'],
    ]);
    expect(formatPredictions(top.slice(0, 1))).toBe(`[('n02504458', 'African_elephant', ${p[386]})]`);
    expect(Object.keys(IMAGENET_CLASS_INDEX)).toHaveLength(1000);
    expect(() => decodePredictions(new Float32Array(10))).toThrow(/expected 1000 probabilities/);
  });
});
