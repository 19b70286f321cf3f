// Per-kernel benchmarks, host-independent: every version of every kernel on every distinct VGG layer
// shape (forward and backward), timed with GPU timestamp queries when the device has them (wall clock
// around submit → onSubmittedWorkDone otherwise, and labelled so), against peaks measured on the same
// device by the copy and multiply–add probes.
import type { DenseBackwardShape } from '../kernels/denseBackwardInput.js';
import { destroyDispatch } from '../kernels/kernel.js';
import { peakCopyVersions, peakFmaFlops, peakFmaVersions } from '../kernels/peak.js';
import { timeDispatch, type TimingSource } from '../engine/gpuTimer.js';
import type { ModelSpec } from '../engine/model.js';
import { chooseCandidate, opKernel, scratchBuffers, type Choices, type Direction, type OpKernel } from '../engine/opKernels.js';
import { planForward, type Op } from '../engine/plan.js';

export { timeDispatch, type TimingSource };

export interface Peaks {
  gflops: number;
  gbps: number;
  timing: TimingSource;
}

export interface KernelRow {
  name: string;
  layer: string;
  version: string;
  shape: string;
  direction: 'forward' | 'backward';
  medianMs: number;
  p10Ms: number;
  p90Ms: number;
  gflops: number;
  gbps: number;
  /** Of the compute peak for convolutions, of the copy bandwidth for everything else. */
  pctOfPeak: number;
  bound: 'compute' | 'memory';
  timing: TimingSource;
}

/** One version of one op's kernel. */
export interface BenchCase {
  op: OpKernel;
  version: string;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];

export async function measurePeaks(device: GPUDevice, runs = 3): Promise<Peaks> {
  const count = 4 << 20; // 4 Mi vec4 = 64 MiB each way
  const x = device.createBuffer({ size: 16 * count, usage: GPUBufferUsage.STORAGE });
  const y = device.createBuffer({ size: 16 * count, usage: GPUBufferUsage.STORAGE });
  const copy = await peakCopyVersions[0].prepare(device, { count }, { x, y });
  const c = await timeDispatch(device, copy, runs);
  destroyDispatch(copy);
  const fmaShape = { invocations: 1 << 16, iterations: 512 };
  const out = device.createBuffer({ size: 4 * fmaShape.invocations, usage: GPUBufferUsage.STORAGE });
  const fma = await peakFmaVersions[0].prepare(device, fmaShape, { y: out });
  const f = await timeDispatch(device, fma, runs);
  destroyDispatch(fma);
  for (const b of [x, y, out]) b.destroy();
  const best = (ms: number[]) => Math.min(...ms);
  return {
    gbps: (2 * 16 * count) / (best(c.ms) * 1e6),
    gflops: peakFmaFlops(fmaShape) / (best(f.ms) * 1e6),
    timing: c.timing === 'gpu-timestamp' && f.timing === 'gpu-timestamp' ? 'gpu-timestamp' : 'wall-clock',
  };
}

/**
 * The dense backward of `op` for several Grad-CAM targets at once: `targets` rows of dy and dx, one
 * shared forward row (y). Its shape label says so ('5×4096→4096 shared'); y's buffer is one row.
 */
export function multiTargetDenseBackward(op: Op, targets: number, features?: ReadonlySet<string>): OpKernel | undefined {
  if (op.kind !== 'dense') return undefined;
  const shape: DenseBackwardShape = { ...op.shape, n: targets, sharedForward: true };
  const k = opKernel({ ...op, shape }, 'backward', { features });
  return k && { ...k, shape: `${k.shape} shared`, buffers: { ...k.buffers, y: op.shape.m } };
}

/**
 * One case per kernel version and distinct shape of the model, forward and backward. With `targets`
 * (2..8), each dense layer's backward also for that many Grad-CAM targets sharing one forward row
 * (multiTargetDenseBackward): the 'rows' version against the per-row ones.
 */
export function benchCases(
  model: ModelSpec,
  options: { layers?: readonly string[]; allVersions?: boolean; choices?: Choices; f16?: boolean; targets?: number; features?: ReadonlySet<string> } = {},
): BenchCase[] {
  const seen = new Set<string>();
  const cases: BenchCase[] = [];
  for (const op of planForward(model, 1, { denseWeightsF16: options.f16 }).ops) {
    if (options.layers && !options.layers.includes(op.layer)) continue;
    const kernels = (['forward', 'backward'] as Direction[]).map((direction) => opKernel(op, direction, { features: options.features }));
    if (options.targets !== undefined && options.targets > 1) kernels.push(multiTargetDenseBackward(op, options.targets, options.features));
    for (const k of kernels) {
      if (!k) continue;
      // Without allVersions: the version the engine runs (tuned, else default).
      for (const c of options.allVersions === false ? [chooseCandidate(k, undefined, options.choices)] : k.candidates) {
        const key = `${k.kernel}.${c.version}|${k.shape}`;
        if (seen.has(key)) continue;
        seen.add(key);
        cases.push({ op: k, version: c.version });
      }
    }
  }
  return cases;
}

export interface BenchKernelsCallbacks {
  /** Before a case is prepared and timed (for progress). */
  onStart?(c: BenchCase): void;
  /** After it is timed. */
  onRow?(row: KernelRow): void;
}

export async function benchKernels(device: GPUDevice, cases: BenchCase[], runs: number, peaks: Peaks, callbacks: BenchKernelsCallbacks = {}): Promise<KernelRow[]> {
  const rows: KernelRow[] = [];
  for (const benchCase of cases) {
    const { op: c, version } = benchCase;
    callbacks.onStart?.(benchCase);
    const { buffers, bytes, destroy } = scratchBuffers(device, c, 'bench');
    const dispatch = await c.candidates.find((v) => v.version === version)!.prepare(device, buffers, `${c.layer} ${c.kernel}.${version}`);
    const { ms, timing } = await timeDispatch(device, dispatch, runs);
    destroyDispatch(dispatch);
    destroy();
    const sorted = [...ms].sort((a, b) => a - b);
    const medianMs = quantile(sorted, 0.5);
    const gflops = c.flops / (medianMs * 1e6);
    const gbps = bytes / (medianMs * 1e6);
    const row: KernelRow = {
      name: c.kernel,
      layer: c.layer,
      version,
      shape: c.shape,
      direction: c.direction,
      medianMs,
      p10Ms: quantile(sorted, 0.1),
      p90Ms: quantile(sorted, 0.9),
      gflops,
      gbps,
      pctOfPeak: 100 * (c.bound === 'compute' ? gflops / peaks.gflops : gbps / peaks.gbps),
      bound: c.bound,
      timing,
    };
    callbacks.onRow?.(row);
    rows.push(row);
  }
  return rows;
}

export function formatKernelRow(r: KernelRow): string {
  const peak = r.bound === 'compute' ? 'compute' : 'bandwidth';
  return (
    `${`${r.layer} ${r.direction === 'forward' ? 'fwd' : 'bwd'}`.padEnd(22)} ${`${r.name}.${r.version}`.padEnd(32)} ${r.shape.padEnd(18)} ` +
    `median ${r.medianMs.toFixed(2).padStart(9)} ms  (p10 ${r.p10Ms.toFixed(2)}, p90 ${r.p90Ms.toFixed(2)})  ` +
    `${r.gflops.toFixed(2).padStart(7)} GFLOP/s  ${r.gbps.toFixed(2).padStart(7)} GB/s  ${r.pctOfPeak.toFixed(0).padStart(3)}% of ${peak} peak`
  );
}
