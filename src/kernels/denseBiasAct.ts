import code from './denseBiasAct.wgsl?raw';
import gemmCode from './denseBiasAct.gemm.wgsl?raw';
import gemvCode from './denseBiasAct.gemv.wgsl?raw';
import gemvF16Code from './denseBiasAct.gemvf16.wgsl?raw';
import f16Code from './denseBiasAct.vec4f16.wgsl?raw';
import splitKCode from './denseBiasAct.splitK.wgsl?raw';
import vec4Code from './denseBiasAct.vec4.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, packU32Params, wgslConstU32, type KernelSource } from './kernel.js';

/** x: [n, k] · w: [k, m] + b: [m] → y: [n, m]. */
export interface DenseShape {
  n: number;
  k: number;
  m: number;
  relu: boolean;
  /** Weights stored as packed float16 (packHalf), read by the f16 versions only. */
  weightsF16?: boolean;
}

export interface DenseBuffers {
  x: GPUBuffer;
  weights: GPUBuffer;
  bias: GPUBuffer;
  y: GPUBuffer;
}

export function packDenseParams(s: DenseShape): Uint32Array<ArrayBuffer> {
  return packU32Params([s.n, s.k, s.m]);
}

const BINDINGS = ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'] as const;
const WORKGROUP = 64;
const source: KernelSource = {
  label: 'denseBiasAct',
  code,
  entryPoint: 'denseBiasAct',
  bindings: BINDINGS,
};

const naive = kernelVersion<DenseShape, DenseBuffers>({
  name: 'naive',
  reference: true,
  source,
  supports: (s) => !s.weightsF16,
  workgroups: (s) => checkedWorkgroups('denseBiasAct', [ceilDiv(s.m, WORKGROUP), s.n, 1]),
  constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, RELU: s.relu }),
  params: packDenseParams,
  bind: (b) => [b.x, b.weights, b.bias, b.y],
});

const bind = (b: DenseBuffers) => [b.x, b.weights, b.bias, b.y];

const VEC4_WORKGROUP = 64;
const vec4 = kernelVersion<DenseShape, DenseBuffers>({
  name: 'vec4',
  source: { label: 'denseBiasAct.vec4', code: vec4Code, entryPoint: 'denseBiasActVec4', bindings: BINDINGS },
  supports: (s) => s.m % 4 === 0 && !s.weightsF16,
  workgroups: (s) => checkedWorkgroups('denseBiasAct.vec4', [ceilDiv(s.m / 4, VEC4_WORKGROUP), 1, s.n]),
  constants: (s) => ({ WORKGROUP_SIZE: VEC4_WORKGROUP, RELU: s.relu }),
  params: packDenseParams,
  bind,
});

/** vec4 columns × k-slices per workgroup of the split-K version. */
export const SPLIT_K = { cols: 64, slices: 4 } as const;
const splitK = kernelVersion<DenseShape, DenseBuffers>({
  name: 'splitK',
  source: { label: 'denseBiasAct.splitK', code: splitKCode, entryPoint: 'denseBiasActSplitK', bindings: BINDINGS },
  supports: (s) => s.m % 4 === 0 && !s.weightsF16,
  workgroups: (s) => checkedWorkgroups('denseBiasAct.splitK', [ceilDiv(s.m / 4, SPLIT_K.cols), 1, s.n]),
  constants: (s) => ({ COLS: SPLIT_K.cols, SLICES: SPLIT_K.slices, RELU: s.relu }),
  params: packDenseParams,
  bind,
});

const vec4F16 = kernelVersion<DenseShape, DenseBuffers>({
  name: 'vec4f16',
  source: { label: 'denseBiasAct.vec4f16', code: f16Code, entryPoint: 'denseBiasActVec4F16', bindings: BINDINGS },
  supports: (s) => s.m % 4 === 0 && s.weightsF16 === true,
  workgroups: (s) => checkedWorkgroups('denseBiasAct.vec4f16', [ceilDiv(s.m / 4, VEC4_WORKGROUP), 1, s.n]),
  constants: (s) => ({ WORKGROUP_SIZE: VEC4_WORKGROUP, RELU: s.relu }),
  params: packDenseParams,
  bind,
});

