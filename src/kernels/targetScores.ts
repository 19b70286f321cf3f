import code from './targetScores.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, packU32Params, type KernelSource } from './kernel.js';

/** y: [rows, classes] · t: [classes] → scores[k0 + r] for r < min(rows, valid). */
export interface TargetScoresShape {
  rows: number;
  classes: number;
  k0: number;
  valid: number;
}

export interface TargetScoresBuffers {
  /** Probabilities or logits of a (batched) forward. */
  y: GPUBuffer;
  /** Target coefficients, f32[classes] (see packTargetCoefficients). */
  t: GPUBuffer;
  scores: GPUBuffer;
}

export const packTargetScoresParams = (s: TargetScoresShape) => packU32Params([s.rows, s.classes, s.k0, s.valid]);

/** t: `sign` on each target class, 0 elsewhere. Classes must be distinct integers in 0..classes − 1. */
export function packTargetCoefficients(classes: number, targets: readonly number[], sign: 1 | -1): Float32Array<ArrayBuffer> {
  const t = new Float32Array(classes);
  for (const c of targets) {
    if (!(Number.isInteger(c) && c >= 0 && c < classes)) throw new RangeError(`target class ${c}: must be an integer in 0..${classes - 1}`);
    if (t[c] !== 0) throw new RangeError(`target class ${c} is listed twice`);
    t[c] = sign;
  }
  return t;
}

const WORKGROUP = 64;
const source: KernelSource = {
  label: 'targetScores',
  code,
  entryPoint: 'targetScores',
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'storage'],
};

export const targetScoresVersions = [
  kernelVersion<TargetScoresShape, TargetScoresBuffers>({
    name: 'direct',
    source,
    supports: (s) => s.rows >= 1 && s.classes >= 1,
    workgroups: (s) => checkedWorkgroups('targetScores', [ceilDiv(s.rows, WORKGROUP), 1, 1]),
    constants: () => ({ WORKGROUP_SIZE: WORKGROUP }),
    params: packTargetScoresParams,
    bind: (b) => [b.y, b.t, b.scores],
  }),
] as const;
