// Which kernels a planned op (conv3x3, maxpool2x2, dense, softmax) runs, forward and backward, with every
// version that supports its shape (and weight format: the f16 versions take packed float16 weights only):
// the one table the network, the Grad-CAM backward pass, the tuner and the benchmark read, so a new
// kernel version is picked up by all of them at once. Kernels outside a plan's ops (preprocessImage,
// packHalf, softmaxScoreBackward, the CAM and overlay kernels, the benchmark's peak probes) have one
// version each and are called directly.
import { conv3x3BackwardInputVersions } from '../kernels/conv3x3BackwardInput.js';
import { conv3x3BiasReluVersions, type Conv3x3Shape } from '../kernels/conv3x3BiasRelu.js';
import { denseBackwardInputVersions } from '../kernels/denseBackwardInput.js';
import { denseBiasActVersions, type DenseShape } from '../kernels/denseBiasAct.js';
import { hasFeatures, type Dispatch, type KernelVersion } from '../kernels/kernel.js';
import { maxPool2x2Versions, type MaxPool2x2Shape } from '../kernels/maxPool2x2.js';
import { maxPool2x2BackwardVersions } from '../kernels/maxPool2x2Backward.js';
import { softmaxVersions } from '../kernels/softmax.js';
import type { Op } from './plan.js';

export type Direction = 'forward' | 'backward';

/** One version of a kernel bound to one shape; buffers by the kernel's binding names. */
export interface KernelCandidate {
  version: string;
  reference: boolean;
  /** Device features it needs (already present on the device the op kernel was made for). */
  features: readonly GPUFeatureName[];
  /** Staged in workgroup memory (KernelVersion.workgroupTiled): not tuned on a software adapter. */
  workgroupTiled: boolean;
  prepare(device: GPUDevice, buffers: Record<string, GPUBuffer>, label?: string): Promise<Dispatch>;
}

export interface OpKernel {
  kernel: string;
  direction: Direction;
  layer: string;
  /** The op's shape, e.g. '56×56×256→256'; `${kernel}|${shape}` keys a tuning choice. */
  shape: string;
  flops: number;
  /** What limits it: arithmetic (convolutions) or memory traffic (everything else). */
  bound: 'compute' | 'memory';
  /** Floats per binding, by the names of the kernel's buffers object. */
  buffers: Record<string, number>;
  /** The versions that support the shape, in the kernel's default order (fastest on SwiftShader first). */
  candidates: KernelCandidate[];
}

export const choiceKey = (kernel: string, shape: string) => `${kernel}|${shape}`;

/** Every kernel with versions, by name: what a tuning table is valid for (kernelSetSignature). */
const KERNEL_VERSIONS = {
  conv3x3BiasRelu: conv3x3BiasReluVersions,
  conv3x3BackwardInput: conv3x3BackwardInputVersions,
  denseBiasAct: denseBiasActVersions,
  denseBackwardInput: denseBackwardInputVersions,
  maxPool2x2: maxPool2x2Versions,
  maxPool2x2Backward: maxPool2x2BackwardVersions,
  softmax: softmaxVersions,
} as const;

/**
 * Uninitialised storage buffers of an op kernel's sizes, for timing it (tuning and the benchmark);
 * `bytes` is what one run reads and writes.
 */
export function scratchBuffers(device: GPUDevice, k: OpKernel, label: string): { buffers: Record<string, GPUBuffer>; bytes: number; destroy(): void } {
  const buffers: Record<string, GPUBuffer> = {};
  let bytes = 0;
  for (const [name, floats] of Object.entries(k.buffers)) {
    buffers[name] = device.createBuffer({ label: `${label} ${name}`, size: Math.max(16, 4 * floats), usage: GPUBufferUsage.STORAGE });
    bytes += 4 * floats;
  }
  return { buffers, bytes, destroy: () => Object.values(buffers).forEach((b) => b.destroy()) };
}

function candidates<S, B>(versions: readonly KernelVersion<S, B>[], shape: S, features: ReadonlySet<string> | undefined): KernelCandidate[] {
  return versions
    .filter((v) => v.supports(shape) && hasFeatures(features, v.features))
    .map((v) => ({
      version: v.name,
      reference: v.reference,
      features: v.features,
      workgroupTiled: v.workgroupTiled,
      // The buffers object is built from `buffers` below, whose names are the kernel's own.
      prepare: (device, buffers, label) => v.prepare(device, shape, buffers as unknown as B, label),
    }));
}

export const convShapeLabel = (s: Conv3x3Shape) => `${s.n > 1 ? `${s.n}×` : ''}${s.h}×${s.w}×${s.cIn}→${s.cOut}`;
export const poolShapeLabel = (s: MaxPool2x2Shape) => `${s.n > 1 ? `${s.n}×` : ''}${s.h}×${s.w}×${s.c}`;
export const denseShapeLabel = (s: DenseShape) => `${s.n > 1 ? `${s.n}×` : ''}${s.k}→${s.m}${s.weightsF16 ? ' f16' : ''}`;

/**
 * A smaller problem with the same per-element behaviour, for tuning: conv rows cut to 2 (a row's
 * work and access pattern do not depend on the image height), dense K cut to 2048 (the weight rows
 * keep their length M, which sets the access pattern). Labels and keys stay those of the full shape.
 */
