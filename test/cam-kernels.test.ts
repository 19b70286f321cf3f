// The CAM family's kernels against their float64 references (src/kernels/cam.ref.ts), on small odd
// shapes and on one target row and three: channel weights (Grad-CAM, Grad-CAM++, XGrad-CAM), the map
// with each per-channel term, the terms for eigen-smoothing, the shared ReLU/÷max, the resize-and-average
// of maps (with aug-smooth's mirror) and the input augmentation.
// Tolerances: float32 sums of ≤ 300 products of O(1) values, compared relative to the result's scale
// (rtol 1e-5 on maps normalised to [0, 1], 2e-5 on raw sums); resizes are 4-tap blends (1e-6).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { augmentInputVersions, camAccumulateVersions, camNormalizeVersions, camTermsVersions } from '../src/kernels/camMaps.js';
import { camNormalizeRef, camTermsRef, channelWeightsRef, resizeBilinearRef, type GradientMethodRef } from '../src/kernels/cam.ref.js';
import { gradcamChannelWeightsVersions, gradcamHeatmapVersions, type MapTerm } from '../src/kernels/gradcam.js';
import { packResizeTable } from '../src/kernels/preprocessImage.js';
import { assertClose } from './support/compare.js';
import { normal, uniform, withBuffers } from './support/data.js';
import { guardedOutput, readGuarded, run, upload } from './support/gpu.js';
import { testDevice } from './support/nodeDevice.js';

let device: GPUDevice;
beforeAll(async () => {
  device = await testDevice();
});
afterAll(() => device?.destroy());

const SHAPES = [
  { positions: 1, channels: 1 },
  { positions: 15, channels: 7 },
  { positions: 49, channels: 300 },
];
const rowsOf = [1, 3];

/** Post-ReLU activations (some exact zeros, as after ReLU) and signed gradients with some exact zeros. */
function data(P: number, C: number, rows: number, seed: number) {
  const a = uniform(P * C, seed, -0.5, 2).map((v) => Math.max(v, 0));
  const g = normal(rows * P * C, seed + 1, 0.3).map((v, i) => (i % 11 === 0 ? 0 : v));
  return { a, g };
}

const termOf: Record<Exclude<MapTerm, 'activations'>, GradientMethodRef> = { weighted: 'gradcam', hirescam: 'hirescam', elementwise: 'gradcam-elementwise', layercam: 'layercam' };

