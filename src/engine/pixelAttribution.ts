// Input gradients of many inputs near the kept image, batched: SmoothGrad's noisy copies (Smilkov et al.
// 2017) and Integrated Gradients' path points (Sundararajan et al. 2017). The samples run as the rows of
// a batched network that borrows the kept network's weight buffers (Network.borrowing: nothing
// uploaded again) and owns its activations, so the kept forward stays valid. Per chunk of B rows, one
// submission: the batch's inputs are written, the batched forward runs, the backward runs down to the
// input (each row through its own forward), and preprocessImageBackward adds w_k · (the RGB gradient
// of row k) into one accumulator. Only the accumulator (H·W·3 floats) and each row's probabilities and
// logits (for the scores) are read back.
import { GpuCommandError } from './deviceErrors.js';
import type { Dispatch } from '../kernels/kernel.js';
import { destroyDispatch, encodeDispatch } from '../kernels/kernel.js';
import { preprocessImageBackwardVersions } from '../kernels/preprocessImageBackward.js';
import { packTargetRows, type ScoreKind } from '../kernels/softmaxScoreBackward.js';
import { prepareBackward, type BackwardSink } from './backward.js';
import { Readback } from './gpuTimer.js';
import { elementCount } from './model.js';
import { Network } from './network.js';
import { chunkRows } from './perturbationCam.js';
import { INPUT_TENSOR, logitsTensor, planForward } from './plan.js';

/** Rows per batched forward and backward unless asked otherwise (lowered to fit SAMPLE_BATCH_MEMORY_BYTES). */
export const DEFAULT_SAMPLE_BATCH_ROWS = 8;

/** Memory one batch may hold: every activation kept for the backward, plus a gradient per tensor. */
export const SAMPLE_BATCH_MEMORY_BYTES = 1024 * 2 ** 20;

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export interface SampleTarget {
  classes: readonly number[];
  sign: 1 | -1;
  score: ScoreKind;
}

export interface SampleOptions {
  batchRows?: number;
  /** After each chunk has run on the GPU: samples done, total. */
  onProgress?: (done: number, total: number) => void;
}

export interface SampledGradient {
  /** Σ_k w_k ∇_x s(x_k), RGB [H, W, 3] in 0..255 units at the model's input size. */
  gradient: Float32Array;
  /** s(x_k) per sample. */
  scores: Float64Array;
  rows: number;
  submissions: number;
}

interface Batch {
  rows: number;
  net: Network;
  grads: Map<string, GPUBuffer>;
  sink: BackwardSink & { chosen: GPUBuffer };
  rowWeights: GPUBuffer;
  accumulate: Dispatch;
}

export class SampledGradients {
  private readonly batches = new Map<number, Batch>();
  private readonly accumulator: GPUBuffer;
  private readonly readback: Readback;
  private disposed = false;

  /** lender: the batch-1 network whose weights the batches borrow. */
  constructor(readonly lender: Network) {
    const [h, w, c] = lender.model.inputShape;
    this.accumulator = lender.device.createBuffer({ label: 'sampled input gradient (RGB)', size: 4 * h * w * c, usage: STORAGE() });
    this.readback = new Readback(lender.device);
  }

  /** Batched networks kept: at most one (a new row count or score replaces it). */
  get cachedNetworks(): number {
    return this.batches.size;
  }

  get bytes(): number {
    let n = this.accumulator.size + this.readback.bytes;
    for (const b of this.batches.values()) {
      n += b.net.memoryBytes + b.rowWeights.size + b.sink.chosen.size + (b.sink.coef?.size ?? 0) + (b.sink.ranks?.size ?? 0);
      for (const g of b.grads.values()) n += g.size;
    }
    return n;
  }

