// The backward pass of a planned network, derived from its forward plan walked in reverse: the score
// kernel (the gradient of each row's target score w.r.t. the logits), then each layer's input gradient,
// down to a target tensor — a conv layer for the CAMs, or 'input' for the pixel-level methods.
// Rows: one gradient per target row. Over a batch-1 network several rows share its one forward
// (several Grad-CAM targets: the kernels' sharedForward); over a batch-N network with N rows each row
// has its own forward (SmoothGrad's noisy copies, Integrated Gradients' path points).
import type { Dispatch } from '../kernels/kernel.js';
import type { ReluRule } from '../kernels/reluRule.js';
import { softmaxScoreBackwardVersions, type ScoreKind } from '../kernels/softmaxScoreBackward.js';
import type { Network, NetworkOptions } from './network.js';
import { chooseCandidate, opKernel } from './opKernels.js';
import type { Op } from './plan.js';

export interface BackwardRequest {
  /** The tensor whose gradient is the last one written; 'input' runs through the first layer. */
  deepest: string;
  rows: number;
  score: ScoreKind;
  /** How each ReLU passes the gradient (default 'plain': the true gradient). */
  reluRule?: ReluRule;
}

/** What a backward is made of; filled as it is prepared, so a failure part-way leaves what was made for the caller to destroy. */
export interface BackwardSink {
  backward: Dispatch[];
  scoreDispatch?: Dispatch;
  /** f32 [rows, classes]: the target coefficients (see packTargetRows). */
  coef?: GPUBuffer;
  /** u32 [rows]: target ranks. */
  ranks?: GPUBuffer;
}

export interface BackwardContext {
  network: Network;
  /** The gradient buffer of a tensor for `rows` rows (callers share them across plans). */
  grad(tensor: string, rows: number): GPUBuffer;
  /** A new storage buffer the sink owns. */
  buffer(label: string, bytes: number): GPUBuffer;
  /** u32 [rows]: the class each ranked row resolved to. */
  chosen: GPUBuffer;
  options: NetworkOptions;
  /** Called with `kernel.version` per layer as it is chosen. */
  onVersion?(layer: string, version: string): void;
}

/** The op's shape for the backward: rows and how they share the forward, and the ReLU rule. */
function backwardOp(op: Op, rows: number, shared: boolean, reluRule: ReluRule | undefined): Op {
  const n = shared ? { n: rows, sharedForward: true } : {};
  switch (op.kind) {
    case 'conv3x3':
      return { ...op, shape: { ...op.shape, ...n, ...(reluRule ? { reluRule } : {}) } };
    case 'dense':
      return { ...op, shape: { ...op.shape, ...n, ...(reluRule ? { reluRule } : {}) } };
    case 'maxpool2x2':
      return { ...op, shape: { ...op.shape, ...n } };
    case 'softmax':
      return op;
  }
}

export async function prepareBackward(ctx: BackwardContext, request: BackwardRequest, sink: BackwardSink): Promise<void> {
  const { network } = ctx;
  const device = network.device;
  const { deepest, rows, score } = request;
  const batch = network.plan.batch;
  if (batch !== 1 && rows !== batch) throw new Error(`backward: a batch-${batch} network takes ${batch} rows, one per image (got ${rows})`);
  const shared = batch === 1 && rows > 1;
  const rule = request.reluRule && request.reluRule !== 'plain' ? request.reluRule : undefined;
  const ruleTag = rule ? ` (${rule})` : '';
  const ops = network.plan.ops;
  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i];
    if (op.output === deepest) break;
    const label = `${op.layer} ${op.kind} backward${rows > 1 ? ` ×${rows}` : ''}${ruleTag}`;
    if (op.kind === 'softmax') {
      const c = op.shape.c;
      const coef = (sink.coef = ctx.buffer(`target coefficients ×${rows}`, 4 * rows * c));
      const ranks = (sink.ranks = ctx.buffer(`target ranks ×${rows}`, 4 * rows));
      sink.scoreDispatch = await softmaxScoreBackwardVersions[0].prepare(
        device,
        { c, score, rows, perRowForward: batch > 1 },
        { p: network.tensorBuffer(op.output), coef, ranks, dz: ctx.grad(op.input, rows), chosen: ctx.chosen },
        label,
      );
      sink.backward.push(sink.scoreDispatch);
      continue;
    }
    const k = opKernel(backwardOp(op, rows, shared, rule), 'backward', { features: device.features })!;
    // A forced version applies to the single-row path it was chosen for, on the shapes it supports (a
    // conv version forced for the CAMs' layers may not take block1_conv1's 3 input channels); several
    // shared rows, and other shapes, take the tuned or default choice.
    const forced = shared ? undefined : ctx.options.versions?.[k.kernel];
    const c = chooseCandidate(k, forced !== undefined && k.candidates.some((v) => v.version === forced) ? forced : undefined, ctx.options.choices);
    if (!shared) ctx.onVersion?.(op.layer, `${k.kernel}.${c.version}`);
    const dy = ctx.grad(op.output, rows);
    const dx = ctx.grad(op.input, rows);
    const buffers: Record<string, GPUBuffer> =
      op.kind === 'maxpool2x2' ? { dy, x: network.tensorBuffer(op.input), dx } : { dy, y: network.tensorBuffer(op.output), weights: network.weightBuffer(op.weights), dx };
    sink.backward.push(await c.prepare(device, buffers, label));
  }
  if (!sink.scoreDispatch) throw new Error(`${network.model.name}: the model must end in a softmax layer for a backward pass from a class score`);
}
