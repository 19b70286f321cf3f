import code from './packHalf.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, MAX_WORKGROUPS_PER_DIMENSION, packU32Params, type KernelSource } from './kernel.js';

/** `count` float32 values → ceil(count / 2) u32 words of two float16 each. */
export interface PackHalfShape {
  count: number;
}

export interface PackHalfBuffers {
  x: GPUBuffer;
  y: GPUBuffer;
}

const WORKGROUP = 256;
const source: KernelSource = { label: 'packHalf', code, entryPoint: 'packHalf', bindings: ['uniform', 'read-only-storage', 'storage'] };

export const packedHalfBytes = (count: number) => 4 * Math.ceil(count / 2);

function grid(s: PackHalfShape): [number, number, number] {
  const groups = ceilDiv(Math.ceil(s.count / 2), WORKGROUP);
  const x = Math.min(groups, MAX_WORKGROUPS_PER_DIMENSION);
  return checkedWorkgroups('packHalf', [x, ceilDiv(groups, x), 1]);
}

export const packHalfVersions = [
  kernelVersion<PackHalfShape, PackHalfBuffers>({
    name: 'direct',
    source,
    supports: (s) => s.count >= 1,
    workgroups: grid,
    constants: () => ({ WORKGROUP_SIZE: WORKGROUP }),
    params: (s) => packU32Params([s.count, grid(s)[0] * WORKGROUP]),
    bind: (b) => [b.x, b.y],
  }),
] as const;
