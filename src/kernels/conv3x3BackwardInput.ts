import code from './conv3x3BackwardInput.wgsl?raw';
import unrolledCode from './conv3x3BackwardInput.unrolled.wgsl?raw';
import { packConv3x3Params, type Conv3x3Shape } from './conv3x3BiasRelu.js';
import { ceilDiv, checkedWorkgroups, kernelVersion, wgslConstU32, type KernelSource } from './kernel.js';

export interface Conv3x3BackwardBuffers {
  dy: GPUBuffer;
  /** The layer's own (post-ReLU) output, for the ReLU mask. */
  y: GPUBuffer;
  weights: GPUBuffer;
  dx: GPUBuffer;
}

const WORKGROUP = 64;
const source: KernelSource = {
  label: 'conv3x3BackwardInput',
  code,
  entryPoint: 'conv3x3BackwardInput',
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'],
};

const UNROLLED_WORKGROUP: readonly [number, number] = [8, 8];
/** Input pixels per invocation of the unrolled version (× one vec4 of input channels), from its shader. */
export const BACKWARD_UNROLLED_PIXELS = wgslConstU32(unrolledCode, 'PIXELS');
const bind = (b: Conv3x3BackwardBuffers) => [b.dy, b.y, b.weights, b.dx];

/**
 * Same shape and uniform block as the forward conv3x3BiasRelu (relu: mask by the layer's output).
 * Fastest first.
 */
export const conv3x3BackwardInputVersions = [
  kernelVersion<Conv3x3Shape, Conv3x3BackwardBuffers>({
    name: 'unrolled',
    source: {
      label: 'conv3x3BackwardInput.unrolled',
      code: unrolledCode,
      entryPoint: 'conv3x3BackwardInputUnrolled',
      bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'],
    },
    // PIXELS input pixels × 4 input channels per invocation, vec4 over output channels.
    supports: (s) => s.cIn % 4 === 0 && s.cOut % 4 === 0,
    workgroups: (s) =>
      checkedWorkgroups('conv3x3BackwardInput.unrolled', [
        ceilDiv(s.cIn / 4, UNROLLED_WORKGROUP[0]),
        ceilDiv(ceilDiv(s.w, BACKWARD_UNROLLED_PIXELS), UNROLLED_WORKGROUP[1]),
        s.n * s.h,
      ]),
    constants: (s) => ({ WORKGROUP_X: UNROLLED_WORKGROUP[0], WORKGROUP_Y: UNROLLED_WORKGROUP[1], RELU: s.relu }),
    params: packConv3x3Params,
    bind,
  }),
  kernelVersion<Conv3x3Shape, Conv3x3BackwardBuffers>({
    name: 'naive',
    reference: true,
    source,
    supports: () => true,
    workgroups: (s) => checkedWorkgroups('conv3x3BackwardInput', [ceilDiv(s.cIn, WORKGROUP), s.w, s.n * s.h]),
    constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, RELU: s.relu }),
    params: packConv3x3Params,
    bind,
  }),
] as const;
