import code from './maxPool2x2.wgsl?raw';
import {
  ceilDiv,
  checkedWorkgroups,
  compileKernel,
  createDispatch,
  packU32Params,
  type KernelSource,
  type KernelVersion,
} from './kernel.js';

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

const direct: KernelVersion<MaxPool2x2Shape, MaxPool2x2Buffers> = {
  name: 'direct',
  supports: (s) => s.h >= 2 && s.w >= 2,
  workgroups: (s) =>
    checkedWorkgroups('maxPool2x2', [ceilDiv(s.c, WORKGROUP), Math.floor(s.w / 2), s.n * Math.floor(s.h / 2)]),
  async prepare(device, s, buf, label = 'maxPool2x2') {
    const compiled = await compileKernel(device, source, { WORKGROUP_SIZE: WORKGROUP });
    return createDispatch(device, compiled, label, packMaxPool2x2Params(s), [buf.x, buf.y], this.workgroups(s));
  },
};

export const maxPool2x2Versions = [direct] as const;
