import code from './channelScoreWeights.wgsl?raw';
import { kernelVersion, packU32Params, wgslConstU32, type KernelSource } from './kernel.js';

/** scores: [channels (+ 1: the unperturbed score, ablation)] → w: [channels]; see channelScoreWeights.wgsl. */
export interface ChannelScoreWeightsShape {
  channels: number;
  /** AblationCAM's (s − s_k) / s; otherwise Score-CAM's softmax over k. */
  ablation: boolean;
}

export interface ChannelScoreWeightsBuffers {
  scores: GPUBuffer;
  w: GPUBuffer;
  /** u32[2]: bits of s (ablation), flags (STATS_FLAGS). */
  stats: GPUBuffer;
}

/** Bits of stats[1], from the shader. */
export const STATS_FLAGS = {
  /** AblationCAM: the unperturbed score is 0 or not finite, so every weight was set to 0. */
  scoreUnusable: wgslConstU32(code, 'S_UNUSABLE'),
  /** Some perturbed score is NaN or infinite. */
  scoreNotFinite: wgslConstU32(code, 'SCORE_NOT_FINITE'),
} as const;

export const packChannelScoreWeightsParams = (s: ChannelScoreWeightsShape) => packU32Params([s.channels]);

/** 256 invocations is WebGPU's guaranteed maxComputeInvocationsPerWorkgroup. */
const WORKGROUP = 256;
const source: KernelSource = {
  label: 'channelScoreWeights',
  code,
  entryPoint: 'channelScoreWeights',
  bindings: ['uniform', 'read-only-storage', 'storage', 'storage'],
};

export const channelScoreWeightsVersions = [
  kernelVersion<ChannelScoreWeightsShape, ChannelScoreWeightsBuffers>({
    name: 'singleWorkgroup',
    source,
    supports: (s) => s.channels >= 1,
    workgroups: () => [1, 1, 1],
    constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, ABLATION: s.ablation }),
    params: packChannelScoreWeightsParams,
    bind: (b) => [b.scores, b.w, b.stats],
  }),
] as const;