describe.each(SHAPES)('P $positions × C $channels', ({ positions: P, channels: C }) => {
  it.each(rowsOf)('channel weights of gradcam, gradcam++, xgradcam for %i row(s)', async (rows) => {
    const { a, g } = data(P, C, rows, P + C + rows);
    for (const method of ['gradcam', 'gradcam++', 'xgradcam'] as const) {
      const bufs = { grad: upload(device, g), activations: upload(device, a), alpha: guardedOutput(device, rows * C) };
      await withBuffers(Object.values(bufs), async () => {
        await run(device, await gradcamChannelWeightsVersions[0].prepare(device, { positions: P, channels: C, rows, method }, bufs));
        const got = await readGuarded(device, bufs.alpha, rows * C, method);
        for (let r = 0; r < rows; r++) {
          const want = channelWeightsRef(method, { positions: P, channels: C }, a, g.subarray(r * P * C, (r + 1) * P * C));
          const scale = Math.max(1e-30, ...want.map(Math.abs));
          assertClose(`${method} row ${r}`, got.subarray(r * C, (r + 1) * C), want, { atol: 2e-5 * scale, rtol: 2e-5 });
        }
      });
    }
  });

  it.each(rowsOf)('map with each term (mean or sum over channels), normalised, for %i row(s)', async (rows) => {
    const { a, g } = data(P, C, rows, 3 * P + C + rows);
    const w = normal(rows * C, 5, 1);
    for (const term of ['weighted', 'hirescam', 'elementwise', 'layercam'] as const)
      for (const mean of [true, false]) {
        const bufs = {
          activations: upload(device, a),
          grad: upload(device, g),
          alpha: upload(device, w),
          raw: guardedOutput(device, rows * P),
          heat: guardedOutput(device, rows * P),
          stats: guardedOutput(device, rows),
        };
        await withBuffers(Object.values(bufs), async () => {
          await run(device, await gradcamHeatmapVersions[0].prepare(device, { positions: P, channels: C, rows, term, meanOverChannels: mean }, bufs));
          const raw = await readGuarded(device, bufs.raw, rows * P, 'raw');
          const heat = await readGuarded(device, bufs.heat, rows * P, 'heat');
          const stats = await readGuarded(device, bufs.stats, rows, 'stats');
          for (let r = 0; r < rows; r++) {
            const gr = g.subarray(r * P * C, (r + 1) * P * C);
            // The weighted term with given weights: Σ_k w_k A_k, built here without the kernel's split.
            const m = term === 'weighted' ? Float64Array.from({ length: P * C }, (_, i) => w[r * C + (i % C)] * a[i]) : camTermsRef(termOf[term], { positions: P, channels: C }, a, gr);
            const want = Float64Array.from({ length: P }, (_, i) => {
              let s = 0;
              for (let k = 0; k < C; k++) s += m[i * C + k];
              return mean ? s / C : s;
            });
            const scale = Math.max(1e-30, ...want.map(Math.abs));
            assertClose(`${term} mean=${mean} raw row ${r}`, raw.subarray(r * P, (r + 1) * P), want, { atol: 2e-5 * scale, rtol: 2e-5 });
            const n = camNormalizeRef(raw.subarray(r * P, (r + 1) * P));
            assertClose(`${term} heat row ${r}`, heat.subarray(r * P, (r + 1) * P), n.heat, { atol: 1e-6, rtol: 1e-6 });
            expect(stats[r]).toBe(Math.fround(n.max));
          }
        });
      }
  });

  it('per-channel terms for eigen-smoothing, every term', async () => {
    const rows = 2;
    const { a, g } = data(P, C, rows, 7 * P + C);
    const w = normal(rows * C, 9, 1);
    for (const term of ['weighted', 'hirescam', 'elementwise', 'layercam', 'activations'] as const) {
      const bufs = { activations: upload(device, a), grad: upload(device, g), alpha: upload(device, w), terms: guardedOutput(device, rows * P * C) };
      await withBuffers(Object.values(bufs), async () => {
        await run(device, await camTermsVersions[0].prepare(device, { positions: P, channels: C, rows, term }, bufs));
        const got = await readGuarded(device, bufs.terms, rows * P * C, term);
        for (let r = 0; r < rows; r++) {
          const gr = g.subarray(r * P * C, (r + 1) * P * C);
          const want =
            term === 'weighted'
              ? Float64Array.from({ length: P * C }, (_, i) => w[r * C + (i % C)] * a[i])
              : camTermsRef(term === 'activations' ? 'eigencam' : termOf[term], { positions: P, channels: C }, a, gr);
          assertClose(`${term} row ${r}`, got.subarray(r * P * C, (r + 1) * P * C), want, { atol: 1e-7, rtol: 1e-6 });
        }
      });
    }
  });
});

describe('ReLU and ÷max of given maps', () => {
  it.each([
    ['mixed signs', uniform(300, 1, -1, 1)],
    ['all negative: zeros, max 0, never NaN', uniform(70, 2, -3, -0.1)],
    ['all zero', new Float32Array(5)],
    ['one position', new Float32Array([2.5])],
  ] as const)('%s', async (_, raw) => {
    const rows = 2;
    const both = new Float32Array(rows * raw.length);
    both.set(raw);
    both.set(raw.map((v) => -v), raw.length);
    const bufs = { raw: upload(device, both), heat: guardedOutput(device, both.length), stats: guardedOutput(device, rows) };
    await withBuffers(Object.values(bufs), async () => {
      await run(device, await camNormalizeVersions[0].prepare(device, { positions: raw.length, rows }, bufs));
      const heat = await readGuarded(device, bufs.heat, both.length, 'heat');
      const stats = await readGuarded(device, bufs.stats, rows, 'stats');
      for (let r = 0; r < rows; r++) {
        const want = camNormalizeRef(both.subarray(r * raw.length, (r + 1) * raw.length));
        assertClose(`row ${r}`, heat.subarray(r * raw.length, (r + 1) * raw.length), want.heat, { atol: 0, rtol: 1e-7 });
        expect(stats[r]).toBe(Math.fround(want.max));
      }
      expect(heat.every(Number.isFinite)).toBe(true);
    });
  });
});

