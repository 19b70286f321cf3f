import code from './scoreCamMasks.wgsl?raw';
import { checkedWorkgroups, kernelVersion, packU32Params, type KernelSource } from './kernel.js';

/**
 * a: [srcH, srcW, channels] → x: [rows, dstH, dstW, inChannels], row r = input · the min–max
 * normalised align-corners bilinear upsampling of channel k0 + r (see scoreCamMasks.wgsl).
 */
export interface ScoreCamMaskShape {
  rows: number;
  k0: number;
  channels: number;
  srcH: number;
  srcW: number;
  dstH: number;
  dstW: number;
  inChannels: number;
}

export interface ScoreCamMaskBuffers {
  /** The target layer's activations (batch 1). */
  a: GPUBuffer;
  /** The preprocessed model input (batch 1). */
  input: GPUBuffer;
  /** The batched network's input. */
  x: GPUBuffer;
}

export const packScoreCamMaskParams = (s: ScoreCamMaskShape) =>
  packU32Params([s.rows, s.k0, s.channels, s.srcH, s.srcW, s.dstH, s.dstW, s.inChannels]);

/** 256 invocations is WebGPU's guaranteed maxComputeInvocationsPerWorkgroup. */
const WORKGROUP = 256;
const source: KernelSource = {
  label: 'scoreCamMasks',
  code,
  entryPoint: 'scoreCamMasks',
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'storage'],
};

export const scoreCamMasksVersions = [
  kernelVersion<ScoreCamMaskShape, ScoreCamMaskBuffers>({
    name: 'workgroupPerRow',
    source,
    supports: (s) => s.rows >= 1 && s.channels >= 1 && s.srcH >= 1 && s.srcW >= 1 && s.dstH >= 1 && s.dstW >= 1 && s.inChannels >= 1,
    workgroups: (s) => checkedWorkgroups('scoreCamMasks', [s.rows, 1, 1]),
    constants: () => ({ WORKGROUP_SIZE: WORKGROUP }),
    params: packScoreCamMaskParams,
    bind: (b) => [b.a, b.input, b.x],
  }),
] as const;
