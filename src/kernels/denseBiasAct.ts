import code from './denseBiasAct.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, packU32Params, type KernelSource } from './kernel.js';

/** x: [n, k] · w: [k, m] + b: [m] → y: [n, m]. */
export interface DenseShape {
  n: number;
  k: number;
  m: number;
  relu: boolean;
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

const WORKGROUP = 64;
const source: KernelSource = {
  label: 'denseBiasAct',
  code,
  entryPoint: 'denseBiasAct',
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'],
};

const naive = kernelVersion<DenseShape, DenseBuffers>({
  name: 'naive',
  source,
  supports: () => true,
  workgroups: (s) => checkedWorkgroups('denseBiasAct', [ceilDiv(s.m, WORKGROUP), s.n, 1]),
  constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, RELU: s.relu }),
  params: packDenseParams,
  bind: (b) => [b.x, b.weights, b.bias, b.y],
});

export const denseBiasActVersions = [naive] as const;
