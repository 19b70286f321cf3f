// GPU timings per compute pass from timestamp queries (when the device has 'timestamp-query'),
// summed per stage (preprocess, forward, backward, cam, overlay). Every pass writes its own begin and
// end timestamps, so gaps between passes are not counted. A stage is normally one pass (encodePasses);
// profiling gives each dispatch a pass of its own, so per-kernel times are available too.

import { encodeDispatch, type Dispatch } from '../kernels/kernel.js';

export type TimingSource = 'gpu-timestamp' | 'wall-clock';

/** The middle value (the lower one of the middle two for an even count). */
export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

export interface PassTiming {
  label: string;
  stage: string;
  ms: number;
}

export interface Timings {
  /** Sum of the passes' GPU time per stage, in ms. */
  stages: Record<string, number>;
  passes: PassTiming[];
}

export class PassTimer {
  private readonly passes: { label: string; stage: string }[] = [];
  private readonly resolveBuffer: GPUBuffer;
  private readonly readBuffer: GPUBuffer;

  private constructor(
    private readonly querySet: GPUQuerySet,
    private readonly capacity: number,
    device: GPUDevice,
  ) {
    this.resolveBuffer = device.createBuffer({ label: 'timestamps', size: 8 * capacity * 2, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    this.readBuffer = device.createBuffer({ label: 'timestamps read', size: 8 * capacity * 2, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /** Undefined when the device cannot time passes (then callers fall back to wall-clock time). */
  static create(device: GPUDevice, maxPasses: number): PassTimer | undefined {
    if (!device.features.has('timestamp-query')) return undefined;
    const querySet = device.createQuerySet({ label: 'pass timestamps', type: 'timestamp', count: 2 * maxPasses });
    return new PassTimer(querySet, maxPasses, device);
  }

  /** A compute pass descriptor that records this pass's begin and end times under `stage`. */
  pass(label: string, stage: string): GPUComputePassDescriptor {
    const i = this.passes.length;
    if (i >= this.capacity) return { label };
    this.passes.push({ label, stage });
    return { label, timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } };
  }

  /** Bytes held by the resolve and read buffers. */
  get bytes(): number {
    return this.resolveBuffer.size + this.readBuffer.size;
  }

  /** Starts a new submission's timings, reusing the query set and buffers (read() must have finished). */
  reset(): void {
    this.passes.length = 0;
  }

  /** Call once, after the last timed pass, in the same command encoder. */
  resolve(encoder: GPUCommandEncoder): void {
    const count = 2 * this.passes.length;
    if (count === 0) return;
    encoder.resolveQuerySet(this.querySet, 0, count, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, this.readBuffer, 0, 8 * count);
  }

  async read(): Promise<Timings> {
    const stages: Record<string, number> = {};
    const passes: PassTiming[] = [];
    if (this.passes.length === 0) return { stages, passes };
    await this.readBuffer.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(this.readBuffer.getMappedRange().slice(0, 16 * this.passes.length));
    this.readBuffer.unmap();
    this.passes.forEach((p, i) => {
      const ms = t[2 * i + 1] >= t[2 * i] ? Number(t[2 * i + 1] - t[2 * i]) / 1e6 : 0;
      passes.push({ ...p, ms });
      stages[p.stage] = (stages[p.stage] ?? 0) + ms;
    });
    return { stages, passes };
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
    this.readBuffer.destroy();
  }
}

/**
 * Records `dispatches` (one stage's, in order) as compute passes. Normally one pass for them all: WebGPU
 * orders the dispatches of a pass, so what one writes to a storage buffer the next reads, and a pass
 * costs a GPU far more than a dispatch; `timer` then times that pass as a whole. With `profile` and a
 * timer, one timed pass per dispatch, labelled by the dispatch, for every kernel's own GPU time.
 */
export function encodePasses(encoder: GPUCommandEncoder, dispatches: readonly Dispatch[], stage: string, timer?: PassTimer, profile = false): void {
  if (!dispatches.length) return;
  if (timer && profile) {
    for (const d of dispatches) {
      const pass = encoder.beginComputePass(timer.pass(d.label, stage));
      encodeDispatch(pass, d);
      pass.end();
    }
    return;
  }
  const label = dispatches.length === 1 ? dispatches[0].label : `${stage}: ${dispatches.length} dispatches, ${dispatches[0].label} … ${dispatches[dispatches.length - 1].label}`;
  const pass = encoder.beginComputePass(timer?.pass(label, stage) ?? { label });
  for (const d of dispatches) encodeDispatch(pass, d);
  pass.end();
}

/**
 * Copies buffers out in the same command encoder and maps them once after the submit. One staging
 * buffer per name stays for the next round, grown to the largest size asked, so repeated runs (other
 * layers, other image sizes) allocate nothing new once the largest has been seen.
 */
export class Readback {
  private readonly staging = new Map<string, GPUBuffer>();
  private readonly pending = new Map<string, { buffer: GPUBuffer; bytes: number }>();
  constructor(private readonly device: GPUDevice) {}

  copy(encoder: GPUCommandEncoder, name: string, src: GPUBuffer, bytes = src.size): void {
    if (this.pending.has(name)) throw new Error(`readback: '${name}' is already copied in this round; ask for each tensor once`);
    let dst = this.staging.get(name);
    if (!dst || dst.size < bytes) {
      dst?.destroy();
      dst = this.device.createBuffer({ label: `read ${name}`, size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      this.staging.set(name, dst);
    }
    this.pending.set(name, { buffer: dst, bytes });
    encoder.copyBufferToBuffer(src, 0, dst, 0, bytes);
  }

  /** What was copied since the last read() or discard(); every buffer is unmapped again, even on failure. */
  async read(): Promise<Map<string, ArrayBuffer>> {
    const entries = [...this.pending];
    this.pending.clear();
    const mapped = await Promise.allSettled(entries.map(([, p]) => p.buffer.mapAsync(GPUMapMode.READ, 0, p.bytes)));
    const out = new Map<string, ArrayBuffer>();
    let failure: unknown;
    entries.forEach(([name, p], i) => {
      const m = mapped[i];
      if (m.status === 'rejected') {
        failure ??= m.reason;
        return;
      }
      out.set(name, p.buffer.getMappedRange(0, p.bytes).slice(0));
      p.buffer.unmap();
    });
    if (failure !== undefined) throw failure;
    return out;
  }

  /** Forgets this round's copies (after a failed submit), so the next round starts clean. */
  discard(): void {
    this.pending.clear();
  }

  /** Bytes held by the staging buffers. */
  get bytes(): number {
    let n = 0;
    for (const b of this.staging.values()) n += b.size;
    return n;
  }

  /** Staging buffers kept: one per name ever read, so bounded by the names a caller uses. */
  get buffers(): number {
    return this.staging.size;
  }

  /** Frees the staging buffers; the object stays usable (the next copy makes them again). */
  destroy(): void {
    for (const b of this.staging.values()) b.destroy();
    this.staging.clear();
    this.pending.clear();
  }
}

/**
 * Times single dispatches, each in its own pass and submit, reusing one query set and its buffers:
 * GPU timestamps when the device has them, else the wall clock around submit → onSubmittedWorkDone
 * (`timing` says which).
 */
export class DispatchTimer {
  private constructor(
    private readonly device: GPUDevice,
    private readonly timer: PassTimer | undefined,
  ) {}

  static create(device: GPUDevice): DispatchTimer {
    return new DispatchTimer(device, PassTimer.create(device, 1));
  }

  get timing(): TimingSource {
    return this.timer ? 'gpu-timestamp' : 'wall-clock';
  }

  /** One run of `dispatch`, in ms. */
  async time(dispatch: Dispatch): Promise<number> {
    const { device, timer } = this;
    timer?.reset();
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass(timer?.pass(dispatch.label, 'kernel') ?? { label: dispatch.label });
    encodeDispatch(pass, dispatch);
    pass.end();
    timer?.resolve(encoder);
    const t0 = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    const wall = performance.now() - t0;
    return timer ? ((await timer.read()).passes[0]?.ms ?? wall) : wall;
  }

  destroy(): void {
    this.timer?.destroy();
  }
}

/** Times one dispatch `runs` times after `warmup` runs; each run is its own submit. */
export async function timeDispatch(device: GPUDevice, dispatch: Dispatch, runs: number, warmup = 1): Promise<{ ms: number[]; timing: TimingSource }> {
  const timer = DispatchTimer.create(device);
  try {
    const ms: number[] = [];
    for (let i = 0; i < warmup + runs; i++) {
      const t = await timer.time(dispatch);
      if (i >= warmup) ms.push(t);
    }
    return { ms, timing: timer.timing };
  } finally {
    timer.destroy();
  }
}
