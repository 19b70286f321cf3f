// Kernel test cases as data, shared by the Node (vitest) and browser (puppeteer) runs. Each case runs
// one kernel version on one shape, compares with the float64 CPU reference and checks guard floats.
//
// Tolerances, and why:
// - conv3x3 / dense: float32 accumulation of K = 9·Cin (or K) products in a fixed order. The rounding
//   error of such a sum grows like sqrt(K)·2⁻²⁴ relative to the sum of |terms| (random signs), i.e. a few
//   1e-6 at K = 4608 and 25088. We allow |Δ| ≤ 2e-5·|ref| + 2e-5·rms(ref): an order of magnitude above
//   that, far below any indexing or padding bug (which is O(rms)).
// - maxPool2x2: exact (a max involves no arithmetic).
// - softmax: WGSL's exp is accurate to a few ulp; probabilities within 1e-6·|p| + 1e-7.
// - preprocess nearest: exact (the same pixel, one float32 rounding). Bilinear: float32 interpolation of
//   0..255 values, |Δ| ≤ 5e-4 (≈ 2e-6 of a level's range).
import { conv3x3BiasReluVersions, type Conv3x3Shape } from '../../src/kernels/conv3x3BiasRelu.js';
import { runsShape } from './tiles.js';
import { conv3x3BiasReluRef } from '../../src/kernels/conv3x3BiasRelu.ref.js';
import { denseBiasActVersions, GEMM_MAX_ROWS, type DenseShape } from '../../src/kernels/denseBiasAct.js';
import { denseBiasActRef } from '../../src/kernels/denseBiasAct.ref.js';
import { maxPool2x2Versions, type MaxPool2x2Shape } from '../../src/kernels/maxPool2x2.js';
import { maxPool2x2Ref } from '../../src/kernels/maxPool2x2.ref.js';
import { packResizeTable, preprocessImageVersions, type PreprocessShape } from '../../src/kernels/preprocessImage.js';
import { preprocessImageRef } from '../../src/kernels/preprocessImage.ref.js';
import { softmaxVersions, type SoftmaxShape } from '../../src/kernels/softmax.js';
import { softmaxRef } from '../../src/kernels/softmax.ref.js';
import { mulberry32 } from '../../src/engine/synthetic.js';
import { normal, rms, uniform, withBuffers, withWeightFormat } from '../support/data.js';
import { assertClose } from '../support/compare.js';
import { guardedOutput, packHalvesOnGpu, readBack, readGuarded, run, upload } from '../support/gpu.js';
import { packHalfVersions, packedHalfBytes } from '../../src/kernels/packHalf.js';
import { halfNeighbours, unpackHalves } from '../../src/kernels/packHalf.ref.js';

export interface KernelCase {
  name: string;
  /** Device features the version needs: where the device lacks one, the case is skipped, not run. */
  features?: readonly GPUFeatureName[];
  run(device: GPUDevice): Promise<void>;
}

/** The features of `c` that `device` lacks (empty: the case can run). */
export const missingFeatures = (c: KernelCase, device: GPUDevice): GPUFeatureName[] => (c.features ?? []).filter((f) => !device.features.has(f));

const ACCUMULATION_RTOL = 2e-5;

