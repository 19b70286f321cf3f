// The Eigen-CAM projection (src/kernels/eigenProjection.ts): its plan (no GPU), its shaders' shared
// declarations (as text), the float64 Jacobi-SVD reference (by hand, by ‖X‖_F² = Σσ², against numpy), and
// the seven GPU passes against that reference on both branches (P ≤ K: Gram over positions; P > K: Gram
// over channels), degenerate inputs and extreme scales.
//
// Tolerances, and why. The GPU and the reference read the same float32 matrix, so the differences come
// from (a) float32 accumulation in the means, the Gram matrix and X·v (≈ √L·2⁻²⁴ relative for sums of L
// terms: a few 1e-6 at L = 512) and (b) the power iteration's stopping rule: ‖u_t − u_{t−1}‖∞ < 1e-6
// leaves each component about 1e-6·r/(1 − r) from the limit (r = λ2/λ1 = (σ2/σ1)²), i.e. up to
// √n·1e-6·r/(1 − r) in L2: ≈ 1e-5 for n = 196 at σ2/σ1 = 0.7, ≈ 2e-5 for n = 30 at σ2/σ1 = 0.9.
// Both are amplified in the eigenvector by about λ1/(λ1 − λ2). We allow a relative L2 error of 1e-4 and a
// max |Δ| of 1e-4·max|ref| (projection and λ1): above those bounds, and 10⁴ times below a wrong sign
// (error 2) or a wrong vector (error O(1)). Measured: 5e-8 … 6e-7 with a clear gap, ≈ 6e-6 at σ2/σ1 = 0.9.
// The reference against numpy (both float64 SVDs): 1e-9·max|ref|; against hand-computed SVDs: 1e-14.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EIGEN_GRAM_TILE,
  EIGEN_MAX_ITERATIONS,
  EIGEN_MAX_ORDER,
  EIGEN_PARAM_FIELDS,
  EIGEN_STATS_BYTES,
  EIGEN_TOLERANCE,
  eigenGramVersions,
  eigenPlan,
  eigenScratchBytes,
  packEigenParams,
  prepareEigenProjection,
  unpackEigenStats,
  type EigenShape,
} from '../src/kernels/eigenProjection.js';
import { centredRef, channelMeansRef, eigenProjectionRef, signCorrelation } from '../src/kernels/eigenProjection.ref.js';
import { encodeDispatch, wgslConstU32 } from '../src/kernels/kernel.js';
import { errorStats } from './support/compare.js';
import { normal } from './support/data.js';
import { guardedOutput, readBack, readGuarded, upload } from './support/gpu.js';
import { testDevice } from './support/nodeDevice.js';

const KERNELS = fileURLToPath(new URL('../src/kernels/', import.meta.url));
const EIGEN_SHADERS = [
  'eigenColumnMeans',
  'eigenRowMeans',
  'eigenGram',
  'eigenGramReduce',
  'eigenPowerIteration',
  'eigenProject',
  'eigenSign',
].map((name) => [name, readFileSync(join(KERNELS, `${name}.wgsl`), 'utf8')] as const);

const RTOL = 1e-4;

/** Low-rank signal + noise + offset, like post-ReLU activations: clear gap σ2/σ1 ≈ strengths[1]/strengths[0]. */
function lowRank(s: EigenShape, seed: number, strengths = [3, 1.2], noise = 0.05, offset = 1): Float32Array<ArrayBuffer> {
  const { positions: P, channels: K } = s;
  const out = new Float32Array(P * K);
  const noiseValues = normal(P * K, seed, noise);
  for (let i = 0; i < P * K; i++) out[i] = offset + noiseValues[i];
  strengths.forEach((strength, r) => {
    const a = normal(P, seed + 10 + r, 1);
    // Non-negative channel loadings, so the first component correlates clearly with the channel mean.
    const b = normal(K, seed + 20 + r, 1).map(Math.abs);
    for (let i = 0; i < P; i++) for (let k = 0; k < K; k++) out[i * K + k] += strength * a[i] * b[k];
  });
  return out;
}

