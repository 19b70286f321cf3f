import code from './denseBackwardInput.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, packU32Params, type KernelSource } from './kernel.js';

/** dy, y: [n, m]; w: [k, m] → dx: [n, k] = (dy ⊙ [y > 0 if relu]) · wᵀ. */
export interface DenseBackwardShape {
  n: number;
  k: number;
  m: number;
  relu: boolean;
}

export interface DenseBackwardBuffers {
  dy: GPUBuffer;
  /** The layer's own (post-ReLU) output, for the ReLU mask. */
  y: GPUBuffer;
  weights: GPUBuffer;
  dx: GPUBuffer;
}

export function packDenseBackwardParams(s: DenseBackwardShape): Uint32Array<ArrayBuffer> {
  return packU32Params([s.n, s.k, s.m]);
}

const WORKGROUP = 64;
const source: KernelSource = {
  label: 'denseBackwardInput',
  code,
  entryPoint: 'denseBackwardInput',
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'],
};

export const denseBackwardInputVersions = [
  kernelVersion<DenseBackwardShape, DenseBackwardBuffers>({
    name: 'naive',
    source,
    supports: () => true,
    workgroups: (s) => checkedWorkgroups('denseBackwardInput', [ceilDiv(s.k, WORKGROUP), s.n, 1]),
    constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, RELU: s.relu }),
    params: packDenseBackwardParams,
    bind: (b) => [b.dy, b.y, b.weights, b.dx],
  }),
] as const;
