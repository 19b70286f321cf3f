// The CAM family's helper kernels around gradcamHeatmap: the per-channel terms for eigen-smoothing,
// the ReLU/÷max of maps made elsewhere, the resize-and-average of several maps (layers, augmentations)
// and aug-smooth's input augmentation.
import accumulateCode from './camAccumulate.wgsl?raw';
import normalizeCode from './camNormalize.wgsl?raw';
import termsCode from './camTerms.wgsl?raw';
import augmentCode from './augmentInput.wgsl?raw';
import { MAP_TERMS, type GradcamShape, type MapTerm } from './gradcam.js';
import { ceilDiv, checkedWorkgroups, f32Bits, kernelVersion, packU32Params } from './kernel.js';

const rowsOf = (s: { rows?: number }) => s.rows ?? 1;

// ---------------------------------------------------------------- camTerms

export interface CamTermsShape extends GradcamShape {
  term: MapTerm;
}

export interface CamTermsBuffers {
  activations: GPUBuffer;
  grad: GPUBuffer;
  alpha: GPUBuffer;
  /** [rows, positions, channels]. */
  terms: GPUBuffer;
}

const TERMS_WORKGROUP = 256;
export const camTermsVersions = [
  kernelVersion<CamTermsShape, CamTermsBuffers>({
    name: 'direct',
    source: { label: 'camTerms', code: termsCode, entryPoint: 'camTerms', bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'] },
    supports: (s) => s.positions >= 1 && s.channels >= 1 && rowsOf(s) >= 1,
    workgroups: (s) => checkedWorkgroups('camTerms', [ceilDiv(s.positions * s.channels, TERMS_WORKGROUP), rowsOf(s), 1]),
    constants: (s) => ({ WORKGROUP_SIZE: TERMS_WORKGROUP, TERM: MAP_TERMS.indexOf(s.term) }),
    params: (s) => packU32Params([s.positions, s.channels, rowsOf(s)]),
    bind: (b) => [b.activations, b.grad, b.alpha, b.terms],
  }),
] as const;

// ---------------------------------------------------------------- camNormalize

export interface CamNormalizeShape {
  positions: number;
  rows?: number;
}

export interface CamNormalizeBuffers {
  raw: GPUBuffer;
  heat: GPUBuffer;
  stats: GPUBuffer;
}

const NORMALIZE_WORKGROUP = 256;
export const camNormalizeVersions = [
  kernelVersion<CamNormalizeShape, CamNormalizeBuffers>({
    name: 'singleWorkgroup',
    source: { label: 'camNormalize', code: normalizeCode, entryPoint: 'camNormalize', bindings: ['uniform', 'read-only-storage', 'storage', 'storage'] },
    supports: (s) => s.positions >= 1 && rowsOf(s) >= 1,
    workgroups: (s) => checkedWorkgroups('camNormalize', [1, rowsOf(s), 1]),
    constants: () => ({ WORKGROUP_SIZE: NORMALIZE_WORKGROUP }),
    params: (s) => packU32Params([s.positions]),
    bind: (b) => [b.raw, b.heat, b.stats],
  }),
] as const;

// ---------------------------------------------------------------- camAccumulate

export interface CamAccumulateShape {
  srcW: number;
  srcH: number;
  dstW: number;
  dstH: number;
  rows?: number;
  scale: number;
  flipX?: boolean;
  /** false: overwrite the accumulator (the first map of an average). */
  accumulate?: boolean;
}

export interface CamAccumulateBuffers {
  src: GPUBuffer;
  /** packResizeTable({ srcW, srcH, dstW, dstH, method: 'bilinear' }). */
  table: GPUBuffer;
  acc: GPUBuffer;
}

const ACCUMULATE_WORKGROUP: readonly [number, number] = [8, 8];
export const camAccumulateVersions = [
  kernelVersion<CamAccumulateShape, CamAccumulateBuffers>({
    name: 'direct',
    source: { label: 'camAccumulate', code: accumulateCode, entryPoint: 'camAccumulate', bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'storage'] },
    supports: (s) => s.srcW >= 1 && s.srcH >= 1 && s.dstW >= 1 && s.dstH >= 1 && rowsOf(s) >= 1,
    workgroups: (s) => checkedWorkgroups('camAccumulate', [ceilDiv(s.dstW, ACCUMULATE_WORKGROUP[0]), ceilDiv(s.dstH, ACCUMULATE_WORKGROUP[1]), rowsOf(s)]),
    constants: (s) => ({ WORKGROUP_X: ACCUMULATE_WORKGROUP[0], WORKGROUP_Y: ACCUMULATE_WORKGROUP[1], FLIP_X: s.flipX ?? false, ACCUMULATE: s.accumulate ?? true }),
    params: (s) => packU32Params([s.srcW, s.srcH, s.dstW, s.dstH, f32Bits(s.scale)]),
    bind: (b) => [b.src, b.table, b.acc],
  }),
] as const;

// ---------------------------------------------------------------- augmentInput

export interface AugmentInputShape {
  w: number;
  h: number;
  c: number;
  factor: number;
  flipX: boolean;
}

export interface AugmentInputBuffers {
  x: GPUBuffer;
  y: GPUBuffer;
}

const AUGMENT_WORKGROUP: readonly [number, number] = [8, 8];
export const augmentInputVersions = [
  kernelVersion<AugmentInputShape, AugmentInputBuffers>({
    name: 'direct',
    source: { label: 'augmentInput', code: augmentCode, entryPoint: 'augmentInput', bindings: ['uniform', 'read-only-storage', 'storage'] },
    supports: (s) => s.w >= 1 && s.h >= 1 && s.c >= 1,
    workgroups: (s) => checkedWorkgroups('augmentInput', [ceilDiv(s.w, AUGMENT_WORKGROUP[0]), ceilDiv(s.h, AUGMENT_WORKGROUP[1]), 1]),
    constants: (s) => ({ WORKGROUP_X: AUGMENT_WORKGROUP[0], WORKGROUP_Y: AUGMENT_WORKGROUP[1], FLIP_X: s.flipX }),
    params: (s) => packU32Params([s.w, s.h, s.c, f32Bits(s.factor)]),
    bind: (b) => [b.x, b.y],
  }),
] as const;
