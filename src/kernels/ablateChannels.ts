import code from './ablateChannels.wgsl?raw';
import { ceilDiv, checkedWorkgroups, kernelVersion, packU32Params, type KernelSource } from './kernel.js';

/** a: [positions, channels] → x: [rows, positions, channels], row r with channel k0 + r zeroed. */
export interface AblateShape {
  rows: number;
  positions: number;
  channels: number;
  /** The channel row 0 ablates (rows past the last channel are copies). */
  k0: number;
}

export interface AblateBuffers {
  /** The target layer's activations (batch 1). */
  a: GPUBuffer;
  /** The batched tail network's input. */
  x: GPUBuffer;
}

export const packAblateParams = (s: AblateShape) => packU32Params([s.rows, s.positions, s.channels, s.k0]);

const WORKGROUP = 256;
const source: KernelSource = { label: 'ablateChannels', code, entryPoint: 'ablateChannels', bindings: ['uniform', 'read-only-storage', 'storage'] };

export const ablateChannelsVersions = [
  kernelVersion<AblateShape, AblateBuffers>({
    name: 'direct',
    source,
    supports: (s) => s.rows >= 1 && s.positions >= 1 && s.channels >= 1,
    workgroups: (s) => checkedWorkgroups('ablateChannels', [ceilDiv(s.positions * s.channels, WORKGROUP), s.rows, 1]),
    constants: () => ({ WORKGROUP_SIZE: WORKGROUP }),
    params: packAblateParams,
    bind: (b) => [b.a, b.x],
  }),
] as const;