describe('resize-and-average of maps (several layers; aug-smooth mirrors back)', () => {
  it.each([
    [7, 5, 32, 24, false],
    [14, 14, 224, 224, false],
    [9, 6, 9, 6, true],
    [4, 4, 13, 11, true],
  ] as const)('%i×%i → %i×%i, mirrored %s', async (sw, sh, dw, dh, flipX) => {
    const rows = 2;
    const a = uniform(rows * sw * sh, sw * 7 + dw, 0, 1);
    const b = uniform(rows * sw * sh, sh * 3 + dh, 0, 1);
    const table = upload(device, packResizeTable({ srcW: sw, srcH: sh, dstW: dw, dstH: dh, method: 'bilinear' }));
    const bufs = { a: upload(device, a), b: upload(device, b), table, acc: guardedOutput(device, rows * dw * dh) };
    await withBuffers(Object.values(bufs), async () => {
      const shape = { srcW: sw, srcH: sh, dstW: dw, dstH: dh, rows, scale: 0.5 };
      // The first map starts the sum (the guard floats' sentinels in the body are overwritten), the second adds.
      await run(device, await camAccumulateVersions[0].prepare(device, { ...shape, accumulate: false }, { src: bufs.a, table, acc: bufs.acc }));
      await run(device, await camAccumulateVersions[0].prepare(device, { ...shape, flipX }, { src: bufs.b, table, acc: bufs.acc }));
      const got = await readGuarded(device, bufs.acc, rows * dw * dh, 'acc');
      for (let r = 0; r < rows; r++) {
        const ra = resizeBilinearRef(a.subarray(r * sw * sh, (r + 1) * sw * sh), sw, sh, dw, dh);
        const rb = resizeBilinearRef(b.subarray(r * sw * sh, (r + 1) * sw * sh), sw, sh, dw, dh, flipX);
        assertClose(`row ${r}`, got.subarray(r * dw * dh, (r + 1) * dw * dh), ra.map((v, i) => 0.5 * v + 0.5 * rb[i]), { atol: 1e-6, rtol: 1e-6 });
      }
    });
  });
});

describe("aug-smooth's input augmentation", () => {
  it.each([
    [5, 3, 3, 0.9, true],
    [224, 224, 3, 1.1, true],
    [6, 2, 1, 1.0, false],
  ] as const)('%i×%i×%i × %f, mirrored %s', async (w, h, c, factor, flipX) => {
    const x = uniform(w * h * c, w + h + c, -120, 150);
    const bufs = { x: upload(device, x), y: guardedOutput(device, w * h * c) };
    await withBuffers(Object.values(bufs), async () => {
      await run(device, await augmentInputVersions[0].prepare(device, { w, h, c, factor, flipX }, bufs));
      const got = await readGuarded(device, bufs.y, w * h * c, 'augmented');
      const want = Float64Array.from({ length: w * h * c }, (_, i) => {
        const ch = i % c;
        const col = Math.floor(i / c) % w;
        const row = Math.floor(i / (c * w));
        return Math.fround(factor) * x[(row * w + (flipX ? w - 1 - col : col)) * c + ch];
      });
      // One float32 multiplication: exact to its rounding.
      assertClose('augmented', got, want, { atol: 0, rtol: 1e-7 });
    });
  });
});
