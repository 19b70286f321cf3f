// Eigen-CAM's projection (pytorch-grad-cam's get_2d_projection) as seven dispatches:
//   M: [P, K] row-major (P = H·W positions, K channels)   X = M − 1·μᵀ (μ: column means over positions)
//   projection = X·v1, v1 the first right singular vector of X, signed so that Σ_i projection[i]·m[i] ≥ 0
//   (m[i] = mean over k of M[i, k]; the projection sums to 0, so this is its correlation with the channel
//   mean). An all-zero or constant M (X = 0, σ1 = 0) gives an all-zero projection, never NaN.
// Method: power iteration on the Gram matrix of the smaller side, n = min(P, K) ≤ EIGEN_MAX_ORDER:
//   P ≤ K: G = X·Xᵀ (P×P), top eigenvector u, projection = σ1·u with σ1 = √λ1;
//   P > K: G = Xᵀ·X (K×K), top eigenvector v, projection = X·v.
// Passes: column means, row means, Gram (split over the summed axis, then added), power iteration (one
// workgroup), projection, sign rule (one workgroup). See each shader's header for its thread mapping.
// Power iteration converges like (λ2/λ1)^t = (σ2/σ1)^(2t): a few tens of steps when σ2/σ1 ≤ 0.7, up to
// EIGEN_MAX_ITERATIONS when the top two singular values are close (then stats.converged is 0).
import columnMeansCode from './eigenColumnMeans.wgsl?raw';
import gramCode from './eigenGram.wgsl?raw';
import gramReduceCode from './eigenGramReduce.wgsl?raw';
import powerCode from './eigenPowerIteration.wgsl?raw';
import projectCode from './eigenProject.wgsl?raw';
import rowMeansCode from './eigenRowMeans.wgsl?raw';
import signCode from './eigenSign.wgsl?raw';
import { ceilDiv, checkedWorkgroups, destroyDispatch, kernelVersion, packU32Params, wgslConstU32, type Dispatch } from './kernel.js';

export interface EigenShape {
  positions: number;
  channels: number;
}

/** Power iteration stops when max_i |u_t[i] − u_{t−1}[i]| < EIGEN_TOLERANCE (u a unit vector). */
export const EIGEN_TOLERANCE = 1e-6;
export const EIGEN_MAX_ITERATIONS = 2000;
/** The largest min(P, K) (512: VGG16's widest layer): u lives in the power iteration's workgroup memory. */
export const EIGEN_MAX_ORDER = wgslConstU32(powerCode, 'MAX_ORDER');
/** The Gram kernel's output tile (TILE × TILE invocations). */
export const EIGEN_GRAM_TILE = wgslConstU32(gramCode, 'TILE');
/** Columns per workgroup of the column-means kernel. */
export const EIGEN_MEAN_COLUMNS = wgslConstU32(columnMeansCode, 'COLUMNS');
/** The Gram pass aims for about this many workgroups (tiles × splits) so small orders still fill a GPU. */
export const EIGEN_GRAM_TARGET_WORKGROUPS = 512;
/** Each split sums at least this many indices. */
export const EIGEN_GRAM_MIN_CHUNK = 4 * EIGEN_GRAM_TILE;

/** Everything the passes' dispatch math needs; pure, tested without a GPU. */
export interface EigenPlan extends EigenShape {
  /** n = min(P, K), the Gram matrix's order. */
  order: number;
  /** true: G = X·Xᵀ over positions (P ≤ K); false: G = Xᵀ·X over channels. */
  positionsGram: boolean;
  /** The axis the Gram matrix sums over: max(P, K). */
  summed: number;
  /** The summed axis is cut into `splits` chunks of `chunk` indices (a multiple of the tile). */
  splits: number;
  chunk: number;
}