const reducedConv = (s: Conv3x3Shape): Conv3x3Shape => ({ ...s, n: 1, h: Math.min(s.h, 2) });
const reducedDense = (s: DenseShape): DenseShape => ({ ...s, n: 1, k: Math.min(s.k, 2048) });

export interface OpKernelOptions {
  /** The tuner's reduced problem (see reducedConv). */
  reduce?: boolean;
  /** The device's features (device.features): versions needing others are not candidates. Without it, no feature-dependent version is. */
  features?: ReadonlySet<string>;
}

/** The kernel of an op in one direction; undefined where that direction has no kernel (softmax backward is the score's). */
export function opKernel(op: Op, direction: Direction, options: OpKernelOptions = {}): OpKernel | undefined {
  const base = { direction, layer: op.layer };
  const f = options.features;
  switch (op.kind) {
    case 'conv3x3': {
      const s = options.reduce ? reducedConv(op.shape) : op.shape;
      const pixels = s.n * s.h * s.w;
      const flops = 2 * pixels * s.cIn * s.cOut * 9;
      const common = { ...base, shape: convShapeLabel(op.shape), flops, bound: 'compute' as const };
      return direction === 'forward'
        ? { ...common, kernel: 'conv3x3BiasRelu', buffers: { x: pixels * s.cIn, weights: 9 * s.cIn * s.cOut, bias: s.cOut, y: pixels * s.cOut }, candidates: candidates(conv3x3BiasReluVersions, s, f) }
        : { ...common, kernel: 'conv3x3BackwardInput', buffers: { dy: pixels * s.cOut, y: pixels * s.cOut, weights: 9 * s.cIn * s.cOut, dx: pixels * s.cIn }, candidates: candidates(conv3x3BackwardInputVersions, s, f) };
    }
    case 'maxpool2x2': {
      const s = op.shape;
      const n = s.n * s.h * s.w * s.c;
      const out = s.n * Math.floor(s.h / 2) * Math.floor(s.w / 2) * s.c;
      const common = { ...base, shape: poolShapeLabel(s), flops: 0, bound: 'memory' as const };
      return direction === 'forward'
        ? { ...common, kernel: 'maxPool2x2', buffers: { x: n, y: out }, candidates: candidates(maxPool2x2Versions, s, f) }
        : { ...common, kernel: 'maxPool2x2Backward', buffers: { dy: out, x: n, dx: n }, candidates: candidates(maxPool2x2BackwardVersions, s, f) };
    }
    case 'dense': {
      const s = options.reduce ? reducedDense(op.shape) : op.shape;
      const common = { ...base, shape: denseShapeLabel(op.shape), flops: 2 * s.n * s.k * s.m, bound: 'memory' as const };
      // Buffer sizes are in float32 units; packed float16 weights take half.
      const weights = s.weightsF16 ? Math.ceil((s.k * s.m) / 2) : s.k * s.m;
      return direction === 'forward'
        ? { ...common, kernel: 'denseBiasAct', buffers: { x: s.n * s.k, weights, bias: s.m, y: s.n * s.m }, candidates: candidates(denseBiasActVersions, s, f) }
        : { ...common, kernel: 'denseBackwardInput', buffers: { dy: s.n * s.m, y: s.n * s.m, weights, dx: s.n * s.k }, candidates: candidates(denseBackwardInputVersions, s, f) };
    }
    case 'softmax':
      if (direction === 'backward') return undefined;
      return { ...base, kernel: 'softmax', shape: `${op.shape.n > 1 ? `${op.shape.n}×` : ''}${op.shape.c}`, flops: 0, bound: 'memory', buffers: { x: op.shape.n * op.shape.c, y: op.shape.n * op.shape.c }, candidates: candidates(softmaxVersions, op.shape, f) };
  }
}

/** Version names chosen per `${kernel}|${shape}`, by tuning on one adapter. */
export type Choices = Readonly<Record<string, string>>;

/**
 * The candidate to run: the named version if one is forced (it must support the shape), else the tuned
 * choice when it is still a candidate, else the first (the kernel's default order).
 */
export function chooseCandidate(k: OpKernel, forced?: string, choices?: Choices): KernelCandidate {
  if (forced !== undefined) {
    const c = k.candidates.find((v) => v.version === forced);
    if (!c) throw new Error(`${k.kernel}: no version named '${forced}' supports ${k.layer} (${k.shape}); have: ${k.candidates.map((v) => v.version).join(', ')}`);
    return c;
  }
  const tuned = choices?.[choiceKey(k.kernel, k.shape)];
  const c = k.candidates.find((v) => v.version === tuned) ?? k.candidates[0];
  if (!c) throw new Error(`${k.kernel}: no version supports ${k.layer} (${k.shape})`);
  return c;
}

/** Every version of every kernel with a choice, e.g. 'conv3x3BiasRelu:blocked,unrolled,tiled,naive;…'. */
export function kernelSetSignature(): string {
  return Object.entries(KERNEL_VERSIONS)
    .map(([k, vs]) => `${k}:${vs.map((v: { name: string }) => v.name).join(',')}`)
    .join(';');
}
