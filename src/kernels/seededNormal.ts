import code from './seededNormal.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, MAX_WORKGROUPS_PER_DIMENSION, packU32Params, f32Bits, type Dispatch, type KernelSource } from './kernel.js';

/** out[offset + i] = mean + std · z(seed, i) for i < count (see seededNormal.wgsl). */
export interface SeededNormalShape {
  count: number;
  /** Where element 0 goes in `out` (default 0). The values do not depend on it. */
  offset?: number;
}

export interface SeededNormalBuffers {
  /** f32, at least offset + count elements; STORAGE usage. */
  out: GPUBuffer;
}

/** What changes per call, written into a prepared dispatch's uniform block (see packSeededNormalParams). */
export interface SeededNormalParams {
  /** A u32: 0 … 2^32 − 1. */
  seed: number;
  mean: number;
  std: number;
}

const WORKGROUP = 256;
const source: KernelSource = { label: 'seededNormal', code, entryPoint: 'seededNormal', bindings: ['uniform', 'storage'] };

/** Workgroups for count values: one invocation per pair, x capped at 65535 and the rest in y. */
export function seededNormalGrid(s: SeededNormalShape): [number, number, number] {
  const groups = ceilDiv(Math.ceil(s.count / 2), WORKGROUP);
  const x = Math.min(groups, MAX_WORKGROUPS_PER_DIMENSION);
  return checkedWorkgroups('seededNormal', [x, ceilDiv(groups, x), 1]);
}

const supports = (s: SeededNormalShape) =>
  Number.isInteger(s.count) && s.count >= 1 && Number.isInteger(s.offset ?? 0) && (s.offset ?? 0) >= 0 && (s.offset ?? 0) + s.count <= 0xffffffff;

/**
 * The uniform block: count, offset, grid width (invocations per grid row), seed, mean, std. Write it
 * into a prepared dispatch's `params` buffer to draw another seed, mean or std with the same dispatch:
 * `device.queue.writeBuffer(d.params, 0, packSeededNormalParams(shape, { seed, mean, std }))`.
 */
export function packSeededNormalParams(s: SeededNormalShape, { seed, mean, std }: SeededNormalParams): Uint32Array<ArrayBuffer> {
  if (!supports(s)) throw new RangeError(`seededNormal: count ${s.count} at offset ${s.offset ?? 0} is not a u32 range of at least one element`);
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new RangeError(`seededNormal: seed ${seed} is not a u32`);
  if (!Number.isFinite(mean) || !Number.isFinite(std)) throw new RangeError(`seededNormal: mean ${mean} and std ${std} must be finite`);
  return packU32Params([s.count, s.offset ?? 0, seededNormalGrid(s)[0] * WORKGROUP, seed, f32Bits(mean), f32Bits(std)]);
}

/** Rewrites a prepared seededNormal dispatch's parameters (takes effect at the next submit). */
export function setSeededNormalParams(device: GPUDevice, d: Dispatch, s: SeededNormalShape, params: SeededNormalParams): void {
  device.queue.writeBuffer(d.params, 0, packSeededNormalParams(s, params));
}

export const seededNormalVersions = [
  kernelVersion<SeededNormalShape, SeededNormalBuffers>({
    name: 'pcg3dBoxMuller',
    source,
    supports,
    workgroups: seededNormalGrid,
    constants: () => ({ WORKGROUP_SIZE: WORKGROUP }),
    // Prepared as a standard normal with seed 0; callers rewrite the block per call.
    params: (s) => packSeededNormalParams(s, { seed: 0, mean: 0, std: 1 }),
    bind: (b) => [b.out],
  }),
] as const;