/**
 * offset + Σ_r σ_r·a_r·b_rᵀ + noise with centred orthonormal a_r and orthonormal b_r, so the singular values
 * of X are ≈ sigmas (up to the noise). b_1 is non-negative: the first component correlates with the mean.
 */
function spectrum(s: EigenShape, seed: number, sigmas: number[], noise: number): Float32Array<ArrayBuffer> {
  const { positions: P, channels: K } = s;
  const orthonormalise = (vs: Float64Array[], centre: boolean) =>
    vs.map((v, r) => {
      if (centre) {
        const mean = v.reduce((t, x) => t + x, 0) / v.length;
        v.forEach((x, i) => (v[i] = x - mean));
      }
      for (let q = 0; q < r; q++) {
        const d = v.reduce((t, x, i) => t + x * vs[q][i], 0);
        v.forEach((x, i) => (v[i] = x - d * vs[q][i]));
      }
      const norm = Math.hypot(...v);
      v.forEach((x, i) => (v[i] = x / norm));
      return v;
    });
  const a = orthonormalise(sigmas.map((_, r) => Float64Array.from(normal(P, seed + r, 1))), true);
  const b = orthonormalise(sigmas.map((_, r) => Float64Array.from(normal(K, seed + 50 + r, 1), (v) => (r === 0 ? Math.abs(v) : v))), false);
  const out = normal(P * K, seed + 99, noise);
  for (let i = 0; i < P; i++) for (let k = 0; k < K; k++) {
    let v = 1;
    sigmas.forEach((sigma, r) => (v += sigma * a[r][i] * b[r][k]));
    out[i * K + k] += v;
  }
  return out;
}

describe('eigenPlan (no GPU)', () => {
  it('picks the Gram matrix of the smaller side', () => {
    expect(eigenPlan({ positions: 12, channels: 40 })).toMatchObject({ order: 12, positionsGram: true, summed: 40 });
    expect(eigenPlan({ positions: 16, channels: 16 })).toMatchObject({ order: 16, positionsGram: true, summed: 16 });
    expect(eigenPlan({ positions: 50, channels: 9 })).toMatchObject({ order: 9, positionsGram: false, summed: 50 });
  });

  it.each([
    [12, 40],
    [50, 9],
    [196, 512],
    [784, 512],
    [3136, 256],
    [12544, 128],
    [50176, 64],
    [600, 8],
    [1, 1],
    [1, 1024],
    [1024, 1],
  ])('P=%i K=%i: the splits tile the summed axis, with bounded scratch', (positions, channels) => {
    const plan = eigenPlan({ positions, channels });
    expect(plan.chunk % EIGEN_GRAM_TILE).toBe(0);
    expect(plan.splits * plan.chunk).toBeGreaterThanOrEqual(plan.summed);
    expect((plan.splits - 1) * plan.chunk).toBeLessThan(plan.summed);
    const tiles = Math.ceil(plan.order / EIGEN_GRAM_TILE);
    expect(eigenGramVersions[0].workgroups(plan)).toEqual([tiles, tiles, plan.splits]);
    // Partials ≤ ~1 MB beyond the Gram matrix itself (at most 512² floats in VGG16).
    expect(eigenScratchBytes({ positions, channels })).toBeLessThan(4 * (positions + channels + 2 * plan.order ** 2) + 1.2e6 + 64);
  });

  it('VGG16 block1 and block5 are split so the Gram pass has hundreds of workgroups', () => {
    const block1 = eigenPlan({ positions: 224 * 224, channels: 64 });
    expect(block1.splits).toBeGreaterThan(30);
    const block5 = eigenPlan({ positions: 14 * 14, channels: 512 });
    expect(block5).toMatchObject({ order: 196, positionsGram: true });
  });

  it('rejects bad shapes, naming the limit', () => {
    expect(() => eigenPlan({ positions: 0, channels: 3 })).toThrow('positions must be a positive integer');
    expect(() => eigenPlan({ positions: 2, channels: 1.5 })).toThrow('channels must be a positive integer');
    expect(() => eigenPlan({ positions: 2000, channels: 1025 })).toThrow(`EIGEN_MAX_ORDER (${EIGEN_MAX_ORDER})`);
    expect(() => eigenPlan({ positions: EIGEN_MAX_ORDER, channels: 5000 })).not.toThrow();
  });

  it('params pack in EIGEN_PARAM_FIELDS order; stats unpack as u32, f32, f32, u32', () => {
    const plan = eigenPlan({ positions: 196, channels: 512 });
    expect([...packEigenParams(plan)]).toEqual([196, 512, 196, plan.splits, plan.chunk, 1, 0, 0]);
    expect([...packEigenParams(eigenPlan({ positions: 50, channels: 9 }))].slice(5, 6)).toEqual([0]);
    const bytes = new ArrayBuffer(EIGEN_STATS_BYTES);
    const view = new DataView(bytes);
    view.setUint32(0, 37, true);
    view.setFloat32(4, 0.5, true);
    view.setFloat32(8, 1234.5, true);
    view.setUint32(12, 1, true);
    expect(unpackEigenStats(bytes)).toEqual({ iterations: 37, change: 0.5, lambda: 1234.5, converged: true });
  });
});

