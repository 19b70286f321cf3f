// Per-device kernel choice: a short run on first use times every (non-reference) version of each
// kernel that has more than one on each distinct layer shape (a reduced copy of it on a CPU
// rasteriser, see tune()), and keeps the fastest.
// The table is cached per adapter, feature set and kernel set (on disk in Node, localStorage in the
// browser), so later runs start at once. Which version wins differs between devices: on SwiftShader the
// vec4 dense kernels beat split-K, whose workgroup barriers are costly on a CPU; a GPU needs split-K's
// parallelism.
//
// A busy machine must not decide the choice. The versions of a kernel are timed in interleaved rounds
// (timeInRounds): each round runs every version still in once, in an order rotated per round, so a slow
// phase of the machine lands on all of them instead of on whichever ran then. A version more than twice
// as slow as the best in the first round (the faster of its warm-up and first run) is out; the rest are
// compared by their fastest run (load only ever adds time to a kernel, so the minimum is the estimate a
// busy machine disturbs least, where a median of three is taken over by two slow runs). Unless the best
// is more than 10% ahead of the next by both its fastest run and its median, those two get extra rounds
// of their own. If that does not settle it either (the fastest runs and the medians disagree: one
// version caught an idle moment of a machine whose load comes and goes), the rounds decide head to
// head: the one faster in more of the rounds both ran wins, as each round's two runs were close in time.
import { destroyDispatch, type Dispatch } from '../kernels/kernel.js';
import { isSoftwareAdapter, OPTIONAL_FEATURES } from './device.js';
import { DispatchTimer, median, type TimingSource } from './gpuTimer.js';
import type { ModelSpec } from './model.js';
import { choiceKey, kernelSetSignature, opKernel, scratchBuffers, type Choices, type Direction } from './opKernels.js';
import { planForward } from './plan.js';

/**
 * Bump when a kernel or the way of choosing changes enough that old tables should be remade.
 * 2: interleaved rounds, the fastest run decides, the spread is recorded; the device's features in the key.
 * 3: close calls the extra rounds do not settle are decided head to head, and how is recorded (decisions).
 */
const TUNING_REVISION = 3;

/** The timed runs of one version on one kernel shape (the warm-up run is not among them). */
export interface RunSpread {
  minMs: number;
  medianMs: number;
  maxMs: number;
  runs: number;
}

export interface TuningTable {
  /** The adapter, its features and the kernel set it was made for (see tuningKey). */
  key: string;
  model: string;
  created: string;
  tookMs: number;
  timing: TimingSource;
  /** `${kernel}|${shape}` → version. */
  choices: Record<string, string>;
  /** `${kernel}|${shape}` → the fastest run in ms per version on the shape tuned: what the choice is made on. */
  timings: Record<string, Record<string, number>>;
  /** `${kernel}|${shape}` → per version the runs' min, median, max and count (1 for a version cut after the first round). */
  spread: Record<string, Record<string, RunSpread>>;
  /** `${kernel}|${shape}` → how the choice was made (see RoundsResult.decision). */
  decisions: Record<string, Decision>;
}

/**
 * How timeInRounds chose: 'fastest', the fastest run (and the median agreeing, or the others far
 * behind); 'rounds', head to head over the rounds the best two both ran, `won` of `of` against `against`.
 */
export type Decision = { by: 'fastest' } | { by: 'rounds'; against: string; won: number; of: number };

/** Where tables live between runs. */
export interface TuningStore {
  /** Human-readable location, for messages. */
  where: string;
  read(key: string, model: string): Promise<TuningTable | undefined>;
  write(table: TuningTable): Promise<void>;
}

/**
 * The device features that change what is tuned or how: kernel versions need shader-f16 or subgroups,
 * and timestamp-query decides GPU time against wall clock. Sorted, '+'-joined; 'no features' when none.
 */
export function tuningFeatures(features: ReadonlySet<string>): string {
  return (
    OPTIONAL_FEATURES.filter((f) => features.has(f))
      .sort()
      .join('+') || 'no features'
  );
}

