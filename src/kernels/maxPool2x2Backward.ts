import code from './maxPool2x2Backward.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, type KernelSource } from './kernel.js';
import { packMaxPool2x2Params, type MaxPool2x2Shape } from './maxPool2x2.js';

/**
 * The forward pool's shape (its input), n rows of dy and dx. With sharedForward, x is one image
 * ([1, h, w, c]) whose argmax routes all n rows of dy (several Grad-CAM targets of one forward).
 */
export type MaxPool2x2BackwardShape = MaxPool2x2Shape & {
  /** x has one image, shared by every row of dy and dx (default false: x has n). */
  sharedForward?: boolean;
};

export interface MaxPool2x2BackwardBuffers {
  dy: GPUBuffer;
  /** The pool's input, to find each window's first maximum: n images, or one with sharedForward. */
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

/** The forward pool's shape (its input) and uniform block, as maxPool2x2. */
export const maxPool2x2BackwardVersions = [
  kernelVersion<MaxPool2x2BackwardShape, MaxPool2x2BackwardBuffers>({
    name: 'direct',
    source,
    supports: (s) => s.h >= 2 && s.w >= 2,
    workgroups: (s) => checkedWorkgroups('maxPool2x2Backward', [ceilDiv(s.c, WORKGROUP), s.w, s.n * s.h]),
    constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, SHARED_FORWARD: s.sharedForward === true }),
    params: packMaxPool2x2Params,
    bind: (b) => [b.dy, b.x, b.dx],
  }),
] as const;