describe('eigen shaders (as text)', () => {
  const strip = (code: string) => code.replace(/\/\/.*$/gm, '').replace(/\s+/g, ' ');
  it.each(EIGEN_SHADERS)('%s declares Params as EIGEN_PARAM_FIELDS, all u32', (_name, code) => {
    const m = /struct Params \{([^}]*)\}/.exec(strip(code));
    expect(m, 'struct Params').not.toBeNull();
    const fields = m![1].split(',').map((f) => f.trim()).filter(Boolean);
    expect(fields).toEqual(EIGEN_PARAM_FIELDS.map((f) => `${f}: u32`));
  });

  it('the power iteration covers MAX_ORDER rows: ROWS · GROUPS² ≥ MAX_ORDER', () => {
    const power = EIGEN_SHADERS.find(([name]) => name === 'eigenPowerIteration')![1];
    expect(wgslConstU32(power, 'ROWS') * wgslConstU32(power, 'GROUPS') ** 2).toBeGreaterThanOrEqual(EIGEN_MAX_ORDER);
    expect(wgslConstU32(power, 'GROUPS') ** 2).toBeLessThanOrEqual(256);
  });

  it('the two shaders that share EigenStats declare it identically, 16 bytes', () => {
    const stats = EIGEN_SHADERS.map(([, code]) => /struct EigenStats \{[^}]*\}/.exec(strip(code))?.[0]).filter(Boolean);
    expect(stats).toHaveLength(2);
    expect(stats[0]).toBe(stats[1]);
    expect(stats[0]).toBe('struct EigenStats { iterations: u32, change: f32, lambda: f32, converged: u32, }');
  });
});