export function eigenPlan(s: EigenShape): EigenPlan {
  for (const [name, v] of Object.entries({ positions: s.positions, channels: s.channels })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`eigenProjection: ${name} must be a positive integer, got ${v}`);
  }
  const order = Math.min(s.positions, s.channels);
  if (order > EIGEN_MAX_ORDER) {
    throw new RangeError(
      `eigenProjection: min(positions, channels) = ${order} exceeds EIGEN_MAX_ORDER (${EIGEN_MAX_ORDER}); the power iteration keeps that many floats per vector in workgroup memory`,
    );
  }
  const positionsGram = s.positions <= s.channels;
  const summed = Math.max(s.positions, s.channels);
  const tiles = ceilDiv(order, EIGEN_GRAM_TILE);
  const activeTiles = (tiles * (tiles + 1)) / 2;
  const maxSplits = Math.max(1, Math.floor(summed / EIGEN_GRAM_MIN_CHUNK));
  const wanted = Math.min(maxSplits, Math.max(1, Math.ceil(EIGEN_GRAM_TARGET_WORKGROUPS / activeTiles)));
  const chunk = ceilDiv(ceilDiv(summed, wanted), EIGEN_GRAM_TILE) * EIGEN_GRAM_TILE;
  const splits = ceilDiv(summed, chunk);
  return { positions: s.positions, channels: s.channels, order, positionsGram, summed, splits, chunk };
}

/** The uniform block every eigen shader declares as `struct Params`, in this order. */
export const EIGEN_PARAM_FIELDS = ['positions', 'channels', 'order', 'splits', 'chunk', 'positionsGram'] as const;
/** The branch is a uniform field, not an override, so both branches share one pipeline per pass. */
export const packEigenParams = (p: EigenPlan) => packU32Params(EIGEN_PARAM_FIELDS.map((f) => Number(p[f])));

/** Byte size of the stats buffer: [iterations u32, change f32, lambda f32, converged u32]. */
export const EIGEN_STATS_BYTES = 16;

export interface EigenStats {
  iterations: number;
  change: number;
  lambda: number;
  converged: boolean;
}

export function unpackEigenStats(bytes: ArrayBuffer): EigenStats {
  if (bytes.byteLength < EIGEN_STATS_BYTES) throw new RangeError(`eigen stats: ${bytes.byteLength} bytes, expected ${EIGEN_STATS_BYTES}`);
  const view = new DataView(bytes);
  return {
    iterations: view.getUint32(0, true),
    change: view.getFloat32(4, true),
    lambda: view.getFloat32(8, true),
    converged: view.getUint32(12, true) !== 0,
  };
}

// ---------------------------------------------------------------- kernel versions (one per pass)

const WORKGROUP = 64;
const REDUCE_WORKGROUP = 256;
/**
 * The single-workgroup passes sum in two levels of GROUPS, so their workgroup is GROUPS² = 256 invocations
 * (WebGPU's guaranteed maxComputeInvocationsPerWorkgroup).
 */
const POWER_WORKGROUP = wgslConstU32(powerCode, 'GROUPS') ** 2;
const SIGN_WORKGROUP = wgslConstU32(signCode, 'GROUPS') ** 2;
const supported = (s: EigenPlan) => s.positions >= 1 && s.channels >= 1 && s.order <= EIGEN_MAX_ORDER;

export interface EigenMeansBuffers {
  matrix: GPUBuffer;
  /** columnMeans: [K] for the column pass, rowMeans: [P] for the row pass. */
  means: GPUBuffer;
}
export interface EigenGramBuffers {
  matrix: GPUBuffer;
  columnMeans: GPUBuffer;
  /** [splits, n, n] */
  partials: GPUBuffer;
}
export interface EigenGramReduceBuffers {
  partials: GPUBuffer;
  gram: GPUBuffer;
}
export interface EigenPowerBuffers {
  gram: GPUBuffer;
  rowMeans: GPUBuffer;
  vector: GPUBuffer;
  stats: GPUBuffer;
}
export interface EigenProjectBuffers {
  matrix: GPUBuffer;
  columnMeans: GPUBuffer;
  vector: GPUBuffer;
  stats: GPUBuffer;
  projection: GPUBuffer;
}
export interface EigenSignBuffers {
  rowMeans: GPUBuffer;
  projection: GPUBuffer;
}

export const eigenColumnMeansVersions = [
  kernelVersion<EigenPlan, EigenMeansBuffers>({
    name: 'lanes',
    reference: true,
    source: { label: 'eigenColumnMeans', code: columnMeansCode, entryPoint: 'eigenColumnMeans', bindings: ['uniform', 'read-only-storage', 'storage'] },
    supports: supported,
    workgroups: (s) => checkedWorkgroups('eigenColumnMeans', [ceilDiv(s.channels, EIGEN_MEAN_COLUMNS), 1, 1]),
    constants: () => ({}),
    params: packEigenParams,
    bind: (b) => [b.matrix, b.means],
  }),
] as const;

