// From a model spec to GPU work: the list of passes (ops) with their tensors, and a buffer plan that
// lets tensors whose lifetimes do not overlap share one GPU buffer.
import type { Conv3x3Shape } from '../kernels/conv3x3BiasRelu.js';
import type { DenseShape } from '../kernels/denseBiasAct.js';
import type { MaxPool2x2Shape } from '../kernels/maxPool2x2.js';
import type { SoftmaxShape } from '../kernels/softmax.js';
import { elementCount, inferShapes, type ModelSpec } from './model.js';

export const INPUT_TENSOR = 'input';

export interface TensorDesc {
  name: string;
  shape: number[];
  /** Set for views that share another tensor's memory (Keras' Flatten of an NHWC tensor). */
  aliasOf?: string;
}

interface OpBase {
  /** The Keras layer this pass belongs to. */
  layer: string;
  input: string;
  output: string;
}

export type Op =
  | (OpBase & { kind: 'conv3x3'; shape: Conv3x3Shape; weights: string; bias: string })
  | (OpBase & { kind: 'maxpool2x2'; shape: MaxPool2x2Shape })
  | (OpBase & { kind: 'dense'; shape: DenseShape; weights: string; bias: string })
  | (OpBase & { kind: 'softmax'; shape: SoftmaxShape });

export interface ForwardPlan {
  /** Images per forward; tensor shapes are per image, buffers hold `batch` of them. */
  batch: number;
  tensors: Map<string, TensorDesc>;
  ops: Op[];
  /** The network's final output (probabilities for VGG). */
  output: string;
}

/** The pre-softmax tensor of a dense layer with softmax activation. */
export const logitsTensor = (layer: string) => `${layer}/logits`;

