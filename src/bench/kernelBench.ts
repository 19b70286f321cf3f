// Per-kernel benchmarks, host-independent: every version of every kernel on every distinct VGG layer
// shape (forward and backward), timed with GPU timestamp queries when the device has them (wall clock
// around submit → onSubmittedWorkDone otherwise, and labelled so), against peaks measured on the same
// device by the copy and multiply–add probes.
import { conv3x3BackwardInputVersions } from '../kernels/conv3x3BackwardInput.js';
import { conv3x3BiasReluVersions } from '../kernels/conv3x3BiasRelu.js';
import { denseBackwardInputVersions } from '../kernels/denseBackwardInput.js';
import { denseBiasActVersions } from '../kernels/denseBiasAct.js';
import { destroyDispatch, encodeDispatch, type Dispatch, type KernelVersion } from '../kernels/kernel.js';
import { maxPool2x2Versions } from '../kernels/maxPool2x2.js';
import { maxPool2x2BackwardVersions } from '../kernels/maxPool2x2Backward.js';
import { peakCopyVersions, peakFmaFlops, peakFmaVersions } from '../kernels/peak.js';
import { softmaxVersions } from '../kernels/softmax.js';
import { PassTimer } from '../engine/gpuTimer.js';
import type { ModelSpec } from '../engine/model.js';
import { planForward } from '../engine/plan.js';

export type TimingSource = 'gpu-timestamp' | 'wall-clock';

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

interface BenchCase {
  name: string;
  layer: string;
  version: string;
  shape: string;
  direction: 'forward' | 'backward';
  flops: number;
  bound: 'compute' | 'memory';
  /** Buffer sizes in floats, in binding order of the version's `prepare` buffers object. */
  buffers: Record<string, number>;
  prepare(device: GPUDevice, buffers: Record<string, GPUBuffer>): Promise<Dispatch>;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];

/** Times one dispatch `runs` times after `warmup` runs; each run is its own submit. */
export async function timeDispatch(device: GPUDevice, dispatch: Dispatch, runs: number, warmup = 1): Promise<{ ms: number[]; timing: TimingSource }> {
  const ms: number[] = [];
  let timing: TimingSource = 'gpu-timestamp';
  for (let i = 0; i < warmup + runs; i++) {
    const timer = PassTimer.create(device, 1);
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass(timer?.pass(dispatch.label, 'kernel') ?? { label: dispatch.label });
    encodeDispatch(pass, dispatch);
    pass.end();
    timer?.resolve(encoder);
    const t0 = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    const wall = performance.now() - t0;
    let t = wall;
    if (timer) {
      t = (await timer.read()).passes[0]?.ms ?? wall;
      timer.destroy();
    } else {
      timing = 'wall-clock';
    }
    if (i >= warmup) ms.push(t);
  }
  return { ms, timing };
}

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

function versionsCases<S, B>(
  name: string,
  versions: readonly KernelVersion<S, B>[],
  shape: S,
  common: Omit<BenchCase, 'name' | 'version' | 'prepare'>,
  allVersions: boolean,
): BenchCase[] {
  const usable = versions.filter((v) => v.supports(shape));
  return (allVersions ? usable : usable.slice(0, 1)).map((v) => ({
    ...common,
    name,
    version: v.name,
    prepare: (device, buffers) => v.prepare(device, shape, buffers as unknown as B, `${common.layer} ${name}.${v.name}`),
  }));
}