export const eigenRowMeansVersions = [
  kernelVersion<EigenPlan, EigenMeansBuffers>({
    name: 'direct',
    reference: true,
    source: { label: 'eigenRowMeans', code: rowMeansCode, entryPoint: 'eigenRowMeans', bindings: ['uniform', 'read-only-storage', 'storage'] },
    supports: supported,
    workgroups: (s) => checkedWorkgroups('eigenRowMeans', [ceilDiv(s.positions, WORKGROUP), 1, 1]),
    constants: () => ({ WORKGROUP_SIZE: WORKGROUP }),
    params: packEigenParams,
    bind: (b) => [b.matrix, b.means],
  }),
] as const;

export const eigenGramVersions = [
  kernelVersion<EigenPlan, EigenGramBuffers>({
    name: 'symmetricSplit',
    reference: true,
    source: {
      label: 'eigenGram',
      code: gramCode,
      entryPoint: 'eigenGram',
      bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'storage'],
    },
    supports: supported,
    workgroups: (s) => {
      const tiles = ceilDiv(s.order, EIGEN_GRAM_TILE);
      return checkedWorkgroups('eigenGram', [tiles, tiles, s.splits]);
    },
    constants: () => ({}),
    params: packEigenParams,
    bind: (b) => [b.matrix, b.columnMeans, b.partials],
  }),
] as const;

export const eigenGramReduceVersions = [
  kernelVersion<EigenPlan, EigenGramReduceBuffers>({
    name: 'direct',
    reference: true,
    source: { label: 'eigenGramReduce', code: gramReduceCode, entryPoint: 'eigenGramReduce', bindings: ['uniform', 'read-only-storage', 'storage'] },
    supports: (s) => supported(s) && s.splits > 1,
    workgroups: (s) => checkedWorkgroups('eigenGramReduce', [ceilDiv(s.order * s.order, REDUCE_WORKGROUP), 1, 1]),
    constants: () => ({ WORKGROUP_SIZE: REDUCE_WORKGROUP }),
    params: packEigenParams,
    bind: (b) => [b.partials, b.gram],
  }),
] as const;

export const eigenPowerIterationVersions = [
  kernelVersion<EigenPlan, EigenPowerBuffers>({
    name: 'singleWorkgroup',
    reference: true,
    source: {
      label: 'eigenPowerIteration',
      code: powerCode,
      entryPoint: 'eigenPowerIteration',
      bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'storage', 'storage'],
    },
    supports: supported,
    workgroups: () => [1, 1, 1],
    constants: () => ({ WORKGROUP_SIZE: POWER_WORKGROUP, MAX_ITERATIONS: EIGEN_MAX_ITERATIONS, TOLERANCE: EIGEN_TOLERANCE }),
    params: packEigenParams,
    bind: (b) => [b.gram, b.rowMeans, b.vector, b.stats],
  }),
] as const;

export const eigenProjectVersions = [
  kernelVersion<EigenPlan, EigenProjectBuffers>({
    name: 'direct',
    reference: true,
    source: {
      label: 'eigenProject',
      code: projectCode,
      entryPoint: 'eigenProject',
      bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'],
    },
    supports: supported,
    workgroups: (s) => checkedWorkgroups('eigenProject', [ceilDiv(s.positions, WORKGROUP), 1, 1]),
    constants: () => ({ WORKGROUP_SIZE: WORKGROUP }),
    params: packEigenParams,
    bind: (b) => [b.matrix, b.columnMeans, b.vector, b.stats, b.projection],
  }),
] as const;

export const eigenSignVersions = [
  kernelVersion<EigenPlan, EigenSignBuffers>({
    name: 'singleWorkgroup',
    reference: true,
    source: { label: 'eigenSign', code: signCode, entryPoint: 'eigenSign', bindings: ['uniform', 'read-only-storage', 'storage'] },
    supports: supported,
    workgroups: () => [1, 1, 1],
    constants: () => ({ WORKGROUP_SIZE: SIGN_WORKGROUP }),
    params: packEigenParams,
    bind: (b) => [b.rowMeans, b.projection],
  }),
] as const;

// ---------------------------------------------------------------- the whole projection

