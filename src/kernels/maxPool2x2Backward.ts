import code from './maxPool2x2Backward.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, type KernelSource } from './kernel.js';
import { packMaxPool2x2Params, type MaxPool2x2Shape } from './maxPool2x2.js';

export interface MaxPool2x2BackwardBuffers {
  dy: GPUBuffer;
  /** The pool's input, to find each window's first maximum. */
  x: GPUBuffer;
  dx: GPUBuffer;
}

const WORKGROUP = 64;
const source: KernelSource = {
  label: 'maxPool2x2Backward',
  code,
  entryPoint: 'maxPool2x2Backward',
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'storage'],
};

/** Same shape (the forward pool's input) and uniform block as maxPool2x2. */
export const maxPool2x2BackwardVersions = [
  kernelVersion<MaxPool2x2Shape, MaxPool2x2BackwardBuffers>({
    name: 'direct',
    source,
    supports: (s) => s.h >= 2 && s.w >= 2,
    workgroups: (s) => checkedWorkgroups('maxPool2x2Backward', [ceilDiv(s.c, WORKGROUP), s.w, s.n * s.h]),
    constants: () => ({ WORKGROUP_SIZE: WORKGROUP }),
    params: packMaxPool2x2Params,
    bind: (b) => [b.dy, b.x, b.dx],
  }),
] as const;