/**
 * The GPU-shaped versions' tiles: THREADS invocations per workgroup, COLS vec4 columns × THREADS/COLS
 * k-slices, COLS halved from MAX_COLS (down to MIN_COLS: 32-byte runs of a weight row, whole sectors)
 * until the layer has at least WORKGROUPS workgroups: several per multiprocessor of a large GPU, so
 * enough loads are in flight to stream W at full bandwidth (fc1, fc2 at batch 1: 2 columns × 64
 * slices, 512 workgroups). Workgroups of 128, not 256: SwiftShader's cost per workgroup with barriers
 * grows faster than its size (256 invocations: 5 ms, 128: 1.2 ms, 64: 0.5 ms), and a GPU runs either.
 */
export const GEMV = { threads: 128, minCols: 2, maxCols: 64, workgroups: 512 } as const;
/** The batched version's: 64 invocations, since its partial sums take ROWS times the memory (8 KiB). */
export const GEMM = { threads: 64, minCols: 2, maxCols: 64, workgroups: 512 } as const;

/** vec4 columns and k-slices per workgroup for `blocks` workgroups per column tile (rows of x or row blocks). */
export function denseTile(t: typeof GEMV | typeof GEMM, m: number, blocks = 1): { cols: number; slices: number } {
  let cols: number = t.maxCols;
  while (cols > t.minCols && ceilDiv(m / 4, cols) * blocks < t.workgroups) cols /= 2;
  return { cols, slices: t.threads / cols };
}
const gemvTile = (s: DenseShape) => denseTile(GEMV, s.m);

const gemvVersion = (name: 'gemv' | 'gemvf16') =>
  kernelVersion<DenseShape, DenseBuffers>({
    name,
    features: name === 'gemvf16' ? ['shader-f16'] : [],
    workgroupTiled: true,
    source: {
      label: `denseBiasAct.${name}`,
      code: name === 'gemvf16' ? gemvF16Code : gemvCode,
      entryPoint: name === 'gemvf16' ? 'denseBiasActGemvF16' : 'denseBiasActGemv',
      bindings: BINDINGS,
    },
    supports: (s) => s.m % 4 === 0 && (s.weightsF16 === true) === (name === 'gemvf16'),
    workgroups: (s) => checkedWorkgroups(`denseBiasAct.${name}`, [ceilDiv(s.m / 4, gemvTile(s).cols), 1, s.n]),
    constants: (s) => ({ COLS: gemvTile(s).cols, SLICES: gemvTile(s).slices, RELU: s.relu }),
    params: packDenseParams,
    bind,
  });

/** The most rows of x the batched version applies a weight to (its accumulators), from its shader. */
export const GEMM_MAX_ROWS = wgslConstU32(gemmCode, 'MAX_ROWS');
const gemmRows = (s: DenseShape) => Math.min(s.n, GEMM_MAX_ROWS);
const gemmTile = (s: DenseShape) => denseTile(GEMM, s.m, ceilDiv(s.n, gemmRows(s)));
/** Batches only (n > 1): W read once per GEMM_MAX_ROWS rows. Float32 weights; K and M multiples of 4 (VGG's are). */
const gemm = kernelVersion<DenseShape, DenseBuffers>({
  name: 'gemm',
  workgroupTiled: true,
  source: { label: 'denseBiasAct.gemm', code: gemmCode, entryPoint: 'denseBiasActGemm', bindings: BINDINGS },
  supports: (s) => s.n > 1 && s.k % 4 === 0 && s.m % 4 === 0 && !s.weightsF16,
  workgroups: (s) => checkedWorkgroups('denseBiasAct.gemm', [ceilDiv(s.m / 4, gemmTile(s).cols), 1, ceilDiv(s.n, gemmRows(s))]),
  constants: (s) => ({ COLS: gemmTile(s).cols, SLICES: gemmTile(s).slices, ROWS: gemmRows(s), RELU: s.relu }),
  params: packDenseParams,
  bind,
});

/**
 * Without a tuning table the network takes the first that supports a shape; 'naive' is the reference.
 * The GPU-shaped versions come after the versions SwiftShader runs fastest; the tuner picks per device.
 * Float16 weights: 'vec4f16', and 'gemvf16' where the device has 'shader-f16'.
 */
export const denseBiasActVersions = [vec4, splitK, naive, vec4F16, gemvVersion('gemv'), gemm, gemvVersion('gemvf16')] as const;
