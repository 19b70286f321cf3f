import code from './denseBiasAct.wgsl?raw';
import {
  ceilDiv,
  checkedWorkgroups,
  compileKernel,
  createDispatch,
  packU32Params,
  type KernelSource,
  type KernelVersion,
} from './kernel.js';

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

const naive: KernelVersion<DenseShape, DenseBuffers> = {
  name: 'naive',
  supports: () => true,
  workgroups: (s) => checkedWorkgroups('denseBiasAct', [ceilDiv(s.m, WORKGROUP), s.n, 1]),
  async prepare(device, s, buf, label = 'denseBiasAct') {
    const compiled = await compileKernel(device, source, { WORKGROUP_SIZE: WORKGROUP, RELU: s.relu });
    return createDispatch(device, compiled, label, packDenseParams(s), [buf.x, buf.weights, buf.bias, buf.y], this.workgroups(s));
  },
};

export const denseBiasActVersions = [naive] as const;
