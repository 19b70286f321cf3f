import code from './denseBackwardInput.wgsl?raw';
import gemmCode from './denseBackwardInput.gemm.wgsl?raw';
import gemvCode from './denseBackwardInput.gemv.wgsl?raw';
import gemvF16Code from './denseBackwardInput.gemvf16.wgsl?raw';
import gemvSubgroupsCode from './denseBackwardInput.gemvSubgroups.wgsl?raw';
import f16Code from './denseBackwardInput.vec4f16.wgsl?raw';
import rowsCode from './denseBackwardInput.rows.wgsl?raw';
import splitMCode from './denseBackwardInput.splitM.wgsl?raw';
import vec4Code from './denseBackwardInput.vec4.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, packU32Params, wgslConstU32, type KernelSource } from './kernel.js';
import { reluRuleConstant, type ReluRule } from './reluRule.js';

/**
 * dy, y: [n, m]; w: [k, m] → dx: [n, k] = g · wᵀ, g = dy through the layer's ReLU (if relu) by reluRule.
 * With sharedForward, y is [1, m]: one forward row masks all n rows of dy (several Grad-CAM targets of
 * one image, one gradient row per target class).
 */
export interface DenseBackwardShape {
  n: number;
  k: number;
  m: number;
  relu: boolean;
  /** Weights stored as packed float16 (packHalf), read by the f16 version only. */
  weightsF16?: boolean;
  /** y has one row, shared by every row of dy and dx (default false: y has n rows). */
  sharedForward?: boolean;
  /** How dy passes the ReLU when relu (default 'plain', the true gradient; see reluRule.ts). */
  reluRule?: ReluRule;
}

export interface DenseBackwardBuffers {
  dy: GPUBuffer;
  /** The layer's own (post-ReLU) output, for the ReLU mask: n rows, or one with sharedForward. */
  y: GPUBuffer;
  weights: GPUBuffer;
  dx: GPUBuffer;
}

export function packDenseBackwardParams(s: DenseBackwardShape): Uint32Array<ArrayBuffer> {
  return packU32Params([s.n, s.k, s.m]);
}

const BINDINGS = ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'] as const;
const bind = (b: DenseBackwardBuffers) => [b.dy, b.y, b.weights, b.dx];
const WORKGROUP = 64;
const source: KernelSource = { label: 'denseBackwardInput', code, entryPoint: 'denseBackwardInput', bindings: BINDINGS };
/** Pipeline constants every version takes from the shape (without a ReLU every rule is g = dy: one pipeline). */
const shapeConstants = (s: DenseBackwardShape) => ({ RELU: s.relu, SHARED_FORWARD: s.sharedForward === true, RELU_RULE: reluRuleConstant(s.relu ? s.reluRule : 'plain') });

const naive = kernelVersion<DenseBackwardShape, DenseBackwardBuffers>({
  name: 'naive',
  reference: true,
  source,
  supports: (s) => !s.weightsF16,
  workgroups: (s) => checkedWorkgroups('denseBackwardInput', [ceilDiv(s.k, WORKGROUP), s.n, 1]),
  constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, ...shapeConstants(s) }),
  params: packDenseBackwardParams,
  bind,
});

const vec4 = kernelVersion<DenseBackwardShape, DenseBackwardBuffers>({
  name: 'vec4',
  source: { label: 'denseBackwardInput.vec4', code: vec4Code, entryPoint: 'denseBackwardInputVec4', bindings: BINDINGS },
  supports: (s) => s.m % 4 === 0 && !s.weightsF16,
  workgroups: (s) => checkedWorkgroups('denseBackwardInput.vec4', [ceilDiv(s.k, WORKGROUP), 1, s.n]),
  constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, ...shapeConstants(s) }),
  params: packDenseBackwardParams,
  bind,
});

/** Rows of W per workgroup of the split-M version (fixed by its vec4 of partial sums), from its shader. */
export const SPLIT_M_ROWS = wgslConstU32(splitMCode, 'ROWS');
const SPLIT_M_THREADS = 64;
const splitM = kernelVersion<DenseBackwardShape, DenseBackwardBuffers>({
  name: 'splitM',
  source: { label: 'denseBackwardInput.splitM', code: splitMCode, entryPoint: 'denseBackwardInputSplitM', bindings: BINDINGS },
  supports: (s) => s.m % 4 === 0 && !s.weightsF16,
  workgroups: (s) => checkedWorkgroups('denseBackwardInput.splitM', [ceilDiv(s.k, SPLIT_M_ROWS), 1, s.n]),
  constants: (s) => ({ THREADS: SPLIT_M_THREADS, ...shapeConstants(s) }),
  params: packDenseBackwardParams,
  bind,
});

const vec4F16 = kernelVersion<DenseBackwardShape, DenseBackwardBuffers>({
  name: 'vec4f16',
  source: { label: 'denseBackwardInput.vec4f16', code: f16Code, entryPoint: 'denseBackwardInputVec4F16', bindings: BINDINGS },
  supports: (s) => s.m % 4 === 0 && s.weightsF16 === true,
  workgroups: (s) => checkedWorkgroups('denseBackwardInput.vec4f16', [ceilDiv(s.k, WORKGROUP), 1, s.n]),
  constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, ...shapeConstants(s) }),
  params: packDenseBackwardParams,
  bind,
});

