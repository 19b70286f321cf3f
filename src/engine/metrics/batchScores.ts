// Scores of many perturbed copies of the kept image, batched: the metrics' deletion and insertion
// curves, ROAD's imputed images and the confidence change. The copies run as the rows of a batched
// network that borrows the kept network's weights (Network.borrowing: nothing uploaded again) and owns
// its activations, so the kept forward stays valid. Per chunk of B rows, one submission: the rows are
// written (from the CPU, or copied from a GPU buffer where a kernel made them), the batched forward
// runs, and the output rows come back (B × classes floats).
import { GpuCommandError } from '../deviceErrors.js';
import { Readback } from '../gpuTimer.js';
import { elementCount } from '../model.js';
import { Network } from '../network.js';
import { chunkRows, perRowBytes } from '../perturbationCam.js';
import { INPUT_TENSOR, logitsTensor } from '../plan.js';

/** Rows per batched forward unless asked otherwise (lowered to fit BATCH_SCORE_MEMORY_BYTES). */
export const DEFAULT_SCORE_BATCH_ROWS = 8;
/** Activation memory one batched network may hold. */
export const BATCH_SCORE_MEMORY_BYTES = 512 * 2 ** 20;

export type RowSource =
  /** Writes row k's preprocessed input ([H, W, 3]) into `out`. */
  | { kind: 'cpu'; fill: (k: number, out: Float32Array) => void }
  /** Rows already on the GPU: row k is `buffer`'s k-th [H, W, 3] block. */
  | { kind: 'gpu'; buffer: GPUBuffer };

export interface ScoreRowsOptions {
  batchRows?: number;
  onProgress?: (done: number, total: number) => void;
}

export class BatchScorer {
  private net?: Network;
  private readonly readback: Readback;
  private readonly lastLayer: string;
  private disposed = false;

  /** lender: the batch-1 network whose weights the batches borrow. */
  constructor(readonly lender: Network) {
    this.readback = new Readback(lender.device);
    this.lastLayer = lender.model.layers[lender.model.layers.length - 1].name;
  }

  get bytes(): number {
    return (this.net?.memoryBytes ?? 0) + this.readback.bytes;
  }

  /** Batched networks kept: at most one (another row count replaces it). */
  get cachedNetworks(): number {
    return this.net ? 1 : 0;
  }

  private async batch(asked: number, count: number): Promise<{ net: Network; chunks: number }> {
    if (!(Number.isInteger(asked) && asked >= 1)) throw new Error(`batchRows ${asked}: must be a positive integer`);
    const { device, model } = this.lender;
    const per = perRowBytes(model);
    const bindable = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
    const maxRows = Math.max(1, Math.min(Math.floor(BATCH_SCORE_MEMORY_BYTES / per.total), Math.floor(bindable / per.largest)));
    const { rows, chunks } = chunkRows(count, asked, maxRows);
    if (this.net?.plan.batch !== rows) {
      this.net?.dispose();
      this.net = undefined;
      this.net = await Network.borrowing(this.lender, model, { batch: rows, keep: [logitsTensor(this.lastLayer), this.lastLayer] });
    }
    return { net: this.net, chunks };
  }

  /**
   * The outputs of `count` inputs: probabilities (and logits) [count, classes]. Call inside the
   * lender's exclusive(); a GPU source must stay unchanged until this resolves.
   */
  async scoreRows(count: number, source: RowSource, options: ScoreRowsOptions = {}): Promise<{ probabilities: Float32Array; logits: Float32Array; rows: number; submissions: number }> {
    if (this.disposed) throw new Error('BatchScorer: used after dispose()');
    if (!(Number.isInteger(count) && count >= 1)) throw new Error(`rows to score: ${count}, must be a positive integer`);
    const { device, model } = this.lender;
    const { net, chunks } = await this.batch(options.batchRows ?? DEFAULT_SCORE_BATCH_ROWS, count);
    const rows = net.plan.batch;
    const rowFloats = elementCount(model.inputShape);
    const classes = elementCount(net.tensorShape(this.lastLayer));
    const probabilities = new Float32Array(count * classes);
    const logits = new Float32Array(count * classes);
    const staging = new Float32Array(rows * rowFloats);
    device.pushErrorScope('validation');
    let scopeOpen = true;
    try {
      for (let c = 0; c < chunks; c++) {
        const k0 = c * rows;
        const valid = Math.min(rows, count - k0);
        const encoder = device.createCommandEncoder({ label: `score rows ${k0}–${k0 + valid - 1}` });
        const input = net.tensorBuffer(INPUT_TENSOR);
        if (source.kind === 'cpu') {
          // Padding rows repeat the last valid one: finite inputs, outputs ignored.
          for (let r = 0; r < rows; r++) source.fill(k0 + Math.min(r, valid - 1), staging.subarray(r * rowFloats, (r + 1) * rowFloats));
          device.queue.writeBuffer(input, 0, staging);
        } else {
          encoder.copyBufferToBuffer(source.buffer, 4 * k0 * rowFloats, input, 0, 4 * valid * rowFloats);
        }
        net.encodeForward(encoder, {});
        this.readback.copy(encoder, 'p', net.tensorBuffer(this.lastLayer), 4 * valid * classes);
        this.readback.copy(encoder, 'z', net.tensorBuffer(logitsTensor(this.lastLayer)), 4 * valid * classes);
        device.queue.submit([encoder.finish()]);
        const out = await this.readback.read();
        probabilities.set(new Float32Array(out.get('p')!), k0 * classes);
        logits.set(new Float32Array(out.get('z')!), k0 * classes);
        options.onProgress?.(k0 + valid, count);
      }
      scopeOpen = false;
      const error = await device.popErrorScope();
      if (error) throw new GpuCommandError('scoring perturbed images', 'validation', error.message);
      return { probabilities, logits, rows, submissions: chunks };
    } finally {
      if (scopeOpen) await device.popErrorScope();
      this.readback.discard();
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.net?.dispose();
    this.readback.destroy();
  }
}
