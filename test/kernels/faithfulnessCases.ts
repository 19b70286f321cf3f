// Kernel cases of the faithfulness metrics' kernels (seededNormal, roadImpute), shared by the Node
// (test/kernels.test.ts) and browser (test/chrome.test.ts) runs through kernelCases in cases.ts.
//
// Tolerances, and why:
// - seededNormal: the hash and both 24-bit uniforms are the reference's exactly (integers, and integers
//   over 2^24), so a wrong bit anywhere gives an O(1) difference. What remains is float32 Box–Muller:
//   ln u1 and cos/sin πt are the shader's own float32 polynomials (a few ulp; the builtins are allowed
//   2^-21 absolute and 2^-11, and SwiftShader's gave 1e-4 relative in z), then sqrt and mean + std·z.
//   With |z| ≤ 5.77 that is ~1e-6·std plus an ulp of mean: we allow |Δ| ≤ 1e-5·(|mean| + std);
//   measured ≤ 5.1e-7 over 1e6 standard normals.
// - roadImpute: the GPU stops when ‖r‖ ≤ tol·‖b‖ (tol = 1e-6 here) on its float32 recurrence; the error
//   of x is then ‖A⁻¹r‖ ≤ ‖r‖/λmin(A) (λmin ~ 1e-2 for holes of ≤ 30 pixels: ≤ ~1e-4·‖b‖, with ‖b‖ a few
//   times the image's range), plus float32 rounding of values up to ~150 (1e-5). We allow
//   1e-4·(max − min of the image) per imputed value; measured ≤ 3.3e-6·range on 7×9 … 30×30 masks with
//   10–98% imputed. The float32 recurrence's residual drifts from the true one: the float64 residual
//   of the GPU's x against the system measured ≤ 5e-6 at tol 1e-6, held to 2e-5. Known pixels are
//   copied: bit-exact. Every output element is checked (guards after it too).
import { destroyDispatch, type Dispatch } from '../../src/kernels/kernel.js';
import { packSeededNormalParams, seededNormalGrid, seededNormalVersions, type SeededNormalParams, type SeededNormalShape } from '../../src/kernels/seededNormal.js';
import { seededNormalAt, seededNormalRef } from '../../src/kernels/seededNormal.ref.js';
import { imputeRoad, masksWithoutKnownPixels, prepareRoadImpute, ROAD_STATUS, type RoadImputeShape } from '../../src/kernels/roadImpute.js';
import { roadImputeRef, roadRelativeResidual } from '../../src/kernels/roadImpute.ref.js';
import { mulberry32 } from '../../src/engine/synthetic.js';
import { normal, uniform, withBuffers } from '../support/data.js';
import { assert, assertClose } from '../support/compare.js';
import { readBack, run, SENTINEL, upload } from '../support/gpu.js';
import type { KernelCase } from './cases.js';

const name = (kernel: string, o: object, tag = '') => `${kernel} ${tag} ${Object.entries(o).map(([k, v]) => `${k}=${v}`).join(' ')}`.replace(/\s+/g, ' ');

const submit = (device: GPUDevice, d: Dispatch) => run(device, d, true);

// ---------------------------------------------------------------- seededNormal
const NORMAL_RTOL = 1e-5;
const GUARD_FLOATS = 16;

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