/**
 * Adapter identity + the device's features + kernel set: a table made for another GPU, driver, feature
 * set or set of versions is not reused.
 */
export function tuningKey(device: GPUDevice): string {
  const info = device.adapterInfo as GPUAdapterInfo | undefined;
  const adapter = info ? [info.vendor, info.architecture, info.device, info.description].join('/') : 'unknown adapter';
  return `${adapter}|${tuningFeatures(device.features)}|r${TUNING_REVISION}|${kernelSetSignature()}`;
}

export interface TuneOptions {
  /** Rounds every version not cut takes part in, after one warm-up run (default 3). */
  runs?: number;
  /** After each kernel shape is measured: a line for logs and the count done of the total. */
  onProgress?: (line: string, step: TuningStep) => void;
}

export interface TuningStep {
  done: number;
  total: number;
}

export interface RoundsOptions {
  /** Rounds for every version not cut (default 3). */
  rounds?: number;
  /** After the first round, a version slower than `cut` × the best is out (default 2). */
  cut?: number;
  /**
   * Unless the best is more than `close` (0.1: 10%) ahead of the next by its fastest run and by its
   * median, the two run extra rounds (default 0.1).
   */
  close?: number;
  /** At most this many extra rounds (default 4). */
  extraRounds?: number;
}

export interface RoundsResult {
  choice: string;
  decision: Decision;
  /** Every timed run per version, in the order run. */
  ms: Record<string, number[]>;
  /** Versions cut after the first round. */
  cut: string[];
  /** Extra rounds the best two ran. */
  extraRounds: number;
}

/** The order of round `round`: `versions` rotated left by round (mod their count). */
export function roundOrder<T>(versions: readonly T[], round: number): T[] {
  const k = versions.length ? round % versions.length : 0;
  return [...versions.slice(k), ...versions.slice(0, k)];
}

const fastest = (ms: readonly number[]) => Math.min(...ms);

/** The versions by `stat` of their runs, best first (ties: the earlier in `versions`, the kernel's default order). */
function ranked(versions: readonly string[], ms: Record<string, number[]>, stat: (ms: readonly number[]) => number = fastest): string[] {
  return [...versions].sort((a, b) => stat(ms[a]) - stat(ms[b]) || versions.indexOf(a) - versions.indexOf(b));
}

/**
 * The tuner's schedule, apart from the GPU: `time(version)` runs one version once and gives its ms.
 * One warm-up run each, then interleaved rounds (see the comment at the top); `versions` in the
 * kernel's default order, which also breaks ties. The cut after the first round compares the faster
 * of each version's warm-up and first run.
 */
