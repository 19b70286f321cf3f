import code from './preprocessImageBackward.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, packU32Params, type KernelSource } from './kernel.js';

/**
 * The backward of preprocessImage's 'caffe' step (RGB → BGR, minus the ImageNet means) for `rows`
 * gradients w.r.t. the model input, summed with per-row weights into one gradient w.r.t. the RGB image
 * at the model's size (0..255 units).
 */
export interface PreprocessBackwardShape {
  /** Pixels of the model input, H·W. */
  pixels: number;
  /** Rows of g (and of rowWeights), ≥ 1. */
  rows: number;
  /** Add to out instead of overwriting it (a batch summed over several submissions). */
  accumulate: boolean;
}

export interface PreprocessBackwardBuffers {
  /** f32 [rows, pixels, 3], B, G, R: the gradient w.r.t. the preprocessed input. */
  g: GPUBuffer;
  /** f32 [rows]: each row's weight in the sum (1/N for SmoothGrad's N samples). */
  rowWeights: GPUBuffer;
  /** f32 [pixels, 3], R, G, B: the gradient w.r.t. the image; read too when accumulate. */
  out: GPUBuffer;
}

export function packPreprocessBackwardParams(s: PreprocessBackwardShape): Uint32Array<ArrayBuffer> {
  return packU32Params([s.pixels, s.rows]);
}

const WORKGROUP = 64;
const source: KernelSource = {
  label: 'preprocessImageBackward',
  code,
  entryPoint: 'preprocessImageBackward',
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'storage'],
};

export const preprocessImageBackwardVersions = [
  kernelVersion<PreprocessBackwardShape, PreprocessBackwardBuffers>({
    name: 'perPixel',
    source,
    supports: (s) => s.pixels >= 1 && s.rows >= 1,
    workgroups: (s) => checkedWorkgroups('preprocessImageBackward', [ceilDiv(s.pixels, WORKGROUP), 1, 1]),
    constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, ACCUMULATE: s.accumulate }),
    params: packPreprocessBackwardParams,
    bind: (b) => [b.g, b.rowWeights, b.out],
  }),
] as const;