  /** Rows per chunk: asked, capped by memory, the device's binding limit and the sample count, then evened out. */
  private chunking(count: number, asked: number): { rows: number; chunks: number } {
    const { model, device } = this.lender;
    const plan = planForward(model, 1);
    let total = 0;
    let largest = 0;
    for (const t of plan.tensors.values()) {
      if (t.aliasOf) continue;
      const bytes = 4 * elementCount(t.shape);
      total += 2 * bytes; // the activation, kept, and its gradient
      largest = Math.max(largest, bytes);
    }
    const bindable = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
    return chunkRows(count, asked, Math.max(1, Math.min(Math.floor(SAMPLE_BATCH_MEMORY_BYTES / total), Math.floor(bindable / largest))));
  }

  private async batch(rows: number, score: ScoreKind): Promise<Batch> {
    const key = rows * 2 + (score === 'logit' ? 1 : 0);
    const cached = this.batches.get(key);
    if (cached) return cached;
    // One batched network at a time: at 224×224 each holds every activation and gradient of its rows (~1 GiB at 8 rows).
    for (const b of this.batches.values()) this.destroyBatch(b);
    this.batches.clear();
    const { lender } = this;
    const device = lender.device;
    const model = lender.model;
    const last = model.layers[model.layers.length - 1].name;
    const net = await Network.borrowing(lender, model, { batch: rows, keep: [INPUT_TENSOR, ...model.layers.map((l) => l.name), logitsTensor(last)] });
    const grads = new Map<string, GPUBuffer>();
    const owned: GPUBuffer[] = [];
    const buffer = (label: string, bytes: number) => {
      const b = device.createBuffer({ label, size: Math.max(16, bytes), usage: STORAGE() });
      owned.push(b);
      return b;
    };
    const sink: BackwardSink & { chosen: GPUBuffer } = { backward: [], chosen: buffer(`sample classes ×${rows}`, 4 * rows) };
    let accumulate: Dispatch | undefined;
    try {
      await prepareBackward(
        {
          network: net,
          grad: (tensor, r) => {
            const root = net.plan.tensors.get(tensor)?.aliasOf ?? tensor;
            let g = grads.get(root);
            if (!g) {
              g = device.createBuffer({ label: `d(score)/d(${root}) ×${r}`, size: 4 * r * elementCount(net.tensorShape(root)), usage: STORAGE() });
              grads.set(root, g);
            }
            return g;
          },
          buffer,
          chosen: sink.chosen,
          options: {},
        },
        { deepest: INPUT_TENSOR, rows, score },
        sink,
      );
      const rowWeights = buffer(`sample weights ×${rows}`, 4 * rows);
      const [h, w] = model.inputShape;
      const toRgb = await preprocessImageBackwardVersions[0].prepare(
        device,
        { pixels: h * w, rows, accumulate: true },
        { g: grads.get(INPUT_TENSOR)!, rowWeights, out: this.accumulator },
        `input gradient to RGB ×${rows}`,
      );
      accumulate = toRgb;
      const b: Batch = { rows, net, grads, sink, rowWeights, accumulate: toRgb };
      // dispose() may have run while this was being prepared: nothing may outlive it.
      if (this.disposed) throw new Error('SampledGradients: disposed while preparing a batch');
      this.batches.set(key, b);
      return b;
    } catch (err) {
      sink.backward.forEach(destroyDispatch);
      if (accumulate) destroyDispatch(accumulate);
      owned.forEach((b) => b.destroy());
      for (const g of grads.values()) g.destroy();
      net.dispose();
      throw err;
    }
  }