export async function timeInRounds(versions: readonly string[], time: (version: string) => Promise<number>, options: RoundsOptions = {}): Promise<RoundsResult> {
  const { rounds = 3, cut = 2, close = 0.1, extraRounds = 4 } = options;
  if (versions.length === 0) throw new Error('timeInRounds: no version to time');
  const ms: Record<string, number[]> = Object.fromEntries(versions.map((v) => [v, []]));
  // The round of each run, to pair two versions' runs round by round.
  const roundOf: Record<string, number[]> = Object.fromEntries(versions.map((v) => [v, []]));
  const run = async (v: string, round: number) => {
    ms[v].push(await time(v));
    roundOf[v].push(round);
  };
  // The warm-up runs count for the cut only: load and first-use costs only ever add time, so the
  // faster of a version's two first runs is the safer estimate to cut on (one run, slowed tenfold by
  // a busy spell, would throw out the best).
  const warm: Record<string, number> = {};
  for (const v of versions) warm[v] = await time(v);
  let alive = [...versions];
  const cutOut: string[] = [];
  const mainRounds = Math.max(1, rounds);
  for (let round = 0; round < mainRounds; round++) {
    for (const v of roundOrder(alive, round)) await run(v, round);
    if (round === 0) {
      const first = (v: string) => Math.min(warm[v], ms[v][0]);
      const best = Math.min(...alive.map(first));
      cutOut.push(...alive.filter((v) => first(v) > cut * best));
      alive = alive.filter((v) => first(v) <= cut * best);
    }
  }
  // The leader by its fastest run, its closest rival (the medians' leader if that is another), and
  // whether both statistics put the leader first.
  const contest = () => {
    const [a, second] = ranked(alive, ms);
    const [byMedian] = ranked(alive, ms, median);
    return { a, b: byMedian === a ? second : byMedian, agree: byMedian === a };
  };
  let extra = 0;
  for (; extra < extraRounds && alive.length > 1; extra++) {
    const { a, b, agree } = contest();
    // Settled when both statistics put the leader more than `close` ahead.
    if (agree && fastest(ms[b]) > (1 + close) * fastest(ms[a]) && median(ms[b]) > (1 + close) * median(ms[a])) break;
    for (const v of roundOrder([a, b], extra)) await run(v, mainRounds + extra);
  }
  const result = { ms, cut: cutOut, extraRounds: extra };
  if (alive.length === 1) return { ...result, choice: alive[0], decision: { by: 'fastest' } };
  const { a, b, agree } = contest();
  if (agree) return { ...result, choice: a, decision: { by: 'fastest' } };
  // The rounds a and b both ran, pair by pair.
  let [won, of] = [0, 0];
  roundOf[a].forEach((round, i) => {
    const j = roundOf[b].indexOf(round);
    if (j < 0) return;
    of++;
    if (ms[a][i] < ms[b][j]) won++;
  });
  const [choice, other, wins] = 2 * won >= of ? [a, b, won] : [b, a, of - won];
  return { ...result, choice, decision: { by: 'rounds', against: other, won: wins, of } };
}

export function runSpread(ms: readonly number[]): RunSpread {
  return { minMs: Math.min(...ms), medianMs: median(ms), maxMs: Math.max(...ms), runs: ms.length };
}

/** In words: by how much the choice's fastest run beat the next version's, or the rounds it won head to head. */
export function decisionText(timings: Record<string, number>, choice: string, decision: Decision | undefined): string {
  if (decision?.by === 'rounds') return `faster in ${decision.won} of ${decision.of} rounds against ${decision.against}`;
  const m = tuningMargin(timings, choice);
  return m ? `${(100 * m.margin).toFixed(0)}% ahead of ${m.next}` : 'the only version';
}

/** How far the choice is ahead: the next fastest version and its fastest run over the choice's, less 1 (0.12: 12% slower). */
export function tuningMargin(timings: Record<string, number>, choice: string): { next: string; margin: number } | undefined {
  const others = Object.entries(timings).filter(([v]) => v !== choice);
  if (!others.length || timings[choice] === undefined) return undefined;
  const [next, ms] = others.reduce((a, b) => (b[1] < a[1] ? b : a));
  return { next, margin: ms / timings[choice] - 1 };
}