function std(a: ArrayLike<number>): number {
  const m = mean(a);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - m) ** 2;
  return Math.sqrt(s / a.length);
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number {
  const ma = mean(Array.prototype.slice.call(a, 0, n) as number[]);
  const mb = mean(Array.prototype.slice.call(b, 0, n) as number[]);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

/** Runs the kernel into a sentinel-filled buffer; checks both sides of [offset, offset + count) kept their sentinels. */
async function drawNormals(device: GPUDevice, shape: SeededNormalShape, params: SeededNormalParams, label: string): Promise<Float32Array> {
  const offset = shape.offset ?? 0;
  const total = offset + shape.count + GUARD_FLOATS;
  const out = upload(device, new Float32Array(total).fill(SENTINEL), 'normals');
  return withBuffers([out], async () => {
    const d = await seededNormalVersions[0].prepare(device, shape, { out });
    try {
      device.queue.writeBuffer(d.params, 0, packSeededNormalParams(shape, params));
      await submit(device, d);
    } finally {
      destroyDispatch(d);
    }
    const all = await readBack(device, out);
    for (let i = 0; i < offset; i++) if (all[i] !== SENTINEL) throw new Error(`${label}: element ${i} before the offset was overwritten (${all[i]})`);
    for (let i = offset + shape.count; i < total; i++) if (all[i] !== SENTINEL) throw new Error(`${label}: guard ${i - offset - shape.count} after the output was overwritten (${all[i]})`);
    return all.subarray(offset, offset + shape.count);
  });
}

const normalParity: (SeededNormalShape & SeededNormalParams & { tag?: string })[] = [
  { count: 1, seed: 0, mean: 0, std: 1 },
  { count: 1001, offset: 7, seed: 12345, mean: 3, std: 0.5 },
  { count: 4096, offset: 1, seed: 0xffffffff, mean: -2, std: 7 },
  { count: 9 * 64, offset: 0, seed: 42, mean: 0, std: Math.sqrt(2 / (9 * 64)), tag: 'He-normal' },
];

function seededNormalCases(): KernelCase[] {
  const v = seededNormalVersions[0];
  const parity = normalParity.map(({ tag, count, offset, ...params }): KernelCase => ({
    name: name(`seededNormal.${v.name}`, { count, offset: offset ?? 0, ...params, std: +params.std.toPrecision(4) }, tag),
    async run(device) {
      const got = await drawNormals(device, { count, offset }, params, this.name);
      assertClose(this.name, got, seededNormalRef(count, params), { atol: NORMAL_RTOL * (Math.abs(params.mean) + params.std), rtol: 0 });
    },
  }));
  return [
    ...parity,
    {
      name: `seededNormal.${v.name} statistics of 1e5 values: mean, std, tails, neighbour correlation`,
      async run(device) {
        const count = 100_000;
        const z = await drawNormals(device, { count }, { seed: 7, mean: 0, std: 1 }, this.name);
        assertClose(this.name, z, seededNormalRef(count, { seed: 7, mean: 0, std: 1 }), { atol: NORMAL_RTOL, rtol: 0 });
        const m = mean(z);
        const s = std(z);
        assert(Math.abs(m) <= 0.02, `${this.name}: mean ${m}, expected 0 ± 0.02`);
        assert(Math.abs(s - 1) <= 0.02, `${this.name}: std ${s}, expected 1 ± 0.02`);
        // P(|z| > 2) = 4.55%, P(|z| > 3) = 0.27% (binomial sd at n = 1e5: 0.066% and 0.016%).
        const beyond = (t: number) => z.reduce((n, x) => n + (Math.abs(x) > t ? 1 : 0), 0) / count;
        assert(Math.abs(beyond(2) - 0.0455) < 0.003, `${this.name}: P(|z| > 2) = ${beyond(2)}`);
        assert(Math.abs(beyond(3) - 0.0027) < 0.0008, `${this.name}: P(|z| > 3) = ${beyond(3)}`);
        // Neighbours (the cos/sin pair, and across pairs) are uncorrelated: |ρ| < 0.02 (sd 0.003).
        for (const lag of [1, 2, 3]) {
          const r = correlation(z.subarray(0, count - lag), z.subarray(lag), count - lag);
          assert(Math.abs(r) < 0.02, `${this.name}: lag-${lag} correlation ${r}`);
        }
      },
    },
    {
      name: `seededNormal.${v.name} one prepared dispatch, many seeds: each its reference, seeds differ`,
      async run(device) {
        const shape = { count: 20_000, offset: 3 };
        const out = upload(device, new Float32Array(shape.offset + shape.count).fill(SENTINEL), 'normals');
        await withBuffers([out], async () => {
          const d = await v.prepare(device, shape, { out });
          const draws: Float32Array[] = [];
          try {
            for (const seed of [1, 2, 3]) {
              const params = { seed, mean: 0.5, std: 2 };
              device.queue.writeBuffer(d.params, 0, packSeededNormalParams(shape, params));
              await submit(device, d);
              const got = (await readBack(device, out)).subarray(shape.offset);
              assertClose(`${this.name} seed ${seed}`, got, seededNormalRef(shape.count, params), { atol: NORMAL_RTOL * 2.5, rtol: 0 });
              draws.push(Float32Array.from(got));
            }
          } finally {
            destroyDispatch(d);
          }
          for (const [a, b] of [[0, 1], [0, 2], [1, 2]]) {
            const same = draws[a].reduce((n, x, i) => n + (x === draws[b][i] ? 1 : 0), 0);
            const r = correlation(draws[a], draws[b], shape.count);
            assert(same <= 2 && Math.abs(r) < 0.03, `${this.name}: seeds ${a + 1} and ${b + 1}: ${same} equal values, correlation ${r}`);
          }
        });
      },
    },
    {
      name: `seededNormal.${v.name} values depend on (seed, i) only: prefixes and offsets agree bit for bit`,
      async run(device) {
        const params = { seed: 99, mean: 0, std: 1 };
        const long = await drawNormals(device, { count: 1000 }, params, this.name);
        for (const shape of [{ count: 7 }, { count: 8, offset: 5 }, { count: 513, offset: 1 }]) {
          const got = await drawNormals(device, shape, params, this.name);
          for (let i = 0; i < shape.count; i++) if (got[i] !== long[i]) throw new Error(`${this.name}: count ${shape.count} offset ${shape.offset ?? 0}: element ${i} is ${got[i]}, ${long[i]} in a longer draw`);
        }
      },
    },
    {
      // 2·65535·256 + 7 values: the pairs need a second row of workgroups (fc1 has 102,760,448 values).
      name: `seededNormal.${v.name} count=${2 * 65535 * 256 + 7} (two grid rows)`,
      async run(device) {
        const shape = { count: 2 * 65535 * 256 + 7, offset: 3 };
        assert(seededNormalGrid(shape)[1] === 2, `${this.name}: grid ${seededNormalGrid(shape)}`);
        const params = { seed: 2024, mean: 0, std: Math.sqrt(2 / 25088) };
        const got = await drawNormals(device, shape, params, this.name);
        const check = (i: number) => {
          const want = params.mean + params.std * seededNormalAt(params.seed, i);
          if (!(Math.abs(got[i] - want) <= NORMAL_RTOL * params.std)) throw new Error(`${this.name}: element ${i} is ${got[i]}, expected ${want}`);
        };
        for (let i = 0; i < shape.count; i += 9973) check(i);
        for (let i = shape.count - 2 * 65535 * 256; i < shape.count; i += 65535 * 256 + 1) check(i);
        for (let i = shape.count - 10; i < shape.count; i++) check(i);
      },
    },
  ];
}

// ---------------------------------------------------------------- roadImpute
const ROAD_TOLERANCE = 1e-6;
const ROAD_MAX_ITERATIONS = 2000;

type MaskKind = 'random10' | 'random50' | 'random90' | 'row+column' | 'single' | 'corners' | 'none-known' | 'all-known' | 'blob90';

/** keep flags (1 = known) of one H×W mask. */
function makeMask(kind: MaskKind, H: number, W: number, seed: number): Uint32Array {
  const keep = new Uint32Array(H * W).fill(1);
  const r = mulberry32(seed);
  const random = (imputed: number) => keep.forEach((_, i) => (keep[i] = r() < imputed ? 0 : 1));
  switch (kind) {
    case 'random10':
      random(0.1);
      break;
    case 'random50':
      random(0.5);
      break;
    case 'random90':
      random(0.9);
      break;
    case 'row+column': {
      const row = Math.floor(H / 3);
      const col = Math.floor((2 * W) / 3);
      for (let x = 0; x < W; x++) keep[row * W + x] = 0;
      for (let y = 0; y < H; y++) keep[y * W + col] = 0;
      break;
    }
    case 'single':
      keep[Math.floor(H / 2) * W + Math.floor(W / 2)] = 0;
      break;
    case 'corners': {
      // 3×3 (or smaller) blocks at the four corners, plus one random 30%.
      random(0.3);
      for (let y = 0; y < Math.min(3, H); y++)
        for (let x = 0; x < Math.min(3, W); x++) for (const [yy, xx] of [[y, x], [H - 1 - y, x], [y, W - 1 - x], [H - 1 - y, W - 1 - x]]) keep[yy * W + xx] = 0;
      break;
    }
    case 'none-known':
      keep.fill(0);
      break;
    case 'all-known':
      break;
    case 'blob90': {
      // ROAD's MoRF at 90%: the 90% most salient pixels of a smooth map removed, one large hole.
      const sal = new Float64Array(H * W);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) sal[y * W + x] = Math.exp(-(((y - 0.4 * H) / (0.35 * H)) ** 2 + ((x - 0.6 * W) / (0.35 * W)) ** 2));
      const threshold = Float64Array.from(sal).sort()[Math.floor(0.1 * H * W)];
      sal.forEach((s, i) => (keep[i] = s < threshold ? 1 : 0));
      break;
    }
  }
  return keep;
}