describe('eigenProjectionRef (float64 one-sided Jacobi SVD)', () => {
  it('a 3×2 matrix with a known SVD (Gram over channels)', () => {
    // X = [[1, 1], [−2, 0], [1, −1]] has orthogonal columns of norms √6 and √2: v1 = e1, X·v1 = (1, −2, 1).
    // M adds column offsets (10, 20); m = (16, 14, 15), so (m − mean) = (1, −1, 0) and the sign is +.
    const r = eigenProjectionRef({ positions: 3, channels: 2 }, [11, 21, 8, 20, 11, 19]);
    expectClose(r.projection, [1, -2, 1], 1e-14);
    expectClose(r.singularValues, [Math.sqrt(6), Math.sqrt(2)], 1e-14);
  });

  it('a 2×3 matrix with a known SVD (Gram over positions)', () => {
    // Two positions: X = [d/2; −d/2] with d = (3, 4, 0): rank 1, σ1 = ‖d‖/√2 = 5/√2, X·v1 = (2.5, −2.5).
    const r = eigenProjectionRef({ positions: 2, channels: 3 }, [3, 4, 0, 0, 0, 0]);
    expectClose(r.projection, [2.5, -2.5], 1e-14);
    expectClose(r.singularValues, [5 / Math.SQRT2, 0], 1e-14);
  });

  it.each([
    [9, 30],
    [30, 9],
    [20, 20],
  ])('P=%i K=%i: Σσ² = ‖X‖_F², σ descending, ‖projection‖ = σ1, sign rule', (positions, channels) => {
    const s = { positions, channels };
    const data = normal(positions * channels, positions * 100 + channels, 1).map((v) => v + 0.5);
    const r = eigenProjectionRef(s, data);
    const frob2 = centredRef(s, data).reduce((sum, row) => sum + row.reduce((t, v) => t + v * v, 0), 0);
    expect(r.singularValues).toHaveLength(Math.min(positions, channels));
    expect(Math.abs(r.singularValues.reduce((t, v) => t + v * v, 0) - frob2) / frob2).toBeLessThan(1e-13);
    for (let j = 1; j < r.singularValues.length; j++) expect(r.singularValues[j]).toBeLessThanOrEqual(r.singularValues[j - 1]);
    const norm = Math.hypot(...r.projection);
    expect(Math.abs(norm - r.singularValues[0]) / norm).toBeLessThan(1e-13);
    expect(signCorrelation(r.projection, channelMeansRef(s, data))).toBeGreaterThanOrEqual(0);
    expect(Math.abs(r.projection.reduce((t, v) => t + v, 0)) / norm).toBeLessThan(1e-12);
  });

  it.each([
    [7, 5],
    [5, 7],
  ])('P=%i K=%i: agrees with numpy.linalg.svd to 1e-9', (positions, channels) => {
    const s = { positions, channels };
    const data = Array.from(normal(positions * channels, 7 * positions + channels, 1));
    const script = [
      'import json, sys, numpy as np',
      'd = json.load(sys.stdin)',
      "M = np.array(d['data'], dtype=np.float64).reshape(d['P'], d['K'])",
      'X = M - M.mean(axis=0)',
      'U, S, VT = np.linalg.svd(X, full_matrices=True)',
      'proj = X @ VT[0, :]',
      'm = M.mean(axis=1)',
      'if np.dot(proj, m - m.mean()) < 0: proj = -proj',
      "json.dump({'projection': proj.tolist(), 's': S.tolist()}, sys.stdout)",
    ].join('\n');
    const out = execFileSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify({ P: positions, K: channels, data }), encoding: 'utf8' });
    const np = JSON.parse(out) as { projection: number[]; s: number[] };
    const r = eigenProjectionRef(s, data);
    const scale = Math.max(...np.projection.map(Math.abs));
    expect(errorStats(r.projection, np.projection).maxAbs / scale).toBeLessThan(1e-9);
    expect(errorStats(r.singularValues, np.s).maxAbs / np.s[0]).toBeLessThan(1e-9);
  });
});

function expectClose(actual: ArrayLike<number>, expected: number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i]), `[${i}] ${actual[i]} vs ${expected[i]}`).toBeLessThan(tol);
}

