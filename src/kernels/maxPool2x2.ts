import code from './maxPool2x2.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, packU32Params, type KernelSource } from './kernel.js';

/** x: [n, h, w, c] → y: [n, floor(h/2), floor(w/2), c]. */
export interface MaxPool2x2Shape {
  n: number;
  h: number;
  w: number;
  c: number;
}

export interface MaxPool2x2Buffers {
  x: GPUBuffer;
  y: GPUBuffer;
}

export function packMaxPool2x2Params(s: MaxPool2x2Shape): Uint32Array<ArrayBuffer> {
  return packU32Params([s.n, s.h, s.w, s.c]);
}

const WORKGROUP = 64;
const source: KernelSource = {
  label: 'maxPool2x2',
  code,
  entryPoint: 'maxPool2x2',
  bindings: ['uniform', 'read-only-storage', 'storage'],
};

const direct = kernelVersion<MaxPool2x2Shape, MaxPool2x2Buffers>({
  name: 'direct',
  source,
  supports: (s) => s.h >= 2 && s.w >= 2,
  workgroups: (s) => checkedWorkgroups('maxPool2x2', [ceilDiv(s.c, WORKGROUP), Math.floor(s.w / 2), s.n * Math.floor(s.h / 2)]),
  constants: () => ({ WORKGROUP_SIZE: WORKGROUP }),
  params: packMaxPool2x2Params,
  bind: (b) => [b.x, b.y],
});

export const maxPool2x2Versions = [direct] as const;
