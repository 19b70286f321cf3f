import code from './softmaxScoreBackward.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, packU32Params, wgslConstU32, type KernelSource } from './kernel.js';

export type ScoreKind = 'prob' | 'logit';

/** p: [c] probabilities → dz: [c], gradient of the score of class `classIndex` w.r.t. the logits. */
export interface SoftmaxScoreShape {
  c: number;
  score: ScoreKind;
  /** TOP_CLASS picks the first maximum of p on the GPU. */
  classIndex: number;
}

export interface SoftmaxScoreBuffers {
  p: GPUBuffer;
  dz: GPUBuffer;
  /** u32[2]: the chosen class is written to stats[0]. */
  stats: GPUBuffer;
}

/** The class index that asks for the top-1 class (0xffffffff), from the shader. */
export const TOP_CLASS = wgslConstU32(code, 'TOP_CLASS');

export function packSoftmaxScoreParams(s: SoftmaxScoreShape): Uint32Array<ArrayBuffer> {
  return packU32Params([s.c, s.classIndex]);
}

const WORKGROUP = 64;
const source: KernelSource = {
  label: 'softmaxScoreBackward',
  code,
  entryPoint: 'softmaxScoreBackward',
  bindings: ['uniform', 'read-only-storage', 'storage', 'storage'],
};

export const softmaxScoreBackwardVersions = [
  kernelVersion<SoftmaxScoreShape, SoftmaxScoreBuffers>({
    name: 'direct',
    source,
    supports: (s) => s.c >= 1 && (s.classIndex === TOP_CLASS || s.classIndex < s.c),
    workgroups: (s) => checkedWorkgroups('softmaxScoreBackward', [ceilDiv(s.c, WORKGROUP), 1, 1]),
    constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, SCORE_PROB: s.score === 'prob' }),
    params: packSoftmaxScoreParams,
    bind: (b) => [b.p, b.dz, b.stats],
  }),
] as const;