/** The most rows of dy the rows version computes in one invocation (its accumulators), from its shader. */
export const ROWS_MAX = wgslConstU32(rowsCode, 'MAX_ROWS');
/** Input elements k per invocation of the rows version, from its shader. */
export const ROWS_K_PER = wgslConstU32(rowsCode, 'K_PER');
/**
 * Every row of dy per invocation, so each weight is read once for all n rows rather than n times: for
 * 2 ≤ n ≤ ROWS_MAX (several Grad-CAM targets, sharedForward or not). Not for n = 1, so batch-1 paths
 * and tuning tables (tuned on batch-1 shapes) stay as they were. Float32 weights only.
 */
const rows = kernelVersion<DenseBackwardShape, DenseBackwardBuffers>({
  name: 'rows',
  source: { label: 'denseBackwardInput.rows', code: rowsCode, entryPoint: 'denseBackwardInputRows', bindings: BINDINGS },
  supports: (s) => s.n >= 2 && s.n <= ROWS_MAX && s.m % 4 === 0 && !s.weightsF16,
  workgroups: (s) => checkedWorkgroups('denseBackwardInput.rows', [ceilDiv(s.k, ROWS_K_PER * WORKGROUP), 1, 1]),
  constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, ROWS: s.n, ...shapeConstants(s) }),
  params: packDenseBackwardParams,
  bind,
});

/** Rows of W per workgroup and invocations per workgroup of the GPU-shaped batch-1 version. */
export const GEMV_BACKWARD = { rows: 8, threads: 64 } as const;
const GEMV_VARIANTS = {
  gemv: { code: gemvCode, entryPoint: 'denseBackwardInputGemv', features: [] },
  gemvf16: { code: gemvF16Code, entryPoint: 'denseBackwardInputGemvF16', features: ['shader-f16'] },
  // The partial sums reduced by subgroupAdd: one barrier instead of log2(THREADS).
  gemvSubgroups: { code: gemvSubgroupsCode, entryPoint: 'denseBackwardInputGemvSubgroups', features: ['subgroups'] },
} as const satisfies Record<string, { code: string; entryPoint: string; features: readonly GPUFeatureName[] }>;

const gemvVersion = (name: keyof typeof GEMV_VARIANTS) =>
  kernelVersion<DenseBackwardShape, DenseBackwardBuffers>({
    name,
    features: GEMV_VARIANTS[name].features,
    workgroupTiled: true,
    source: {
      label: `denseBackwardInput.${name}`,
      code: GEMV_VARIANTS[name].code,
      entryPoint: GEMV_VARIANTS[name].entryPoint,
      bindings: BINDINGS,
    },
    supports: (s) => s.m % 4 === 0 && (s.weightsF16 === true) === (name === 'gemvf16'),
    workgroups: (s) => checkedWorkgroups(`denseBackwardInput.${name}`, [ceilDiv(s.k, GEMV_BACKWARD.rows), 1, s.n]),
    constants: (s) => ({ ROWS: GEMV_BACKWARD.rows, THREADS: GEMV_BACKWARD.threads, ...shapeConstants(s) }),
    params: packDenseBackwardParams,
    bind,
  });

/** Rows of W per workgroup of the batched version (its vec4 of dot products), from its shader. */
export const GEMM_BACKWARD_ROWS = wgslConstU32(gemmCode, 'ROWS');
/** The most rows of dy one workgroup of the batched version takes (its accumulators), from its shader. */
export const GEMM_BACKWARD_MAX_BATCH = wgslConstU32(gemmCode, 'MAX_BATCH');
const GEMM_BACKWARD_THREADS = 64;
const gemmBatch = (s: DenseBackwardShape) => Math.min(s.n, GEMM_BACKWARD_MAX_BATCH);
/** Batches only (n > 1, sharedForward or not): W read once per GEMM_BACKWARD_MAX_BATCH rows of dy. Float32 weights. */
const gemm = kernelVersion<DenseBackwardShape, DenseBackwardBuffers>({
  name: 'gemm',
  workgroupTiled: true,
  source: { label: 'denseBackwardInput.gemm', code: gemmCode, entryPoint: 'denseBackwardInputGemm', bindings: BINDINGS },
  supports: (s) => s.n > 1 && s.m % 4 === 0 && !s.weightsF16,
  workgroups: (s) => checkedWorkgroups('denseBackwardInput.gemm', [ceilDiv(s.k, GEMM_BACKWARD_ROWS), 1, ceilDiv(s.n, gemmBatch(s))]),
  constants: (s) => ({ BATCH: gemmBatch(s), THREADS: GEMM_BACKWARD_THREADS, ...shapeConstants(s) }),
  params: packDenseBackwardParams,
  bind,
});

/**
 * Without a tuning table the engine takes the first that supports a shape; 'naive' is the reference.
 * 'rows' supports 2..ROWS_MAX rows only, and is first for them. The GPU-shaped versions ('gemv', and
 * 'gemm' for batches) come after those SwiftShader runs fastest; the tuner picks per device.
 * Float16 weights: 'vec4f16', and 'gemvf16' where the device has 'shader-f16'; 'gemvSubgroups' where it
 * has 'subgroups'.
 */
export const denseBackwardInputVersions = [rows, vec4, splitM, naive, vec4F16, gemvVersion('gemv'), gemm, gemvVersion('gemvf16'), gemvVersion('gemvSubgroups')] as const;