  /**
   * Σ_k weights[k] · ∇ s(inputs(k)) over `count` samples, and each s(inputs(k)). `input(k, out)` writes
   * sample k, preprocessed as the model's input ([H, W, 3], B, G, R, mean-subtracted), into `out`.
   */
  async weightedGradient(
    count: number,
    input: (k: number, out: Float32Array) => void,
    weights: ArrayLike<number>,
    target: SampleTarget,
    options: SampleOptions = {},
  ): Promise<SampledGradient> {
    if (this.disposed) throw new Error('SampledGradients: used after dispose()');
    if (!(Number.isInteger(count) && count >= 1)) throw new Error(`samples ${count}: must be a positive integer`);
    const asked = options.batchRows ?? DEFAULT_SAMPLE_BATCH_ROWS;
    if (!(Number.isInteger(asked) && asked >= 1)) throw new Error(`batchRows ${asked}: must be a positive integer`);
    const { rows, chunks } = this.chunking(count, asked);
    const b = await this.batch(rows, target.score);
    const { device, model } = this.lender;
    const inputFloats = elementCount(model.inputShape);
    const classes = b.net.tensorShape(b.net.plan.output)[0];
    const packed = packTargetRows(classes, Array.from({ length: rows }, () => ({ classes: target.classes, sign: target.sign })));
    device.queue.writeBuffer(b.sink.coef!, 0, packed.coef);
    device.queue.writeBuffer(b.sink.ranks!, 0, packed.ranks);
    const last = model.layers[model.layers.length - 1].name;
    const scores = new Float64Array(count);
    const inputs = new Float32Array(rows * inputFloats);
    const rowWeights = new Float32Array(rows);
    for (let chunk = 0; chunk < chunks; chunk++) {
      const first = chunk * rows;
      for (let r = 0; r < rows; r++) {
        // Padding rows of the last chunk repeat its last sample with weight 0.
        const k = Math.min(first + r, count - 1);
        input(k, inputs.subarray(r * inputFloats, (r + 1) * inputFloats));
        rowWeights[r] = first + r < count ? weights[k] : 0;
      }
      device.queue.writeBuffer(b.net.tensorBuffer(INPUT_TENSOR), 0, inputs);
      device.queue.writeBuffer(b.rowWeights, 0, rowWeights);
      device.pushErrorScope('validation');
      let scopeOpen = true;
      let out: Map<string, ArrayBuffer>;
      try {
        const encoder = device.createCommandEncoder({ label: `sampled gradients, chunk ${chunk + 1}/${chunks}` });
        if (chunk === 0) encoder.clearBuffer(this.accumulator);
        b.net.encodeForward(encoder, {});
        for (const d of [...b.sink.backward, b.accumulate]) {
          const pass = encoder.beginComputePass({ label: d.label });
          encodeDispatch(pass, d);
          pass.end();
        }
        this.readback.copy(encoder, 'probabilities', b.net.tensorBuffer(b.net.plan.output), 4 * rows * classes);
        this.readback.copy(encoder, 'logits', b.net.tensorBuffer(logitsTensor(last)), 4 * rows * classes);
        if (chunk === chunks - 1) this.readback.copy(encoder, 'gradient', this.accumulator);
        device.queue.submit([encoder.finish()]);
        scopeOpen = false;
        const error = await device.popErrorScope();
        if (error) throw new GpuCommandError('sampled gradients', 'validation', error.message);
        out = await this.readback.read();
      } finally {
        if (scopeOpen) await device.popErrorScope();
        // A failed chunk leaves nothing pending: the next call starts clean.
        this.readback.discard();
      }
      const values = new Float32Array(out.get(target.score === 'prob' ? 'probabilities' : 'logits')!);
      for (let r = 0; r < rows && first + r < count; r++) {
        let s = 0;
        for (const c of target.classes) s += values[r * classes + c];
        scores[first + r] = target.sign * s;
      }
      options.onProgress?.(Math.min(count, first + rows), count);
      if (chunk === chunks - 1) return { gradient: new Float32Array(out.get('gradient')!), scores, rows, submissions: chunks };
    }
    throw new Error('unreachable');
  }

  private destroyBatch(b: Batch): void {
    [...b.sink.backward, b.accumulate].forEach(destroyDispatch);
    for (const g of b.grads.values()) g.destroy();
    for (const buf of [b.rowWeights, b.sink.chosen, ...(b.sink.coef ? [b.sink.coef] : []), ...(b.sink.ranks ? [b.sink.ranks] : [])]) buf.destroy();
    b.net.dispose();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of this.batches.values()) this.destroyBatch(b);
    this.batches.clear();
    this.accumulator.destroy();
    this.readback.destroy();
  }
}
