import code from './conv3x3BackwardInput.wgsl?raw';
import { packConv3x3Params, type Conv3x3Shape } from './conv3x3BiasRelu.js';
import { ceilDiv, checkedWorkgroups, kernelVersion, type KernelSource } from './kernel.js';

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

/** Same shape and uniform block as the forward conv3x3BiasRelu (relu: mask by the layer's output). */
export const conv3x3BackwardInputVersions = [
  kernelVersion<Conv3x3Shape, Conv3x3BackwardBuffers>({
    name: 'naive',
    source,
    supports: () => true,
    workgroups: (s) => checkedWorkgroups('conv3x3BackwardInput', [ceilDiv(s.cIn, WORKGROUP), s.w, s.n * s.h]),
    constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, RELU: s.relu }),
    params: packConv3x3Params,
    bind: (b) => [b.dy, b.y, b.weights, b.dx],
  }),
] as const;