describe('eigen projection on the GPU', () => {
  let device: GPUDevice;
  beforeAll(async () => {
    device = await testDevice();
  });
  afterAll(() => device?.destroy());

  async function project(shape: EigenShape, data: Float32Array) {
    const matrix = upload(device, data, 'matrix');
    const output = guardedOutput(device, shape.positions, 'projection');
    const eig = await prepareEigenProjection(device, shape, { matrix, projection: output }, 'test eigen');
    try {
      device.pushErrorScope('validation');
      const encoder = device.createCommandEncoder();
      for (const d of eig.dispatches) {
        const pass = encoder.beginComputePass({ label: d.label });
        encodeDispatch(pass, d);
        pass.end();
      }
      device.queue.submit([encoder.finish()]);
      const error = await device.popErrorScope();
      if (error) throw new Error(`validation error: ${error.message}`);
      const projection = await readGuarded(device, output, shape.positions, 'projection');
      const stats = unpackEigenStats(new Float32Array(await readBack(device, eig.stats)).buffer);
      return { projection: Float64Array.from(projection), stats, bytes: eig.bytes, dispatches: eig.dispatches.map((d) => d.label) };
    } finally {
      eig.destroy();
      matrix.destroy();
      output.destroy();
    }
  }

  /** GPU vs reference within the stated tolerance; returns the error for the log. */
  function expectMatches(name: string, gpu: Float64Array, ref: Float64Array): { relL2: number; maxAbsRel: number } {
    const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const e = errorStats(gpu, ref);
    const maxAbsRel = e.maxAbs / scale;
    expect(e.relL2, `${name}: rel L2 ${e.relL2}`).toBeLessThan(RTOL);
    expect(maxAbsRel, `${name}: max |Δ| / max|ref| ${maxAbsRel}`).toBeLessThan(RTOL);
    return { relL2: e.relL2, maxAbsRel };
  }

  it.each([
    [12, 40, 'positions (P < K)'],
    [50, 9, 'channels (P > K)'],
    [16, 16, 'positions (P = K)'],
    [300, 40, 'channels, 3×3 tiles, 4 splits'],
    [600, 8, 'channels, partial tile, 8 splits'],
    [196, 512, 'positions, VGG16 block5_conv3'],
  ] as const)('P=%i K=%i (Gram over %s) matches the reference', async (positions, channels, _gram) => {
    const shape = { positions, channels };
    const data = lowRank(shape, positions * 1000 + channels);
    const ref = eigenProjectionRef(shape, data);
    expect(ref.singularValues[1] / ref.singularValues[0], 'the case has a spectral gap').toBeLessThanOrEqual(0.7);
    const gpu = await project(shape, data);
    const err = expectMatches(`${positions}×${channels}`, gpu.projection, ref.projection);
    // Sign rule on the GPU's own output.
    const m = channelMeansRef(shape, data);
    const norm = Math.hypot(...gpu.projection);
    const mNorm = Math.hypot(...m.map((v, _i, a) => v - a.reduce((s, x) => s + x, 0) / a.length));
    expect(signCorrelation(gpu.projection, m) / (norm * mNorm), 'clearly positive correlation with the channel mean').toBeGreaterThan(0.05);
    // Convergence: λ1 = σ1².
    expect(gpu.stats.converged).toBe(true);
    expect(gpu.stats.iterations).toBeGreaterThan(0);
    expect(gpu.stats.iterations).toBeLessThan(EIGEN_MAX_ITERATIONS);
    expect(gpu.stats.change).toBeLessThan(EIGEN_TOLERANCE);
    expect(Math.abs(gpu.stats.lambda - ref.singularValues[0] ** 2) / ref.singularValues[0] ** 2).toBeLessThan(RTOL);
    expect(gpu.bytes).toBe(eigenScratchBytes(shape));
    expect(gpu.dispatches).toHaveLength(eigenPlan(shape).splits > 1 ? 7 : 6);
    console.log(
      `eigen ${positions}×${channels}: ${gpu.stats.iterations} iterations, σ2/σ1 ${(ref.singularValues[1] / ref.singularValues[0]).toFixed(3)}, ` +
        `rel L2 ${err.relL2.toExponential(2)}, max |Δ|/max ${err.maxAbsRel.toExponential(2)}`,
    );
  });

  it.each([
    [30, 12],
    [12, 30],
  ])('P=%i K=%i, close singular values (σ2/σ1 ≈ 0.9): slower, still converged and within tolerance', async (positions, channels) => {
    const shape = { positions, channels };
    const data = spectrum(shape, 4242 + positions, [10, 9, 3], 0.002);
    const ref = eigenProjectionRef(shape, data);
    const ratio = ref.singularValues[1] / ref.singularValues[0];
    expect(ratio).toBeGreaterThan(0.85);
    const gpu = await project(shape, data);
    const err = expectMatches('close σ', gpu.projection, ref.projection);
    expect(gpu.stats.converged).toBe(true);
    console.log(`eigen ${positions}×${channels}: σ2/σ1 ${ratio.toFixed(3)}, ${gpu.stats.iterations} iterations, rel L2 ${err.relL2.toExponential(2)}`);
  });

  it.each([
    [20, 30, 'zeros', () => 0],
    [30, 20, 'zeros', () => 0],
    [37, 11, 'one constant (0.1)', () => 0.1],
    [11, 37, 'one constant (0.1)', () => 0.1],
    [23, 13, 'constant columns', (_i: number, k: number) => 0.3 + 0.1 * k],
    [13, 23, 'constant columns', (_i: number, k: number) => 0.3 + 0.1 * k],
  ] as const)('P=%i K=%i, %s: an all-zero projection, λ1 = 0, no NaN', async (positions, channels, _name, value) => {
    const shape = { positions, channels };
    const data = new Float32Array(positions * channels);
    for (let i = 0; i < positions; i++) for (let k = 0; k < channels; k++) data[i * channels + k] = value(i, k);
    const gpu = await project(shape, data);
    expect([...gpu.projection]).toEqual(new Array(positions).fill(0));
    expect(gpu.stats).toEqual({ iterations: 0, change: 0, lambda: 0, converged: true });
    expect([...eigenProjectionRef(shape, data).projection].every((v) => v === 0)).toBe(true);
  });

  it.each([
    [40, 17],
    [17, 40],
  ])('P=%i K=%i, rank 1 (offset + a·bᵀ): the projection is ‖b‖·(a − mean a), found in a few steps', async (positions, channels) => {
    const shape = { positions, channels };
    const a = normal(positions, 5, 1);
    const b = normal(channels, 6, 1).map((v) => 0.2 + Math.abs(v));
    const data = new Float32Array(positions * channels);
    for (let i = 0; i < positions; i++) for (let k = 0; k < channels; k++) data[i * channels + k] = 2 + a[i] * b[k];
    const ref = eigenProjectionRef(shape, data);
    // By hand (float64 from the float32 products, so only the products' rounding separates them).
    const aMean = a.reduce((s, v) => s + v, 0) / positions;
    const bNorm = Math.hypot(...b);
    const byHand = Float64Array.from(a, (v) => (v - aMean) * bNorm);
    expect(errorStats(ref.projection, byHand).relL2).toBeLessThan(1e-6);
    expect(ref.singularValues[1] / ref.singularValues[0]).toBeLessThan(1e-6);
    const gpu = await project(shape, data);
    expectMatches('rank 1', gpu.projection, ref.projection);
    expect(gpu.stats.converged).toBe(true);
    expect(gpu.stats.iterations).toBeLessThanOrEqual(5);
  });

  it.each([1e12, 1e-12])('scale %s: no overflow or underflow (the iteration runs on G / trace G)', async (scale) => {
    const shape = { positions: 45, channels: 21 };
    const data = lowRank(shape, 77).map((v) => v * scale);
    const ref = eigenProjectionRef(shape, data);
    const gpu = await project(shape, data);
    expectMatches(`scale ${scale}`, gpu.projection, ref.projection);
    expect(gpu.stats.converged).toBe(true);
    expect(Math.abs(gpu.stats.lambda / ref.singularValues[0] ** 2 - 1)).toBeLessThan(RTOL);
  });

  it('one position or one channel', async () => {
    const one = await project({ positions: 1, channels: 6 }, Float32Array.from([1, 2, 3, 4, 5, 6]));
    expect([...one.projection]).toEqual([0]); // X = 0: centred over a single position
    const column = Float32Array.from([3, 1, 4, 1, 5, 9, 2, 6]);
    const gpu = await project({ positions: 8, channels: 1 }, column);
    // X·v1 with v1 = ±1: the centred column, signed to correlate with m = the column itself.
    const mean = column.reduce((s, v) => s + v, 0) / column.length;
    expectMatches('one channel', gpu.projection, Float64Array.from(column, (v) => v - mean));
  });

  it('checks its buffers', async () => {
    const matrix = upload(device, new Float32Array(12), 'matrix');
    const small = upload(device, new Float32Array(16), 'projection');
    const uniformOnly = device.createBuffer({ size: 64, usage: GPUBufferUsage.UNIFORM });
    try {
      await expect(prepareEigenProjection(device, { positions: 4, channels: 4 }, { matrix, projection: small })).rejects.toThrow(
        'matrix buffer holds 48 bytes, needs 64',
      );
      await expect(prepareEigenProjection(device, { positions: 3, channels: 4 }, { matrix, projection: uniformOnly })).rejects.toThrow(
        'projection buffer needs STORAGE usage',
      );
    } finally {
      matrix.destroy();
      small.destroy();
      uniformOnly.destroy();
    }
  });
});
