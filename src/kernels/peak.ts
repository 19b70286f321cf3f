// Peak probes for the benchmark's "% of peak": memory bandwidth (a vec4 copy) and arithmetic
// throughput (independent vec4 multiply–add chains in registers), measured on the same device.
import copyCode from './peakCopy.wgsl?raw';
import fmaCode from './peakFma.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, packU32Params, wgslConstU32 } from './kernel.js';

export interface PeakCopyShape {
  /** vec4 elements to copy. */
  count: number;
}

const WORKGROUP = 256;
const COPY_WORKGROUPS = 4096;

export const peakCopyVersions = [
  kernelVersion<PeakCopyShape, { x: GPUBuffer; y: GPUBuffer }>({
    name: 'vec4GridStride',
    source: { label: 'peakCopy', code: copyCode, entryPoint: 'peakCopy', bindings: ['uniform', 'read-only-storage', 'storage'] },
    supports: (s) => s.count >= 1,
    workgroups: (s) => checkedWorkgroups('peakCopy', [Math.min(COPY_WORKGROUPS, ceilDiv(s.count, WORKGROUP)), 1, 1]),
    constants: () => ({ WORKGROUP_SIZE: WORKGROUP }),
    params: (s) => packU32Params([s.count, Math.min(COPY_WORKGROUPS, ceilDiv(s.count, WORKGROUP)) * WORKGROUP]),
    bind: (b) => [b.x, b.y],
  }),
] as const;

export interface PeakFmaShape {
  invocations: number;
  iterations: number;
}

/** FLOPs per invocation and step of peakFma (8 chains × 4 lanes × 2), from its shader. */
export const PEAK_FMA_FLOPS_PER_STEP = wgslConstU32(fmaCode, 'FLOPS_PER_STEP');
/** FLOPs of one peakFma dispatch. */
export const peakFmaFlops = (s: PeakFmaShape) => s.invocations * s.iterations * PEAK_FMA_FLOPS_PER_STEP;

export const peakFmaVersions = [
  kernelVersion<PeakFmaShape, { y: GPUBuffer }>({
    name: 'vec4Chains',
    source: { label: 'peakFma', code: fmaCode, entryPoint: 'peakFma', bindings: ['uniform', 'storage'] },
    supports: (s) => s.invocations >= 1 && s.iterations >= 1,
    workgroups: (s) => checkedWorkgroups('peakFma', [ceilDiv(s.invocations, WORKGROUP), 1, 1]),
    constants: () => ({ WORKGROUP_SIZE: WORKGROUP }),
    params: (s) => packU32Params([s.iterations, s.invocations]),
    bind: (b) => [b.y],
  }),
] as const;
