// CPU-only checks of the faithfulness metrics' kernels (seededNormal, roadImpute): their parameter
// layouts and dispatch math, and their float64 references against independent statements of the same
// thing: the hash and Box–Muller against Python big-integer arithmetic (values below), ROAD's system
// against a line-by-line transliteration of pytorch-grad-cam's NoisyLinearImputer.setup_sparse_system.
// The GPU cases are in test/kernels/faithfulnessCases.ts (run by test/kernels.test.ts and in Chromium).
import { describe, expect, it } from 'vitest';
import { f32Bits } from '../src/kernels/kernel.js';
import { masksWithoutKnownPixels, packRoadParams, ROAD_MODE_CONTINUE, ROAD_MODE_START, roadImputeVersions, roadScalarsBytes, roadStateBytes } from '../src/kernels/roadImpute.js';
import { choleskySolve, ROAD_NEIGHBOURS, roadImputeRef, roadRelativeResidual, roadSystem } from '../src/kernels/roadImpute.ref.js';
import { packSeededNormalParams, seededNormalGrid } from '../src/kernels/seededNormal.js';
import { pcg3d, seededNormalAt, seededNormalRef } from '../src/kernels/seededNormal.ref.js';
import { mulberry32 } from '../src/engine/synthetic.js';

describe('seededNormal', () => {
  it('parameter block: count, offset, grid width in invocations, seed, mean and std as f32 bits', () => {
    expect([...packSeededNormalParams({ count: 1001, offset: 7 }, { seed: 12345, mean: 3, std: 0.5 })]).toEqual([1001, 7, 2 * 256, 12345, f32Bits(3), f32Bits(0.5), 0, 0]);
    expect(() => packSeededNormalParams({ count: 4 }, { seed: -1, mean: 0, std: 1 })).toThrow(/seed -1 is not a u32/);
    expect(() => packSeededNormalParams({ count: 4 }, { seed: 2 ** 32, mean: 0, std: 1 })).toThrow(/not a u32/);
    expect(() => packSeededNormalParams({ count: 0 }, { seed: 0, mean: 0, std: 1 })).toThrow(RangeError);
    expect(() => packSeededNormalParams({ count: 4, offset: 2 ** 32 - 2 }, { seed: 0, mean: 0, std: 1 })).toThrow(RangeError);
  });

  it('grid: one invocation per pair, 256 per workgroup, at most 65535 workgroups along x', () => {
    expect(seededNormalGrid({ count: 1 })).toEqual([1, 1, 1]);
    expect(seededNormalGrid({ count: 513 })).toEqual([2, 1, 1]);
    expect(seededNormalGrid({ count: 2 * 256 * 65535 })).toEqual([65535, 1, 1]);
    // VGG16's fc1 kernel: 25088 × 4096.
    expect(seededNormalGrid({ count: 25088 * 4096 })).toEqual([65535, 4, 1]);
  });

  it('pcg3d and z(seed, i) agree with Python big-integer arithmetic and math.log/cos/sin', () => {
    // def pcg3d(x, y, z): (x, y, z) ← (·1664525 + 1013904223) mod 2^32; x += y·z; y += z·x; z += x·y;
    // each ^= itself >> 16; x += y·z; y += z·x; z += x·y (all mod 2^32).
    expect(pcg3d(0, 0, 0)).toEqual([2611992518, 2833812075, 1058359340]);
    expect(pcg3d(1, 2, 3)).toEqual([4204755366, 1223881804, 1500469937]);
    expect(pcg3d(0xffffffff, 0x12345678, 0x9e3779b9)).toEqual([3379720382, 751147022, 1173195222]);
    const python: [number, number, number][] = [
      [0, 0, -1.6287155572079681],
      [0, 1, 0.053544963851647545],
      [12345, 1000, 1.3455592981495879],
      [0xffffffff, 77, 0.9870750425492834],
    ];
    for (const [seed, i, z] of python) expect(seededNormalAt(seed, i)).toBeCloseTo(z, 14);
    expect(seededNormalRef(3, { seed: 0, mean: 2, std: 3 })[0]).toBeCloseTo(2 + 3 * -1.6287155572079681, 13);
  });
});

/** pytorch-grad-cam's NoisyLinearImputer.setup_sparse_system, line by line (mask: 1 = known; img: [C, H, W]). */
function pytorchSystem(mask: ArrayLike<number>, img: ArrayLike<number>, H: number, W: number, C: number) {
  const indices: number[] = [];
  for (let i = 0; i < H * W; i++) if (mask[i] === 0) indices.push(i);
  const coordsToVidx = new Int32Array(H * W);
  indices.forEach((v, k) => (coordsToVidx[v] = k));
  const n = indices.length;
  const A = new Float64Array(n * n);
  const b = new Float64Array(n * C);
  const sumNeighbors = new Float64Array(n).fill(1);
  // neighbors_weights: ((1, 1), 1/12), ((0, 1), 1/6), ((-1, 1), 1/12), ((1, -1), 1/12), ((0, -1), 1/6),
  // ((-1, -1), 1/12), ((1, 0), 1/6), ((-1, 0), 1/6); offset = (row, column).
  const weights: [[number, number], number][] = [[[1, 1], 1 / 12], [[0, 1], 1 / 6], [[-1, 1], 1 / 12], [[1, -1], 1 / 12], [[0, -1], 1 / 6], [[-1, -1], 1 / 12], [[1, 0], 1 / 6], [[-1, 0], 1 / 6]];
  for (const [offset, weight] of weights) {
    indices.forEach((index, k) => {
      const cord1 = (index % W) + offset[1];
      const cord0 = Math.floor(index / W) + offset[0];
      const valid = !(cord0 < 0 || cord1 < 0 || cord0 >= H || cord1 >= W);
      const newCoord = index + offset[0] * W + offset[1];
      if (valid) {
        if (mask[newCoord] > 0.5) for (let c = 0; c < C; c++) b[k * C + c] -= weight * img[c * H * W + newCoord];
        if (mask[newCoord] < 0.5) A[k * n + coordsToVidx[newCoord]] = weight;
      } else {
        sumNeighbors[k] -= weight;
      }
    });
  }
  for (let k = 0; k < n; k++) A[k * n + k] = -sumNeighbors[k];
  return { A, b, n };
}