interface RoadCase {
  height: number;
  width: number;
  masks: MaskKind[];
  noise: boolean;
}

const roadShapes: RoadCase[] = [
  { height: 7, width: 9, masks: ['random50'], noise: false },
  { height: 7, width: 9, masks: ['random10', 'random90', 'single'], noise: true },
  { height: 16, width: 16, masks: ['random90'], noise: false },
  { height: 16, width: 16, masks: ['row+column', 'corners', 'random50'], noise: true },
  { height: 23, width: 17, masks: ['random10'], noise: true },
  { height: 23, width: 17, masks: ['random90', 'blob90', 'corners'], noise: false },
  { height: 1, width: 11, masks: ['random50'], noise: false },
  { height: 5, width: 4, masks: ['all-known', 'none-known', 'random50'], noise: true },
];

function roadCase(c: RoadCase): KernelCase {
  const shape: RoadImputeShape = { masks: c.masks.length, height: c.height, width: c.width, channels: 3 };
  const N = c.height * c.width;
  return {
    name: name('roadImpute.jacobiCg', { H: c.height, W: c.width, S: shape.masks, masks: c.masks.join('|'), noise: c.noise }),
    async run(device) {
      const seed = c.height * 101 + c.width * 7 + shape.masks;
      // Preprocessed ('caffe') inputs: BGR minus the means, about −124 … 152.
      const image = uniform(N * 3, seed, -123.68, 151.061);
      const keep = new Uint32Array(shape.masks * N);
      c.masks.forEach((kind, m) => keep.set(makeMask(kind, c.height, c.width, seed + m), m * N));
      const noise = c.noise ? normal(shape.masks * N * 3, seed + 50, 0.58) : new Float32Array(shape.masks * N * 3);
      const count = shape.masks * N * 3;
      const bufs = { image: upload(device, image), keep: upload(device, keep), noise: upload(device, noise), out: upload(device, new Float32Array(count + 16).fill(SENTINEL)) };
      await withBuffers(Object.values(bufs), async () => {
        const prepared = await prepareRoadImpute(device, shape, bufs);
        try {
          const result = await imputeRoad(device, prepared, { tolerance: ROAD_TOLERANCE, maxIterations: ROAD_MAX_ITERATIONS, blockIterations: 16 });
          const noneKnown = masksWithoutKnownPixels(keep, shape);
          assert(JSON.stringify(result.filledMasks) === JSON.stringify(noneKnown), `${this.name}: filled masks ${result.filledMasks}, expected ${noneKnown}`);
          assert(result.converged, `${this.name}: not converged after ${result.iterations} steps (relative residual ${result.relativeResidual})`);
          assert(result.relativeResidual <= ROAD_TOLERANCE, `${this.name}: relative residual ${result.relativeResidual} > ${ROAD_TOLERANCE}`);
          const all = await readBack(device, bufs.out);
          for (let i = count; i < count + 16; i++) assert(all[i] === SENTINEL, `${this.name}: guard ${i - count} was overwritten`);
          const got = all.subarray(0, count);
          const want = roadImputeRef(shape, image, keep, noise);
          const range = Math.max(...image) - Math.min(...image);
          for (let m = 0; m < shape.masks; m++) {
            const g = got.subarray(m * N * 3, (m + 1) * N * 3);
            const w = want.subarray(m * N * 3, (m + 1) * N * 3);
            const k = keep.subarray(m * N, (m + 1) * N);
            const tag = `${this.name} mask ${m} (${c.masks[m]})`;
            if (!noneKnown.includes(m)) {
              for (let i = 0; i < N; i++) {
                if (k[i] === 0) continue;
                for (let ch = 0; ch < 3; ch++) if (g[i * 3 + ch] !== image[i * 3 + ch]) throw new Error(`${tag}: known pixel ${i} channel ${ch} is ${g[i * 3 + ch]}, not ${image[i * 3 + ch]}`);
              }
              const x = Float64Array.from(g, (v, i) => v - noise[m * N * 3 + i]);
              const residual = Math.max(...roadRelativeResidual(shape, image, k, x));
              assert(residual <= 2e-5, `${tag}: float64 residual of the GPU's solution ${residual}`);
            }
            assertClose(tag, g, w, { atol: 1e-4 * range, rtol: 0 });
          }
        } finally {
          prepared.destroy();
        }
      });
    },
  };
}