/** One case per kernel version and distinct shape of the model, forward and backward. */
export function benchCases(model: ModelSpec, options: { layers?: readonly string[]; allVersions?: boolean } = {}): BenchCase[] {
  const all = options.allVersions ?? true;
  const seen = new Set<string>();
  const cases: BenchCase[] = [];
  const add = (list: BenchCase[]) => {
    for (const c of list) {
      const key = `${c.name}.${c.version}|${c.shape}`;
      if (!seen.has(key)) {
        seen.add(key);
        cases.push(c);
      }
    }
  };
  for (const op of planForward(model).ops) {
    if (options.layers && !options.layers.includes(op.layer)) continue;
    switch (op.kind) {
      case 'conv3x3': {
        const s = op.shape;
        const shape = `${s.h}×${s.w}×${s.cIn}→${s.cOut}`;
        const flops = 2 * s.h * s.w * s.cIn * s.cOut * 9;
        add(versionsCases('conv3x3BiasRelu', conv3x3BiasReluVersions, s, { layer: op.layer, shape, direction: 'forward', flops, bound: 'compute', buffers: { x: s.h * s.w * s.cIn, weights: 9 * s.cIn * s.cOut, bias: s.cOut, y: s.h * s.w * s.cOut } }, all));
        add(versionsCases('conv3x3BackwardInput', conv3x3BackwardInputVersions, s, { layer: op.layer, shape, direction: 'backward', flops, bound: 'compute', buffers: { dy: s.h * s.w * s.cOut, y: s.h * s.w * s.cOut, weights: 9 * s.cIn * s.cOut, dx: s.h * s.w * s.cIn } }, all));
        break;
      }
      case 'maxpool2x2': {
        const s = op.shape;
        const n = s.h * s.w * s.c;
        const shape = `${s.h}×${s.w}×${s.c}`;
        add(versionsCases('maxPool2x2', maxPool2x2Versions, s, { layer: op.layer, shape, direction: 'forward', flops: 0, bound: 'memory', buffers: { x: n, y: n / 4 } }, all));
        add(versionsCases('maxPool2x2Backward', maxPool2x2BackwardVersions, s, { layer: op.layer, shape, direction: 'backward', flops: 0, bound: 'memory', buffers: { dy: n / 4, x: n, dx: n } }, all));
        break;
      }
      case 'dense': {
        const s = op.shape;
        const shape = `${s.k}→${s.m}`;
        add(versionsCases('denseBiasAct', denseBiasActVersions, s, { layer: op.layer, shape, direction: 'forward', flops: 2 * s.k * s.m, bound: 'memory', buffers: { x: s.k, weights: s.k * s.m, bias: s.m, y: s.m } }, all));
        add(versionsCases('denseBackwardInput', denseBackwardInputVersions, s, { layer: op.layer, shape, direction: 'backward', flops: 2 * s.k * s.m, bound: 'memory', buffers: { dy: s.m, y: s.m, weights: s.k * s.m, dx: s.k } }, all));
        break;
      }
      case 'softmax':
        add(versionsCases('softmax', softmaxVersions, op.shape, { layer: op.layer, shape: `${op.shape.c}`, direction: 'forward', flops: 0, bound: 'memory', buffers: { x: op.shape.c, y: op.shape.c } }, all));
        break;
    }
  }
  return cases;
}

export async function benchKernels(device: GPUDevice, cases: BenchCase[], runs: number, peaks: Peaks, onRow?: (row: KernelRow) => void): Promise<KernelRow[]> {
  const rows: KernelRow[] = [];
  for (const c of cases) {
    const buffers: Record<string, GPUBuffer> = {};
    let bytes = 0;
    for (const [k, floats] of Object.entries(c.buffers)) {
      buffers[k] = device.createBuffer({ label: k, size: Math.max(16, 4 * floats), usage: GPUBufferUsage.STORAGE });
      bytes += 4 * floats;
    }
    const dispatch = await c.prepare(device, buffers);
    const { ms, timing } = await timeDispatch(device, dispatch, runs);
    destroyDispatch(dispatch);
    for (const b of Object.values(buffers)) b.destroy();
    const sorted = [...ms].sort((a, b) => a - b);
    const medianMs = quantile(sorted, 0.5);
    const gflops = c.flops / (medianMs * 1e6);
    const gbps = bytes / (medianMs * 1e6);
    const row: KernelRow = {
      name: c.name,
      layer: c.layer,
      version: c.version,
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
    onRow?.(row);
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
