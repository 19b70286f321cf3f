// Per-device kernel choice: a short run on first use times every (non-reference) version of each
// kernel that has more than one, on a reduced copy of each distinct layer shape, and keeps the fastest.
// The table is cached per adapter and kernel set (on disk in Node, localStorage in the browser), so
// later runs start at once. Which version wins differs between devices: on SwiftShader the vec4 dense
// kernels beat split-K, whose workgroup barriers are costly on a CPU; a GPU needs split-K's parallelism.
import { destroyDispatch } from '../kernels/kernel.js';
import { median, timeDispatch, type TimingSource } from './gpuTimer.js';
import type { ModelSpec } from './model.js';
import { choiceKey, kernelSetSignature, opKernel, scratchBuffers, type Choices, type Direction } from './opKernels.js';
import { planForward } from './plan.js';

/** Bump when a kernel changes enough that old tables should be remade. */
const TUNING_REVISION = 1;

export interface TuningTable {
  /** The adapter and kernel set it was made for (see tuningKey). */
  key: string;
  model: string;
  created: string;
  tookMs: number;
  timing: TimingSource;
  /** `${kernel}|${shape}` → version. */
  choices: Record<string, string>;
  /** `${kernel}|${shape}` → median ms per version on the reduced shape. */
  timings: Record<string, Record<string, number>>;
}

/** Where tables live between runs. */
export interface TuningStore {
  /** Human-readable location, for messages. */
  where: string;
  read(key: string, model: string): Promise<TuningTable | undefined>;
  write(table: TuningTable): Promise<void>;
}

/** Adapter identity + kernel set: a table made for another GPU, driver or set of versions is not reused. */
export function tuningKey(device: GPUDevice): string {
  const info = device.adapterInfo as GPUAdapterInfo | undefined;
  const adapter = info ? [info.vendor, info.architecture, info.device, info.description].join('/') : 'unknown adapter';
  return `${adapter}|r${TUNING_REVISION}|${kernelSetSignature()}`;
}

export interface TuneOptions {
  /** Timed runs per version after one warm-up (median taken). */
  runs?: number;
  /** After each kernel shape is measured: a line for logs and the count done of the total. */
  onProgress?: (line: string, step: TuningStep) => void;
}

export interface TuningStep {
  done: number;
  total: number;
}

/** Times the candidates of every multi-version kernel the model uses, forward and backward. */
export async function tune(device: GPUDevice, model: ModelSpec, options: TuneOptions = {}): Promise<TuningTable> {
  const runs = options.runs ?? 3;
  const t0 = performance.now();
  const choices: Record<string, string> = {};
  const timings: Record<string, Record<string, number>> = {};
  let timing: TimingSource = 'gpu-timestamp';
  // The distinct (kernel, shape) pairs first, so progress can say how many are left.
  const jobs: { key: string; k: NonNullable<ReturnType<typeof opKernel>>; candidates: NonNullable<ReturnType<typeof opKernel>>['candidates'] }[] = [];
  for (const op of planForward(model).ops) {
    for (const direction of ['forward', 'backward'] as Direction[]) {
      const k = opKernel(op, direction, { reduce: true, features: device.features });
      const candidates = k?.candidates.filter((c) => !c.reference) ?? [];
      if (!k || candidates.length < 2) continue;
      const key = choiceKey(k.kernel, k.shape);
      if (!jobs.some((j) => j.key === key)) jobs.push({ key, k, candidates });
    }
  }
  for (const [i, { key, k, candidates }] of jobs.entries()) {
    const scratch = scratchBuffers(device, k, 'tuning');
    try {
      const ms: Record<string, number> = {};
      for (const c of candidates) {
        const dispatch = await c.prepare(device, scratch.buffers, `tuning ${k.layer} ${k.kernel}.${c.version}`);
        try {
          // One run decides whether the rest are worth it: a version twice as slow as the best so
          // far is out (SwiftShader spends seconds on the slow ones otherwise).
          const first = await timeDispatch(device, dispatch, 1, 1);
          if (first.timing === 'wall-clock') timing = 'wall-clock';
          const best = Math.min(...Object.values(ms));
          const t = first.ms[0] > 2 * best ? first.ms : [...first.ms, ...(await timeDispatch(device, dispatch, runs - 1, 0)).ms];
          ms[c.version] = median(t);
        } finally {
          destroyDispatch(dispatch);
        }
      }
      const best = Object.entries(ms).reduce((a, b) => (b[1] < a[1] ? b : a));
      choices[key] = best[0];
      timings[key] = ms;
      options.onProgress?.(`tuning ${key}: ${Object.entries(ms).map(([v, t]) => `${v} ${t.toFixed(2)} ms`).join(', ')} → ${best[0]}`, { done: i + 1, total: jobs.length });
    } finally {
      scratch.destroy();
    }
  }
  return { key: tuningKey(device), model: model.name, created: new Date().toISOString(), tookMs: performance.now() - t0, timing, choices, timings };
}

export type TuningMode = 'auto' | 'force' | 'off';

export interface Tuning {
  choices: Choices;
  /** 'cache': read from the store; 'tuned': measured now (and stored); 'off': defaults. */
  source: 'cache' | 'tuned' | 'off';
  table?: TuningTable;
}

/** The stored table for this adapter and model, or a new one measured now and stored. */
export async function loadOrTune(device: GPUDevice, model: ModelSpec, store: TuningStore | undefined, mode: TuningMode = 'auto', options: TuneOptions = {}): Promise<Tuning> {
  if (mode === 'off') return { choices: {}, source: 'off' };
  const key = tuningKey(device);
  if (mode === 'auto' && store) {
    const cached = await store.read(key, model.name);
    if (cached) return { choices: cached.choices, source: 'cache', table: cached };
  }
  const table = await tune(device, model, options);
  await store?.write(table);
  return { choices: table.choices, source: 'tuned', table };
}

/** One line per tuned choice, for `--verbose` and the benchmark. */
export function describeTuning(t: Tuning, where?: string): string[] {
  if (t.source === 'off') return ['kernel tuning off: each kernel runs its default version'];
  const head = t.source === 'cache' ? `kernel choices from ${where ?? 'the tuning cache'} (tuned ${t.table!.created})` : `kernel choices tuned now in ${(t.table!.tookMs / 1000).toFixed(1)} s${where ? `, saved to ${where}` : ''}`;
  return [head, ...Object.entries(t.choices).map(([k, v]) => `  ${k} → ${v}`)];
}
