import code from './denseBiasAct.wgsl?raw';
import f16Code from './denseBiasAct.vec4f16.wgsl?raw';
import splitKCode from './denseBiasAct.splitK.wgsl?raw';
import vec4Code from './denseBiasAct.vec4.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, packU32Params, type KernelSource } from './kernel.js';

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
 * Without a tuning table the network takes the first that supports a shape; 'naive' is the reference.
 * Float16 weights have one version, float32 weights the others.
 */
export const denseBiasActVersions = [vec4, splitK, naive, vec4F16] as const;