function shapeName(o: object): string {
  return Object.entries(o)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

// ---------------------------------------------------------------- conv3x3BiasRelu
const convShapes: (Conv3x3Shape & { tag?: string; tiles?: boolean })[] = [
  { n: 1, h: 1, w: 1, cIn: 1, cOut: 1, relu: true },
  { n: 1, h: 1, w: 1, cIn: 1, cOut: 4, relu: true },
  { n: 1, h: 3, w: 5, cIn: 7, cOut: 5, relu: true },
  { n: 1, h: 3, w: 5, cIn: 7, cOut: 12, relu: false },
  { n: 2, h: 6, w: 9, cIn: 3, cOut: 8, relu: true },
  { n: 1, h: 7, w: 13, cIn: 5, cOut: 68, relu: true },
  { n: 1, h: 2, w: 3, cIn: 1, cOut: 3, relu: false },
  { n: 1, h: 5, w: 11, cIn: 6, cOut: 24, relu: true },
  { n: 1, h: 9, w: 6, cIn: 4, cOut: 136, relu: false },
  { n: 1, h: 3, w: 8, cIn: 2, cOut: 16, relu: false },
  // Cin % 4 == 0 (the blocked version's vec4 input loads): widths not a multiple of its 8 pixels,
  // batch 2, a single pixel, channel groups beyond one workgroup.
  { n: 1, h: 1, w: 1, cIn: 4, cOut: 8, relu: true },
  { n: 2, h: 5, w: 11, cIn: 4, cOut: 8, relu: true },
  { n: 1, h: 3, w: 17, cIn: 12, cOut: 24, relu: false },
  { n: 1, h: 4, w: 9, cIn: 8, cOut: 136, relu: true, tiles: true },
  { n: 1, h: 224, w: 224, cIn: 3, cOut: 64, relu: true, tag: 'block1_conv1' },
  { n: 1, h: 14, w: 14, cIn: 512, cOut: 512, relu: true, tag: 'block5_conv3' },
  // K = 1152 in two splits of split-K, the second one short; channels past one 32-wide tile, batch 2.
  { n: 2, h: 3, w: 5, cIn: 128, cOut: 36, relu: true, tiles: true },
];


/** Inputs and float64 reference per shape, made once for the nine versions that run it (block5_conv3's reference takes a second). */
const convFixtures = new Map<string, { x: Float32Array; w: Float32Array; b: Float32Array; ref: Float64Array }>();
function convFixture(s: Conv3x3Shape) {
  const key = JSON.stringify([s.n, s.h, s.w, s.cIn, s.cOut, s.relu]);
  let f = convFixtures.get(key);
  if (!f) {
    const seed = s.h * 7919 + s.w * 31 + s.cIn * 17 + s.cOut;
    const x = uniform(s.n * s.h * s.w * s.cIn, seed);
    const w = normal(9 * s.cIn * s.cOut, seed + 1, Math.sqrt(2 / (9 * s.cIn)));
    const b = uniform(s.cOut, seed + 2, -0.1, 0.1);
    f = { x, w, b, ref: conv3x3BiasReluRef(s, x, w, b) };
    convFixtures.set(key, f);
  }
  return f;
}

function convCase(version: (typeof conv3x3BiasReluVersions)[number], s: Conv3x3Shape & { tag?: string }): KernelCase {
  return {
    name: `conv3x3BiasRelu.${version.name} ${s.tag ?? ''} ${shapeName({ n: s.n, h: s.h, w: s.w, cIn: s.cIn, cOut: s.cOut, relu: s.relu })}`.replace(/\s+/g, ' '),
    async run(device) {
      const { x, w, b, ref } = convFixture(s);
      const count = s.n * s.h * s.w * s.cOut;
      const bufs = { x: upload(device, x), weights: upload(device, w), bias: upload(device, b), y: guardedOutput(device, count) };
      await withBuffers(Object.values(bufs), async () => {
        await run(device, await version.prepare(device, s, bufs));
        const got = await readGuarded(device, bufs.y, count, this.name);
        const scale = rms(ref);
        assertClose(this.name, got, ref, { atol: ACCUMULATION_RTOL * scale, rtol: ACCUMULATION_RTOL });
      });
    },
  };
}

// ---------------------------------------------------------------- maxPool2x2
const poolShapes: (MaxPool2x2Shape & { tag?: string; ties?: boolean })[] = [
  { n: 1, h: 2, w: 2, c: 1 },
  { n: 1, h: 3, w: 5, c: 7 },
  { n: 2, h: 5, w: 4, c: 3 },
  { n: 1, h: 6, w: 6, c: 65, ties: true },
  { n: 1, h: 224, w: 224, c: 64, tag: 'block1_pool' },
  { n: 1, h: 14, w: 14, c: 512, tag: 'block5_pool' },
];

function poolCase(version: (typeof maxPool2x2Versions)[number], s: (typeof poolShapes)[number]): KernelCase {
  return {
    name: `maxPool2x2.${version.name} ${s.tag ?? ''} ${shapeName({ n: s.n, h: s.h, w: s.w, c: s.c })}${s.ties ? ' (ReLU zeros)' : ''}`.replace(/\s+/g, ' '),
    async run(device) {
      const x = uniform(s.n * s.h * s.w * s.c, s.h * 131 + s.w * 7 + s.c);
      // Post-ReLU inputs: many exact zeros, so windows tie.
      if (s.ties) for (let i = 0; i < x.length; i++) x[i] = Math.max(0, x[i]);
      const count = s.n * Math.floor(s.h / 2) * Math.floor(s.w / 2) * s.c;
      const bufs = { x: upload(device, x), y: guardedOutput(device, count) };
      await withBuffers(Object.values(bufs), async () => {
        await run(device, await version.prepare(device, s, bufs));
        const got = await readGuarded(device, bufs.y, count, this.name);
        assertClose(this.name, got, maxPool2x2Ref(s, x), { atol: 0, rtol: 0 });
      });
    },
  };
}

// ---------------------------------------------------------------- denseBiasAct
// except: versions the suite skips the shape for, where it would repeat a cheaper shape's check at a
// price (the GPU-shaped 'gemv' runs its fc1 and fc2 tile, 2 columns × 64 slices, on predictions too, and
// on SwiftShader its workgroups of 128 cost a millisecond each, whatever they compute; 'naive' is the
// reference version; 'vec4f16' is 'vec4' on packed halves, its fc2 case checks the halves at 4096 wide,
// and fc1's 25088 only adds a longer sum at ~20 s of SwiftShader time); the device kit's --check runs
// them (gpuKernelCases).
const denseShapes: (DenseShape & { tag?: string; except?: readonly string[] })[] = [
  { n: 1, k: 1, m: 1, relu: false },
  { n: 1, k: 7, m: 5, relu: true },
  { n: 3, k: 13, m: 70, relu: false },
  { n: 5, k: 130, m: 129, relu: true },
  // M % 4 == 0 (the vec4 and split-K versions): K below one split-K step, odd K, column groups beyond
  // one workgroup, batch > 1.
  { n: 1, k: 3, m: 4, relu: true },
  { n: 3, k: 13, m: 72, relu: false },
  { n: 2, k: 131, m: 260, relu: true },
  // K % 4 == 0 (gemm): 3 rows; its blocks of 8 rows, a full one and a block of 1, at the wider tile
  // more than 8 rows take at fc's width (4 columns), with a partial last tile.
  { n: 3, k: 20, m: 36, relu: true },
  { n: GEMM_MAX_ROWS + 1, k: 20, m: 4100, relu: false, except: ['gemv'] },
  { n: 1, k: 4096, m: 1000, relu: false, tag: 'predictions' },
  { n: 1, k: 4096, m: 4096, relu: true, tag: 'fc2', except: ['gemv'] },
  { n: 1, k: 25088, m: 4096, relu: true, tag: 'fc1', except: ['gemv', 'naive', 'vec4f16'] },
];

/** Inputs and float64 reference per shape (and weight format), made once for every version that runs it (fc1's takes a second). */
const denseFixtures = new Map<string, { x: Float32Array; b: Float32Array; ref: Float64Array }>();

function denseCase(version: (typeof denseBiasActVersions)[number], s: (typeof denseShapes)[number]): KernelCase {
  return {
    name: `denseBiasAct.${version.name} ${s.tag ?? ''} ${shapeName({ n: s.n, k: s.k, m: s.m, relu: s.relu })}${s.weightsF16 ? ' f16' : ''}`.replace(/\s+/g, ' '),
    features: version.features,
    async run(device) {
      const seed = s.n * 1009 + s.k * 13 + s.m;
      const key = JSON.stringify([s.n, s.k, s.m, s.relu, s.weightsF16 === true]);
      const fixture = denseFixtures.get(key);
      const x = fixture?.x ?? uniform(s.n * s.k, seed, 0, 2);
      const w = normal(s.k * s.m, seed + 1, Math.sqrt(2 / s.k));
      const b = fixture?.b ?? uniform(s.m, seed + 2, -0.1, 0.1);
      const count = s.n * s.m;
      // f16 versions: the weights packed on the GPU, the reference from the very halves stored.
      const packed = s.weightsF16 ? await packHalvesOnGpu(device, w) : undefined;
      const bufs = { x: upload(device, x), weights: packed?.buffer ?? upload(device, w), bias: upload(device, b), y: guardedOutput(device, count) };
      await withBuffers(Object.values(bufs), async () => {
        await run(device, await version.prepare(device, s, bufs));
        const got = await readGuarded(device, bufs.y, count, this.name);
        const ref = fixture?.ref ?? denseBiasActRef(s, x, packed?.values ?? w, b);
        if (!fixture) denseFixtures.set(key, { x, b, ref });
        assertClose(this.name, got, ref, { atol: ACCUMULATION_RTOL * rms(ref), rtol: ACCUMULATION_RTOL });
      });
    },
  };
}

/** The cases the suite runs (suite), or the shapes it leaves to a GPU (except; the device kit's --check adds them). */
function denseCases(suite = true): KernelCase[] {
  return denseBiasActVersions.flatMap((v) =>
    denseShapes
      .map((s) => withWeightFormat(v.name, s))
      .filter((s) => v.supports(s) && (s.except?.includes(v.name) !== true) === suite)
      .map((s) => denseCase(v, s)),
  );
}

// ---------------------------------------------------------------- packHalf
// Each stored half must be one of the two float16 values around the float32 input (WGSL leaves the
// direction to the implementation); exact halves, ±0, clamping to ±65504 and an odd count's zero pad.
const packCounts: { count: number; tag?: string }[] = [{ count: 1 }, { count: 2 }, { count: 7 }, { count: 1000 }, { count: 2 * 65535 * 256 + 3, tag: 'two grid rows' }];

function packHalfCases(): KernelCase[] {
  return packHalfVersions.flatMap((v) =>
    packCounts.map(({ count, tag }): KernelCase => ({
      name: `packHalf.${v.name} ${tag ?? ''} count=${count}`.replace(/\s+/g, ' '),
      async run(device) {
        const x = Float32Array.from(normal(count, count, 3));
        const specials = [0, -0, 1, -2.5, 65504, 70000, -1e6, 6e-8, 1e-9, 0.1];
        x.set(specials.slice(0, count));
        const words = Math.ceil(count / 2);
        const bufs = { x: upload(device, x), y: upload(device, new Uint32Array(words + 4).fill(0xdeadbeef)) };
        await withBuffers(Object.values(bufs), async () => {
          await run(device, await v.prepare(device, { count }, bufs));
          const got = new Uint32Array((await readBack(device, bufs.y)).buffer);
          for (let i = words; i < words + 4; i++) if (got[i] !== 0xdeadbeef) throw new Error(`${this.name}: word ${i} past the output was overwritten`);
          const values = unpackHalves(got, 2 * words);
          // Large counts: a strided sample plus both ends (the CPU check is the slow part).
          const step = count > 100_000 ? 997 : 1;
          const check = (i: number) => {
            const [lo, hi] = halfNeighbours(x[i]);
            if (!(values[i] === lo || values[i] === hi || (Object.is(lo, -0) && values[i] === 0)))
              throw new Error(`${this.name}: element ${i}: ${x[i]} stored as ${values[i]}, not one of the neighbouring halves ${lo}, ${hi}`);
          };
          for (let i = 0; i < count; i += step) check(i);
          for (let i = Math.max(0, count - 5); i < count; i++) check(i);
          if (count % 2 === 1 && values[count] !== 0) throw new Error(`${this.name}: the pad half is ${values[count]}, not 0`);
          if (packedHalfBytes(count) !== 4 * words) throw new Error('packedHalfBytes');
        });
      },
    })),
  );
}

// ---------------------------------------------------------------- softmax
const softmaxShapes: (SoftmaxShape & { spread: number; tag?: string })[] = [
  { n: 1, c: 1, spread: 1 },
  { n: 3, c: 7, spread: 3 },
  { n: 2, c: 300, spread: 10 },
  { n: 1, c: 1000, spread: 8, tag: 'predictions' },
  // exp(±1000) overflows float32: only a max-subtracting softmax survives this.
  { n: 2, c: 1000, spread: 1000, tag: 'large logits' },
];

function softmaxCase(version: (typeof softmaxVersions)[number], s: (typeof softmaxShapes)[number]): KernelCase {
  return {
    name: `softmax.${version.name} ${s.tag ?? ''} ${shapeName({ n: s.n, c: s.c, spread: s.spread })}`.replace(/\s+/g, ' '),
    async run(device) {
      const x = uniform(s.n * s.c, s.c * 7 + s.n, -s.spread, s.spread);
      const count = s.n * s.c;
      const bufs = { x: upload(device, x), y: guardedOutput(device, count) };
      await withBuffers(Object.values(bufs), async () => {
        await run(device, await version.prepare(device, s, bufs));
        const got = await readGuarded(device, bufs.y, count, this.name);
        assertClose(this.name, got, softmaxRef(s, x), { atol: 1e-7, rtol: 1e-6 });
      });
    },
  };
}

// ---------------------------------------------------------------- preprocessImage
const preprocessShapes: PreprocessShape[] = [
  { srcW: 1, srcH: 1, dstW: 3, dstH: 2, method: 'nearest' },
  { srcW: 7, srcH: 5, dstW: 3, dstH: 2, method: 'nearest' },
  { srcW: 224, srcH: 224, dstW: 224, dstH: 224, method: 'nearest' },
  { srcW: 320, srcH: 240, dstW: 224, dstH: 224, method: 'nearest' },
  { srcW: 500, srcH: 375, dstW: 224, dstH: 224, method: 'nearest' },
  { srcW: 100, srcH: 61, dstW: 224, dstH: 224, method: 'nearest' },
  { srcW: 37, srcH: 23, dstW: 16, dstH: 17, method: 'bilinear' },
  { srcW: 500, srcH: 375, dstW: 224, dstH: 224, method: 'bilinear' },
  { srcW: 50, srcH: 40, dstW: 224, dstH: 224, method: 'bilinear' },
];

function preprocessCase(version: (typeof preprocessImageVersions)[number], s: PreprocessShape): KernelCase {
  return {
    name: `preprocessImage.${version.name} ${shapeName(s)}`,
    async run(device) {
      const r = mulberry32(s.srcW * 1000 + s.srcH);
      const rgba = new Uint8Array(s.srcW * s.srcH * 4).map(() => Math.floor(r() * 256));
      const count = s.dstW * s.dstH * 3;
      const bufs = {
        src: upload(device, new Uint32Array(rgba.buffer)),
        table: upload(device, packResizeTable(s)),
        y: guardedOutput(device, count),
      };
      await withBuffers(Object.values(bufs), async () => {
        await run(device, await version.prepare(device, s, bufs));
        const got = await readGuarded(device, bufs.y, count, this.name);
        const tol = s.method === 'nearest' ? { atol: 0, rtol: 0 } : { atol: 5e-4, rtol: 0 };
        assertClose(this.name, got, preprocessImageRef(s, rgba), tol);
      });
    },
  };
}

import { backwardCases, backwardGpuCases } from './backwardCases.js';
import { faithfulnessCases } from './faithfulnessCases.js';

export const kernelCases: KernelCase[] = [
  ...conv3x3BiasReluVersions.flatMap((v) => convShapes.filter((s) => v.supports(s) && runsShape(v.name, s)).map((s) => convCase(v, s))),
  ...maxPool2x2Versions.flatMap((v) => poolShapes.filter((s) => v.supports(s)).map((s) => poolCase(v, s))),
  ...denseCases(),
  ...packHalfCases(),
  ...softmaxVersions.flatMap((v) => softmaxShapes.filter((s) => v.supports(s)).map((s) => softmaxCase(v, s))),
  ...preprocessImageVersions.flatMap((v) => preprocessShapes.filter((s) => v.supports(s)).map((s) => preprocessCase(v, s))),
  ...backwardCases,
  ...faithfulnessCases,
];

/**
 * The GEMM tile variants' remaining shapes (tiles.ts), which the suite leaves out for SwiftShader's sake:
 * the device kit's `--check` runs them after kernelCases, so on a GPU every version runs every shape.
 */
export const gpuKernelCases = (): KernelCase[] => [
  ...conv3x3BiasReluVersions.flatMap((v) => convShapes.filter((s) => v.supports(s) && !runsShape(v.name, s)).map((s) => convCase(v, s))),
  ...denseCases(false),
  ...backwardGpuCases(),
];

/**
 * The cases test/chrome.test.ts runs in Chromium: all but VGG's four largest layer shapes (block1_conv1,
 * block5_conv3, fc1, fc2), whose float64 references and naive versions take most of the time. Every
 * version still runs there, on every small shape (bounds, remainders, batch 2); the WGSL is the same
 * as in Node, where every case runs, and test/app.test.ts runs the full network in Chromium against Node.
 * The GEMM's 64-wide tiles are left out too: the same shader as gemm32 (which runs here) at other
 * pipeline constants, each compiling for seconds on SwiftShader; Node runs them.
 */
export const browserKernelCases: KernelCase[] = kernelCases.filter((c) => !/ (block1_conv1|block5_conv3|fc1|fc2) /.test(c.name) && !/^conv3x3(BiasRelu|BackwardInput)\.gemm64(t8)? /.test(c.name));