/** `denseWeightsF16`: the dense layers read float16 weights (packed by packHalf); convs stay float32. */
export function planForward(model: ModelSpec, batch = 1, options: { denseWeightsF16?: boolean } = {}): ForwardPlan {
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch ${batch}: must be a positive integer`);
  const n = batch;
  const tensors = new Map<string, TensorDesc>();
  const ops: Op[] = [];
  tensors.set(INPUT_TENSOR, { name: INPUT_TENSOR, shape: [...model.inputShape] });
  let current = INPUT_TENSOR;
  for (const { layer, input, output } of inferShapes(model)) {
    const base = { layer: layer.name, input: current, output: layer.name };
    switch (layer.kind) {
      case 'conv3x3':
        ops.push({
          ...base,
          kind: 'conv3x3',
          shape: { n, h: input[0], w: input[1], cIn: input[2], cOut: layer.filters, relu: true },
          weights: `${layer.name}/kernel`,
          bias: `${layer.name}/bias`,
        });
        tensors.set(layer.name, { name: layer.name, shape: output });
        break;
      case 'maxpool2x2':
        ops.push({ ...base, kind: 'maxpool2x2', shape: { n, h: input[0], w: input[1], c: input[2] } });
        tensors.set(layer.name, { name: layer.name, shape: output });
        break;
      case 'flatten':
        // NHWC memory already is Keras' H, W, C flatten order: a view, no pass.
        tensors.set(layer.name, { name: layer.name, shape: output, aliasOf: current });
        break;
      case 'dense': {
        const softmax = layer.activation === 'softmax';
        const denseOut = softmax ? logitsTensor(layer.name) : layer.name;
        ops.push({
          ...base,
          output: denseOut,
          kind: 'dense',
          shape: { n, k: input[0], m: layer.units, relu: layer.activation === 'relu', ...(options.denseWeightsF16 ? { weightsF16: true } : {}) },
          weights: `${layer.name}/kernel`,
          bias: `${layer.name}/bias`,
        });
        tensors.set(denseOut, { name: denseOut, shape: output });
        if (softmax) {
          ops.push({ layer: layer.name, input: denseOut, output: layer.name, kind: 'softmax', shape: { n, c: layer.units } });
          tensors.set(layer.name, { name: layer.name, shape: output });
        }
        break;
      }
    }
    current = layer.name;
  }
  return { batch, tensors, ops, output: current };
}

export interface Lifetime {
  name: string;
  bytes: number;
  /** Step that writes it. */
  first: number;
  /** Last step that reads it (= first if nothing does). */
  last: number;
  aliasOf?: string;
}

export interface BufferPlan {
  /** Size of each shared buffer in bytes. */
  slotBytes: number[];
  slotOf: Map<string, number>;
}

/** Lifetimes of a forward plan's tensors: the input is written at step 0, op i writes at step i + 1. */
export function forwardLifetimes(plan: ForwardPlan): Lifetime[] {
  const first = new Map<string, number>([[INPUT_TENSOR, 0]]);
  const last = new Map<string, number>([[INPUT_TENSOR, 0]]);
  plan.ops.forEach((op, i) => {
    first.set(op.output, i + 1);
    last.set(op.output, Math.max(last.get(op.output) ?? 0, i + 1));
    last.set(op.input, Math.max(last.get(op.input) ?? 0, i + 1));
  });
  return [...plan.tensors.values()].map((t) => {
    const root = t.aliasOf ?? t.name;
    const f = t.aliasOf ? (first.get(root) ?? 0) : (first.get(t.name) ?? 0);
    return { name: t.name, bytes: 4 * plan.batch * elementCount(t.shape), first: f, last: Math.max(last.get(t.name) ?? f, f), aliasOf: t.aliasOf };
  });
}

/**
 * Greedy interval allocation: tensors in order of first write; a buffer becomes free after the last
 * step that reads its tensor (not during it, since a pass reads its input while writing its output);
 * a free buffer is reused best-fit, grown if none is large enough. Aliases share their root's buffer
 * and extend its lifetime. Kept tensors are never released (Grad-CAM and readbacks need them).
 */
export function assignBuffers(lifetimes: readonly Lifetime[], keep: ReadonlySet<string> = new Set()): BufferPlan {
  const byName = new Map(lifetimes.map((l) => [l.name, l]));
  const rootOf = (name: string): string => {
    let l = byName.get(name);
    while (l?.aliasOf) l = byName.get(l.aliasOf);
    if (!l) throw new Error(`buffer plan: tensor '${name}' aliases an unknown tensor`);
    return l.name;
  };
  const groups = new Map<string, { first: number; last: number; bytes: number; kept: boolean; members: string[] }>();
  for (const l of lifetimes) {
    const root = rootOf(l.name);
    const r = byName.get(root)!;
    const g = groups.get(root) ?? { first: r.first, last: r.last, bytes: r.bytes, kept: false, members: [] };
    g.last = Math.max(g.last, l.last);
    g.bytes = Math.max(g.bytes, l.bytes);
    g.kept ||= keep.has(l.name);
    g.members.push(l.name);
    groups.set(root, g);
  }
  for (const k of keep) if (!byName.has(k)) throw new Error(`buffer plan: cannot keep unknown tensor '${k}'`);

  const slotBytes: number[] = [];
  const slotOf = new Map<string, number>();
  const busy: { slot: number; last: number; kept: boolean }[] = [];
  const free: number[] = [];
  for (const g of [...groups.values()].sort((a, b) => a.first - b.first)) {
    for (let i = busy.length - 1; i >= 0; i--) {
      if (!busy[i].kept && busy[i].last < g.first) {
        free.push(busy[i].slot);
        busy.splice(i, 1);
      }
    }
    let slot: number;
    if (free.length === 0) {
      slot = slotBytes.push(g.bytes) - 1;
    } else {
      const fits = free.filter((s) => slotBytes[s] >= g.bytes).sort((a, b) => slotBytes[a] - slotBytes[b]);
      slot = fits.length > 0 ? fits[0] : free.reduce((a, b) => (slotBytes[a] >= slotBytes[b] ? a : b));
      free.splice(free.indexOf(slot), 1);
      slotBytes[slot] = Math.max(slotBytes[slot], g.bytes);
    }
    busy.push({ slot, last: g.last, kept: g.kept });
    for (const m of g.members) slotOf.set(m, slot);
  }
  return { slotBytes, slotOf };
}
