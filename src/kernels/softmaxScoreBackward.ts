import code from './softmaxScoreBackward.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, packU32Params, wgslConstU32, type KernelSource } from './kernel.js';

export type ScoreKind = 'prob' | 'logit';

/**
 * p: [c] probabilities (or [rows, c] with perRowForward) → dz: [rows, c], the gradient of each row's
 * target score w.r.t. the logits.
 */
export interface SoftmaxScoreShape {
  c: number;
  score: ScoreKind;
  /** Target rows (default 1): one gradient per row, over the same forward (or each over its own). */
  rows?: number;
  /**
   * p has one row per target row, each row its own forward (a batch of inputs: SmoothGrad's noisy
   * copies, Integrated Gradients' path points); ranks are resolved on each row's own p. Default false:
   * one p shared by every row.
   */
  perRowForward?: boolean;
}

export interface SoftmaxScoreBuffers {
  /** f32 [c], or [rows, c] with perRowForward. */
  p: GPUBuffer;
  /** f32 [rows, c]: row r's score is Σ_c coef[r, c] · score_c (see packTargetRows). */
  coef: GPUBuffer;
  /** u32 [rows]: a rank (0 = top-1) picks the class on the GPU and overrides the row's coefficients; NOT_RANKED uses them. */
  ranks: GPUBuffer;
  dz: GPUBuffer;
  /** u32 [rows]: the class each ranked row resolved to (NOT_RANKED for coefficient rows). */
  chosen: GPUBuffer;
}

/** The rank value (0xffffffff) meaning "use the row's coefficients", from the shader. */
export const NOT_RANKED = wgslConstU32(code, 'NOT_RANKED');

/** What one row of the backward asks for: the k-th most probable class, or a signed set of classes. */
export type TargetRow = { rank: number } | { classes: readonly number[]; sign: 1 | -1 };

/** The coef and ranks buffers' contents for these rows (c classes each). */
export function packTargetRows(c: number, rows: readonly TargetRow[]): { coef: Float32Array<ArrayBuffer>; ranks: Uint32Array<ArrayBuffer> } {
  const coef = new Float32Array(rows.length * c);
  const ranks = new Uint32Array(rows.length).fill(NOT_RANKED);
  rows.forEach((row, r) => {
    if ('rank' in row) {
      if (!(Number.isInteger(row.rank) && row.rank >= 0 && row.rank < c)) throw new RangeError(`target rank ${row.rank}: must be in 0..${c - 1}`);
      ranks[r] = row.rank;
      return;
    }
    for (const k of row.classes) {
      if (!(Number.isInteger(k) && k >= 0 && k < c)) throw new RangeError(`target class ${k}: must be an integer in 0..${c - 1}`);
      // A class listed twice counts once: the score is the sum over the set.
      coef[r * c + k] = row.sign;
    }
  });
  return { coef, ranks };
}

export function packSoftmaxScoreParams(s: SoftmaxScoreShape): Uint32Array<ArrayBuffer> {
  return packU32Params([s.c, s.rows ?? 1]);
}

const WORKGROUP = 64;
const source: KernelSource = {
  label: 'softmaxScoreBackward',
  code,
  entryPoint: 'softmaxScoreBackward',
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage', 'storage'],
};

export const softmaxScoreBackwardVersions = [
  kernelVersion<SoftmaxScoreShape, SoftmaxScoreBuffers>({
    name: 'direct',
    source,
    supports: (s) => s.c >= 1 && (s.rows ?? 1) >= 1,
    workgroups: (s) => checkedWorkgroups('softmaxScoreBackward', [ceilDiv(s.c, WORKGROUP), s.rows ?? 1, 1]),
    constants: (s) => ({ WORKGROUP_SIZE: WORKGROUP, SCORE_PROB: s.score === 'prob', PER_ROW_FORWARD: s.perRowForward === true }),
    params: packSoftmaxScoreParams,
    bind: (b) => [b.p, b.coef, b.ranks, b.dz, b.chosen],
  }),
] as const;