/** Times the candidates of every multi-version kernel the model uses, forward and backward. */
export async function tune(device: GPUDevice, model: ModelSpec, options: TuneOptions = {}): Promise<TuningTable> {
  const t0 = performance.now();
  const choices: Record<string, string> = {};
  const timings: Record<string, Record<string, number>> = {};
  const spread: Record<string, Record<string, RunSpread>> = {};
  const decisions: Record<string, Decision> = {};
  // The distinct (kernel, shape) pairs first, so progress can say how many are left.
  const jobs: { key: string; k: NonNullable<ReturnType<typeof opKernel>>; candidates: NonNullable<ReturnType<typeof opKernel>>['candidates'] }[] = [];
  // On a CPU rasteriser: reduced shapes (a full VGG layer takes seconds per run there), and no
  // workgroup-tiled version (several times slower there, and seconds to compile each). On a GPU the full
  // shapes: a reduced problem fills too few of its cores to rank versions that differ in parallelism.
  const software = isSoftwareAdapter(device.adapterInfo);
  // On a GPU also the dense layers of a batch of 8 (SmoothGrad's and Integrated Gradients' default rows,
  // the benchmark's batch) and with float16 weights, whose shapes key their own choices: without them a
  // batched or f16 network would run the default version (bandwidth-bound there, the choice matters most).
  const extra = software ? [] : [...planForward(model, 8).ops, ...planForward(model, 1, { denseWeightsF16: true }).ops].filter((op) => op.kind === 'dense');
  for (const op of [...planForward(model).ops, ...extra]) {
    for (const direction of ['forward', 'backward'] as Direction[]) {
      const k = opKernel(op, direction, { reduce: software, features: device.features });
      const candidates = k?.candidates.filter((c) => !c.reference && !(software && c.workgroupTiled)) ?? [];
      if (!k || candidates.length < 2) continue;
      const key = choiceKey(k.kernel, k.shape);
      if (!jobs.some((j) => j.key === key)) jobs.push({ key, k, candidates });
    }
  }
  const timer = DispatchTimer.create(device);
  try {
    for (const [i, { key, k, candidates }] of jobs.entries()) {
      const scratch = scratchBuffers(device, k, 'tuning');
      const dispatches = new Map<string, Dispatch>();
      try {
        // Every version's pipeline at once (compiled in parallel where the implementation can).
        const prepared = await Promise.allSettled(candidates.map((c) => c.prepare(device, scratch.buffers, `tuning ${k.layer} ${k.kernel}.${c.version}`)));
        prepared.forEach((p, j) => p.status === 'fulfilled' && dispatches.set(candidates[j].version, p.value));
        const failed = prepared.find((p) => p.status === 'rejected');
        if (failed) throw failed.reason;
        const r = await timeInRounds(
          candidates.map((c) => c.version),
          (v) => timer.time(dispatches.get(v)!),
          { rounds: options.runs },
        );
        choices[key] = r.choice;
        timings[key] = Object.fromEntries(Object.entries(r.ms).map(([v, ms]) => [v, Math.min(...ms)]));
        spread[key] = Object.fromEntries(Object.entries(r.ms).map(([v, ms]) => [v, runSpread(ms)]));
        decisions[key] = r.decision;
        options.onProgress?.(
          `tuning ${key}: ${Object.entries(spread[key])
            .map(([v, s]) => `${v} ${s.minMs.toFixed(2)} ms${s.runs > 1 ? ` (median ${s.medianMs.toFixed(2)}, ${s.runs} runs)` : ' (cut)'}`)
            .join(', ')} → ${r.choice}, ${decisionText(timings[key], r.choice, r.decision)}`,
          { done: i + 1, total: jobs.length },
        );
      } finally {
        dispatches.forEach(destroyDispatch);
        scratch.destroy();
      }
    }
  } finally {
    timer.destroy();
  }
  return { key: tuningKey(device), model: model.name, created: new Date().toISOString(), tookMs: performance.now() - t0, timing: timer.timing, choices, timings, spread, decisions };
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

/**
 * One line per tuned choice, for `--verbose` and the benchmark: the version, how far ahead of the next
 * fastest it was, and the runs that say so.
 */
export function describeTuning(t: Tuning, where?: string): string[] {
  if (t.source === 'off') return ['kernel tuning off: each kernel runs its default version'];
  const table = t.table!;
  const head = t.source === 'cache' ? `kernel choices from ${where ?? 'the tuning cache'} (tuned ${table.created})` : `kernel choices tuned now in ${(table.tookMs / 1000).toFixed(1)} s${where ? `, saved to ${where}` : ''}`;
  return [
    head,
    ...Object.entries(t.choices).map(([k, v]) => {
      const s = table.spread?.[k]?.[v];
      const detail = [table.timings?.[k] && decisionText(table.timings[k], v, table.decisions?.[k]), s && `${s.minMs.toFixed(2)}–${s.maxMs.toFixed(2)} ms in ${s.runs} runs`].filter(Boolean);
      return `  ${k} → ${v}${detail.length ? ` (${detail.join('; ')})` : ''}`;
    }),
  ];
}
