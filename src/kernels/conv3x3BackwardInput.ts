import code from './conv3x3BackwardInput.wgsl?raw';
import unrolledCode from './conv3x3BackwardInput.unrolled.wgsl?raw';
import { packConv3x3Params, type Conv3x3Shape } from './conv3x3BiasRelu.js';
import { ceilDiv, checkedWorkgroups, kernelVersion, wgslConstU32, type KernelSource } from './kernel.js';

/**
 * The forward conv's shape, n rows of dy and dx. With sharedForward, y is one image ([1, h, w, cOut])
 * whose ReLU mask applies to all n rows of dy (several Grad-CAM targets of one forward).
 */
export type Conv3x3BackwardShape = Conv3x3Shape & {
  /** y has one image, shared by every row of dy and dx (default false: y has n). */
  sharedForward?: boolean;
};

export interface Conv3x3BackwardBuffers {
  dy: GPUBuffer;
  /** The layer's own (post-ReLU) output, for the ReLU mask: n images, or one with sharedForward. */
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
/** Pipeline constants both versions take from the shape. */
const shapeConstants = (s: Conv3x3BackwardShape) => ({ RELU: s.relu, SHARED_FORWARD: s.sharedForward === true });

/**
 * The forward conv3x3BiasRelu's shape and uniform block (relu: mask by the layer's output).
 * Fastest first.
 */
export const conv3x3BackwardInputVersions = [
  kernelVersion<Conv3x3BackwardShape, Conv3x3BackwardBuffers>({
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
    constants: (s) => ({ WORKGROUP_X: UNROLLED_WORKGROUP[0], WORKGROUP_Y: UNROLLED_WORKGROUP[1], ...shapeConstants(s) }),
    params: packConv3x3Params,
    bind,
  }),
  kernelVersion<Conv3x3BackwardShape, Conv3x3BackwardBuffers>({
    name: 'naive',
    reference: true,
    source,
    supports: () => true,
    workgroups: (s) => checkedWorkgroups('conv3x3BackwardInput', [ceilDiv(s.cIn, WORKGROUP), s.w, s.n * s.h]),
    constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, ...shapeConstants(s) }),
    params: packConv3x3Params,
    bind,
  }),
] as const;