describe('roadImpute', () => {
  it('parameter block and buffer sizes', () => {
    const shape = { masks: 2, height: 5, width: 7 };
    expect([...packRoadParams(shape, { mode: ROAD_MODE_CONTINUE, iterations: 64, tolerance: 1e-3 })]).toEqual([2, 5, 7, 3, 1, 64, f32Bits(1e-6), 0]);
    expect(ROAD_MODE_START).toBe(0);
    // x, r, q, p, s on the padded 7×9 grid, per (mask, channel); 8 words per record.
    expect(roadStateBytes(shape)).toBe(4 * 2 * 3 * 5 * 7 * 9);
    expect(roadScalarsBytes(shape)).toBe(4 * 8 * 6);
    expect(roadImputeVersions[0].workgroups(shape)).toEqual([3, 2, 1]);
    expect(() => packRoadParams(shape, { mode: 0, iterations: 1, tolerance: Number.NaN })).toThrow(RangeError);
  });

  it('masksWithoutKnownPixels finds the masks with nothing to impute from', () => {
    const keep = new Uint32Array([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(masksWithoutKnownPixels(keep, { masks: 3, height: 2, width: 2 })).toEqual([0, 2]);
  });

  it("the reference's system is pytorch-grad-cam's, times −1 (so the same solution)", () => {
    for (const [H, W, imputed, seed] of [[7, 9, 0.5, 1], [5, 4, 0.9, 2], [1, 6, 0.5, 3], [6, 1, 0.7, 4], [8, 8, 0.2, 5]] as const) {
      const r = mulberry32(seed);
      const mask = Array.from({ length: H * W }, () => (r() < imputed ? 0 : 1));
      mask[0] = 1;
      const hwc = Array.from({ length: H * W * 3 }, () => r() * 200 - 100);
      const chw = Array.from({ length: 3 * H * W }, (_, k) => hwc[(k % (H * W)) * 3 + Math.floor(k / (H * W))]);
      const ours = roadSystem({ masks: 1, height: H, width: W }, hwc, mask);
      const theirs = pytorchSystem(mask, chw, H, W, 3);
      expect(ours.unknowns.length).toBe(theirs.n);
      for (let k = 0; k < ours.a.length; k++) expect(ours.a[k]).toBeCloseTo(-theirs.A[k] + 0, 14);
      for (let k = 0; k < ours.b.length; k++) expect(ours.b[k]).toBeCloseTo(-theirs.b[k] + 0, 11);
    }
    expect(ROAD_NEIGHBOURS.reduce((s, [, , w]) => s + w, 0)).toBeCloseTo(1, 15);
  });

  it('the reference solves its system (float64 residual ~1e-15), keeps known pixels, adds noise only where imputed', () => {
    const H = 9;
    const W = 11;
    const r = mulberry32(9);
    const keep = Array.from({ length: 2 * H * W }, (_, i) => (i < H * W ? (r() < 0.6 ? 0 : 1) : 0));
    const image = Array.from({ length: H * W * 3 }, () => r() * 255 - 120);
    const noise = Array.from({ length: 2 * H * W * 3 }, () => r() - 0.5);
    const shape = { masks: 2, height: H, width: W };
    const out = roadImputeRef(shape, image, keep, noise);
    const zeroNoise = roadImputeRef(shape, image, keep, new Float64Array(noise.length));
    for (let i = 0; i < H * W; i++) {
      for (let c = 0; c < 3; c++) {
        if (keep[i]) expect(out[i * 3 + c]).toBe(image[i * 3 + c]);
        else expect(out[i * 3 + c] - zeroNoise[i * 3 + c]).toBeCloseTo(noise[i * 3 + c], 12);
      }
    }
    expect(Math.max(...roadRelativeResidual(shape, image, keep.slice(0, H * W), zeroNoise.subarray(0, H * W * 3)))).toBeLessThan(1e-13);
    // The mask with no known pixel: the image's channel means (+ noise).
    for (let c = 0; c < 3; c++) {
      const mean = image.filter((_, k) => k % 3 === c).reduce((s, v) => s + v, 0) / (H * W);
      expect(zeroNoise[H * W * 3 + c]).toBeCloseTo(mean, 12);
    }
  });

  it('choleskySolve solves an SPD system and refuses an indefinite one', () => {
    const a = Float64Array.from([4, 1, 0, 1, 3, 1, 0, 1, 2]);
    const x = choleskySolve(a, 3, Float64Array.from([1, 2, 3]), 1);
    const ax = [4 * x[0] + x[1], x[0] + 3 * x[1] + x[2], x[1] + 2 * x[2]];
    ax.forEach((v, i) => expect(v).toBeCloseTo(i + 1, 14));
    expect(() => choleskySolve(Float64Array.from([1, 2, 2, 1]), 2, Float64Array.from([1, 1]), 1)).toThrow(/not positive definite/);
  });
});