/** 224×224, one ROAD-sized solve per mask kind: converges within the budget; prints steps and time. */
function roadLargeCase(kind: MaskKind): KernelCase {
  const H = 224;
  const W = 224;
  const tolerance = 1e-4;
  const maxIterations = 4000;
  return {
    name: name('roadImpute.jacobiCg', { H, W, S: 1, mask: kind, tolerance }, '224×224 converges'),
    async run(device) {
      const shape: RoadImputeShape = { masks: 1, height: H, width: W, channels: 3 };
      const image = uniform(H * W * 3, 224, -123.68, 151.061);
      const keep = makeMask(kind, H, W, 225);
      const bufs = { image: upload(device, image), keep: upload(device, keep), out: upload(device, new Float32Array(H * W * 3)) };
      await withBuffers(Object.values(bufs), async () => {
        const prepared = await prepareRoadImpute(device, shape, bufs);
        try {
          const t0 = performance.now();
          const result = await imputeRoad(device, prepared, { tolerance, maxIterations, blockIterations: 128 });
          const seconds = (performance.now() - t0) / 1000;
          const imputed = keep.reduce((n, k) => n + (k === 0 ? 1 : 0), 0) / keep.length;
          console.log(
            `${this.name}: ${(100 * imputed).toFixed(1)}% imputed, ${result.iterations} CG steps in ${result.blocks} blocks, ` +
              `${seconds.toFixed(2)} s, relative residual ${result.relativeResidual.toExponential(2)}`,
          );
          assert(result.converged && result.perChannel.every((p) => p.status === ROAD_STATUS.converged), `${this.name}: not converged in ${maxIterations} steps: ${JSON.stringify(result.perChannel)}`);
          assert(result.relativeResidual <= tolerance, `${this.name}: relative residual ${result.relativeResidual}`);
          const got = await readBack(device, bufs.out);
          for (let i = 0; i < H * W; i++) if (keep[i] !== 0) for (let ch = 0; ch < 3; ch++) if (got[i * 3 + ch] !== image[i * 3 + ch]) throw new Error(`${this.name}: known pixel ${i} changed`);
          const residual = Math.max(...roadRelativeResidual(shape, image, keep, got));
          assert(residual <= 2 * tolerance, `${this.name}: float64 residual of the GPU's solution ${residual}`);
        } finally {
          prepared.destroy();
        }
      });
    },
  };
}

export const faithfulnessCases: KernelCase[] = [...seededNormalCases(), ...roadShapes.map(roadCase), roadLargeCase('random90'), roadLargeCase('blob90')];
