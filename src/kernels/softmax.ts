import code from './softmax.wgsl?raw';
import { checkedWorkgroups, compileKernel, createDispatch, packU32Params, type KernelSource, type KernelVersion } from './kernel.js';

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

const workgroupPerRow: KernelVersion<SoftmaxShape, SoftmaxBuffers> = {
  name: 'workgroupPerRow',
  supports: (s) => s.n >= 1 && s.c >= 1,
  workgroups: (s) => checkedWorkgroups('softmax', [s.n, 1, 1]),
  async prepare(device, s, buf, label = 'softmax') {
    const compiled = await compileKernel(device, source, { WORKGROUP_SIZE: WORKGROUP });
    return createDispatch(device, compiled, label, packSoftmaxParams(s), [buf.x, buf.y], this.workgroups(s));
  },
};

export const softmaxVersions = [workgroupPerRow] as const;
