import code from './softmax.wgsl?raw';
import { checkedWorkgroups, kernelVersion, packU32Params, type KernelSource } from './kernel.js';

/** x: [n, c] → y: [n, c], softmax over c. */
export interface SoftmaxShape {
  n: number;
  c: number;
}

export interface SoftmaxBuffers {
  x: GPUBuffer;
  y: GPUBuffer;
}

export function packSoftmaxParams(s: SoftmaxShape): Uint32Array<ArrayBuffer> {
  return packU32Params([s.n, s.c]);
}

/** 256 invocations is WebGPU's guaranteed maxComputeInvocationsPerWorkgroup. */
const WORKGROUP = 256;
const source: KernelSource = {
  label: 'softmax',
  code,
  entryPoint: 'softmax',
  bindings: ['uniform', 'read-only-storage', 'storage'],
};

const workgroupPerRow = kernelVersion<SoftmaxShape, SoftmaxBuffers>({
  name: 'workgroupPerRow',
  source,
  supports: (s) => s.n >= 1 && s.c >= 1,
  workgroups: (s) => checkedWorkgroups('softmax', [s.n, 1, 1]),
  constants: () => ({ WORKGROUP_SIZE: WORKGROUP }),
  params: packSoftmaxParams,
  bind: (b) => [b.x, b.y],
});

export const softmaxVersions = [workgroupPerRow] as const;
