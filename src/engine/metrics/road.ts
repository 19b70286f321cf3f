// ROAD (Rong et al. 2022, "A Consistent and Efficient Evaluation Strategy for Attribution Methods"), as
// pytorch-grad-cam's metrics/road.py runs it: for a percentile p, MoRF keeps the pixels whose map value
// is below the map's p-th percentile (numpy's, linear) and imputes the rest, the most relevant; LeRF does
// the same on 1 − map, imputing the least relevant. Imputed pixels are the weighted mean of their 8
// neighbours (1/6 axial, 1/12 diagonal), a sparse linear system per image and channel, solved on the GPU
// by preconditioned conjugate gradients to a stated relative residual (roadImpute), plus Gaussian noise.
// All 2·P images are imputed at once and scored as rows of batched forwards.
import { destroyDispatch, encodeDispatch, type Dispatch } from '../../kernels/kernel.js';
import { imputeRoad, prepareRoadImpute, roadStateBytes, type PreparedRoadImpute } from '../../kernels/roadImpute.js';
import { seededNormalVersions, setSeededNormalParams } from '../../kernels/seededNormal.js';
import { INPUT_TENSOR } from '../plan.js';
import type { MetricsHost } from './evaluate.js';
import { percentile } from './stats.js';
import type { RoadResult } from './types.js';

export const ROAD_DEFAULTS = {
  /** pytorch-grad-cam's NoisyLinearImputer adds σ = 0.01 in ImageNet-normalised units: × 0.226 (the mean std) × 255 levels. */
  noise: 0.01 * 0.226 * 255,
  tolerance: 1e-4,
  /** Conjugate-gradient iterations before giving up (a 224×224 image with 90% imputed converges in far fewer). */
  maxIterations: 5000,
} as const;

export interface RoadRequest {
  map: Float32Array;
  percentiles: number[];
  /** The image's score, which every perturbed score is compared with. */
  original: number;
  pick: (out: { probabilities: Float32Array; logits: Float32Array }, row: number) => number;
  noise: number;
  tolerance: number;
  seed: number;
  batchRows?: number;
  onProgress?: (done: number, total: number) => void;
  warnings: string[];
}

/** pytorch-grad-cam's RemoveMostRelevantFirst mask (1 = kept): map < its p-th percentile; LeRF: the same on 1 − map. */
export function roadKeepMask(map: ArrayLike<number>, p: number, order: 'morf' | 'lerf'): Uint32Array {
  const values = order === 'morf' ? Float64Array.from(map) : Float64Array.from(map, (v) => 1 - v);
  const threshold = percentile(values, p);
  return Uint32Array.from(values, (v) => (v < threshold ? 1 : 0));
}

export async function roadScores(host: MetricsHost, r: RoadRequest): Promise<RoadResult> {
  const { model, device } = host.network;
  const [h, w, c] = model.inputShape;
  const pixels = h * w;
  const masks: Uint32Array[] = [];
  for (const order of ['morf', 'lerf'] as const) for (const p of r.percentiles) masks.push(roadKeepMask(r.map, p, order));
  const removed = masks.map((m) => 1 - m.reduce((s, v) => s + v, 0) / pixels);
  const P = r.percentiles.length;
  // A mask that keeps nothing (≥ p% of the pixels share the map's lowest value, e.g. Grad-CAM's zeros)
  // leaves its system without a known value; roadImpute then fills the image with its mean colour (+ noise).
  const empty = masks.flatMap((m, i) => (m.some((v) => v === 1) ? [] : [`${i < P ? 'MoRF' : 'LeRF'} ${r.percentiles[i % P]}%`]));
  if (empty.length)
    r.warnings.push(`road: at ${empty.join(', ')} kept no pixel (at least that share of the map is tied at its lowest value), so the whole image was imputed as its mean colour plus noise`);
  // Masks per solve: the solver's state must fit one binding (about 3 MB per 224×224 mask).
  const bindable = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const perMask = Math.max(roadStateBytes({ masks: 1, height: h, width: w, channels: c }), 4 * pixels * c);
  const group = Math.max(1, Math.min(masks.length, Math.floor(bindable / perMask)));
  const deltas: number[] = [];
  let iterations = 0;
  let worst = 0;
  for (let g0 = 0; g0 < masks.length; g0 += group) {
    const part = masks.slice(g0, g0 + group);
    const out = await host.locked(async (network, scorer) => {
      const rows = part.length;
      const count = rows * pixels * c;
      const made: GPUBuffer[] = [];
      const buffer = (label: string, bytes: number, usage: number) => {
        const b = device.createBuffer({ label, size: bytes, usage });
        made.push(b);
        return b;
      };
      let fill: Dispatch | undefined;
      let solver: PreparedRoadImpute | undefined;
      try {
        const noise = buffer('ROAD noise', 4 * count, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
        const imputed = buffer('ROAD imputed images', 4 * count, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
        const keep = new Uint32Array(rows * pixels);
        part.forEach((m, i) => keep.set(m, i * pixels));
        const keepBuffer = buffer('ROAD keep masks', keep.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
        device.queue.writeBuffer(keepBuffer, 0, keep);
        fill = await seededNormalVersions[0].prepare(device, { count }, { out: noise }, 'ROAD noise');
        // Mask m of a group starting at g0 draws from (seed + g0): groups (only past ~130 masks at 224×224) never share noise.
        setSeededNormalParams(device, fill, { count }, { seed: (r.seed + g0) >>> 0, mean: 0, std: r.noise });
        solver = await prepareRoadImpute(device, { height: h, width: w, masks: rows }, { image: network.tensorBuffer(INPUT_TENSOR), keep: keepBuffer, noise, out: imputed });
        const encoder = device.createCommandEncoder({ label: 'ROAD noise' });
        const pass = encoder.beginComputePass({ label: fill.label });
        encodeDispatch(pass, fill);
        pass.end();
        device.queue.submit([encoder.finish()]);
        const solve = await imputeRoad(device, solver, { tolerance: r.tolerance, maxIterations: ROAD_DEFAULTS.maxIterations });
        const scored = await scorer.scoreRows(rows, { kind: 'gpu', buffer: imputed }, { batchRows: r.batchRows, onProgress: (d) => r.onProgress?.(g0 + d, masks.length) });
        return { scored, solve };
      } finally {
        if (fill) destroyDispatch(fill);
        solver?.destroy();
        for (const b of made) b.destroy();
      }
    });
    iterations = Math.max(iterations, out.solve.iterations);
    worst = Number.isNaN(out.solve.relativeResidual) || Number.isNaN(worst) ? NaN : Math.max(worst, out.solve.relativeResidual);
    part.forEach((_, i) => deltas.push(r.pick(out.scored, i) - r.original));
  }
  if (!(worst <= r.tolerance))
    r.warnings.push(`road: the imputation stopped after ${iterations} iterations at relative residual ${worst.toExponential(2)}, above the tolerance ${r.tolerance}: the imputed pixels are approximate`);
  const morf = deltas.slice(0, P);
  const lerf = deltas.slice(P);
  const combined = morf.reduce((s, m, i) => s + (lerf[i] - m) / 2, 0) / P;
  return {
    percentiles: r.percentiles,
    morf,
    lerf,
    removedMorf: removed.slice(0, P),
    removedLerf: removed.slice(P),
    combined,
    solver: { iterations, relativeResidual: worst, tolerance: r.tolerance },
  };
}