export interface EigenProjection {
  /** Encode in order, each in its own compute pass. */
  dispatches: Dispatch[];
  /** u32/f32 stats buffer: [iterations (u32), last change (f32), lambda1 (f32), converged (u32 0/1)] */
  stats: GPUBuffer;
  /** Scratch buffers it created (Gram, vectors, means, stats); destroyed by destroy(). */
  destroy(): void;
  /** GPU bytes held by the scratch buffers (not counting the dispatches' small uniform blocks). */
  bytes: number;
}

/** Bytes of the scratch buffers prepareEigenProjection creates for a shape. */
export function eigenScratchBytes(s: EigenShape): number {
  return scratchSizes(eigenPlan(s)).reduce((sum, [, size]) => sum + size, 0);
}

function scratchSizes(plan: EigenPlan): [name: string, bytes: number][] {
  const f32 = (n: number) => Math.max(4, 4 * n);
  const sizes: [string, number][] = [
    ['column means', f32(plan.channels)],
    ['row means', f32(plan.positions)],
    ['gram', f32(plan.order * plan.order)],
    ['vector', f32(plan.order)],
    ['stats', EIGEN_STATS_BYTES],
  ];
  if (plan.splits > 1) sizes.push(['gram partials', f32(plan.splits * plan.order * plan.order)]);
  return sizes;
}

/**
 * Records the Eigen-CAM projection of `matrix` ([P, K] f32, read only; needs STORAGE usage) into
 * `projection` ([P] f32, written; needs STORAGE usage). Creates its scratch buffers and dispatches;
 * the caller encodes `dispatches` in order, each in its own compute pass, and calls destroy() when done.
 */
export async function prepareEigenProjection(
  device: GPUDevice,
  shape: EigenShape,
  buffers: { matrix: GPUBuffer; projection: GPUBuffer },
  label = 'eigenProjection',
): Promise<EigenProjection> {
  const plan = eigenPlan(shape);
  const need = (name: string, buffer: GPUBuffer, bytes: number) => {
    if (buffer.size < bytes) throw new RangeError(`${label}: ${name} buffer holds ${buffer.size} bytes, needs ${bytes}`);
    if (!(buffer.usage & GPUBufferUsage.STORAGE)) throw new RangeError(`${label}: ${name} buffer needs STORAGE usage`);
  };
  need('matrix', buffers.matrix, 4 * plan.positions * plan.channels);
  need('projection', buffers.projection, 4 * plan.positions);

  const scratch = new Map<string, GPUBuffer>();
  for (const [name, size] of scratchSizes(plan)) {
    scratch.set(name, device.createBuffer({ label: `${label} ${name}`, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST }));
  }
  const get = (name: string) => scratch.get(name)!;
  const gram = get('gram');
  const partials = plan.splits > 1 ? get('gram partials') : gram;
  const dispatches: Dispatch[] = [];
  try {
    const { matrix, projection } = buffers;
    const columnMeans = get('column means');
    const rowMeans = get('row means');
    const vector = get('vector');
    const stats = get('stats');
    dispatches.push(await eigenColumnMeansVersions[0].prepare(device, plan, { matrix, means: columnMeans }, `${label}: column means`));
    dispatches.push(await eigenRowMeansVersions[0].prepare(device, plan, { matrix, means: rowMeans }, `${label}: row means`));
    dispatches.push(await eigenGramVersions[0].prepare(device, plan, { matrix, columnMeans, partials }, `${label}: gram`));
    if (plan.splits > 1) dispatches.push(await eigenGramReduceVersions[0].prepare(device, plan, { partials, gram }, `${label}: gram reduce`));
    dispatches.push(await eigenPowerIterationVersions[0].prepare(device, plan, { gram, rowMeans, vector, stats }, `${label}: power iteration`));
    dispatches.push(await eigenProjectVersions[0].prepare(device, plan, { matrix, columnMeans, vector, stats, projection }, `${label}: project`));
    dispatches.push(await eigenSignVersions[0].prepare(device, plan, { rowMeans, projection }, `${label}: sign`));
  } catch (err) {
    for (const d of dispatches) destroyDispatch(d);
    for (const b of scratch.values()) b.destroy();
    throw err;
  }
  let destroyed = false;
  return {
    dispatches,
    stats: get('stats'),
    bytes: [...scratch.values()].reduce((sum, b) => sum + b.size, 0),
    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const d of dispatches) destroyDispatch(d);
      for (const b of scratch.values()) b.destroy();
    },
  };
}
