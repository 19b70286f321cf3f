// `npm run bench`, host-independent: the same measurements in Node (Dawn), in Chrome (a page driven
// by puppeteer) and in anyone's browser (the bench page, src/app/bench.ts). Peaks, per-kernel
// profiles, kernel tuning, end-to-end forward and Grad-CAM latency (batch 1, optionally batched
// forwards), cold start, GPU memory, per-layer forward times, the CAM family on the kept forward
// (each method's time over Grad-CAM's, top-5 maps in one pass against five, Score-CAM and Ablation-CAM
// per batch row and per image), the pixel-level methods on the kept forward (the backward to the image
// against the forward, Guided Grad-CAM's extra, SmoothGrad and Integrated Gradients per sample in
// batches), and the TensorFlow.js peer (WebGPU on the same adapter, WASM as the CPU baseline) on the
// same weights and image, with the heatmaps compared so the race is fair. The host only says how to
// get TF.js and weights, and where progress goes; everything timed runs here.
import { METHOD_SPECS, type CamMethod, type CamTarget } from '../engine/camMethods.js';
import { GradCam, type ExplainOptions, type GradCamResult, type PixelResult } from '../engine/gradcam.js';
import { median } from '../engine/gpuTimer.js';
import type { ModelSpec } from '../engine/model.js';
import { Network, type ImageInput } from '../engine/network.js';
import { PIXEL_METHOD_SPECS, type PixelMethod } from '../engine/pixelMethods.js';
import { heNormalWeights, syntheticPhoto } from '../engine/synthetic.js';
import { describeTuning, loadOrTune, type TuningMode, type TuningStore } from '../engine/tuning.js';
import type { GpuWeights } from '../engine/weights/gpuWeights.js';
import type { WeightsInfo } from '../engine/weights/format.js';
import { PIXEL_BATCH_ROWS, PIXEL_BATCH_ROWS_SOFTWARE, timedPixelMethods } from './config.js';
import { benchCases, benchKernels, formatKernelRow, measurePeaks, type KernelRow, type Peaks } from './kernelBench.js';
import { TfjsVgg, type PeerBackend } from './tfjsVgg.js';

/** Seed of the synthetic weights made in memory when the host brings none. */
const SYNTHETIC_SEED = 1;

type Tf = typeof import('@tensorflow/tfjs-core');

export interface BenchConfig {
  model: ModelSpec;
  quick: boolean;
  runs: number;
  /** Kernel profiles only for these layers (all when absent). */
  layers?: readonly string[];
  allVersions: boolean;
  peer: boolean;
  /** Batch sizes of the end-to-end forward; 1 always runs (Grad-CAM is per image). */
  batches: readonly number[];
  tune: TuningMode;
  /** Our dense layers with float16 weights (the peer stays float32). */
  f16: boolean;
  /**
   * CAM methods to time on the kept forward (none: skip). Any gradient or eigen method brings Grad-CAM
   * as the baseline of its extra time; Grad-CAM itself brings the top-5 comparison.
   */
  methods: readonly CamMethod[];
  /**
   * Pixel-level methods to time on the kept forward (none: skip). Guided Grad-CAM brings guided
   * backprop, the baseline of its extra time.
   */
  pixel: readonly PixelMethod[];
  /** SmoothGrad's and Integrated Gradients' samples per batch (default PIXEL_BATCH_ROWS, PIXEL_BATCH_ROWS_SOFTWARE on a software adapter). */
  pixelBatch?: number;
}

/** Where a run is, for a progress bar: what runs now, and how many of the run's steps are done. */
export interface BenchProgress {
  stage: 'peaks' | 'tuning' | 'kernels' | 'ours' | 'methods' | 'pixel' | 'batched' | 'peer' | 'done';
  /**
   * Steps finished, of `total` (a step: the peak probes, the tuning, one kernel case, one timed series
   * end to end). Steps differ in length, so this counts work, it does not predict time. `total` is
   * settled once the tuning has chosen the kernel versions.
   */
  done: number;
  total: number;
  /** What runs now, in words (the kernel and layer while profiling). */
  what: string;
  /** The kernel row just measured, so a table can fill as the run goes. */
  kernel?: KernelRow;
}

export interface BenchHost {
  name: 'node' | 'chrome';
  log(line: string): void;
  /** Structured progress beside the log lines; nothing in the run waits for it. */
  progress?(p: BenchProgress): void;
  /** TF.js with `backend` selected. */
  peer(backend: PeerBackend): Promise<Tf>;
  tuningStore?: TuningStore;
  /**
   * Weights for the end-to-end runs, timed as part of the cold start: from disk when the host has a
   * weights directory, otherwise generated (and then also kept on the CPU for the peer).
   */
  weights?(device: GPUDevice, model: ModelSpec): Promise<{ weights: GpuWeights; from: string; info: WeightsInfo }>;
}

export interface Latency {
  oursMs: number;
  peerMs?: number;
  /** peer time / our time: above 1 means we are faster. */
  ratio?: number;
  wasmMs?: number;
}

/** One gradient or eigen method's explain() on the kept forward (backward, map, overlay: one submission). */
export interface MethodTiming {
  method: CamMethod;
  /** Median wall clock of explain(), submission to results on the CPU. */
  oursMs: number;
  /** Median GPU time of its stages (timestamp queries; absent without them). */
  gpuMs?: number;
  /** (time − Grad-CAM's) / Grad-CAM's × 100, on `basis`: GPU time when measured, else wall clock. */
  extraPct: number;
  basis: 'gpu' | 'wall';
}

/** Grad-CAM's top-5 maps (ranks 0–4) in one backward against one map and against five single explains. */
export interface TopMapsTiming {
  k: 5;
  /** One map: Grad-CAM's row of the timings. */
  oneMs: number;
  /** The k maps in one explain (one backward with k gradient rows). */
  topMs: number;
  /** k single-target explains, summed. */
  separateMs: number;
  /** topMs / oneMs (target ≤ 1.5). */
  ratio: number;
  basis: 'gpu' | 'wall';
}

/** Score-CAM or Ablation-CAM: K perturbed forwards (one per channel of the layer) in batches of rows. */
export interface PerturbationTiming {
  method: 'scorecam' | 'ablationcam';
  /** Wall clock per perturbed row: between two progress callbacks over the rows between them, or the full run over `rows`. */
  perRowMs: number;
  /** perRowMs × rows: measured (the full run) or extrapolated from two batches. */
  perImageMs: number;
  /** Rows one image takes: K, the layer's channels. */
  rows: number;
  /** Only the first batches ran (a software adapter or --quick). */
  extrapolated: boolean;
  /** Rows per batched forward. */
  batchRows: number;
}

/** Saliency, guided backprop or Guided Grad-CAM on the kept forward: one backward from the score to the image. */
export interface PixelBackwardTiming {
  method: 'saliency' | 'guided-backprop' | 'guided-gradcam';
  /** Median wall clock of attribute() (the backward, the read-back, the map on the CPU; Guided Grad-CAM also its Grad-CAM explain). */
  oursMs: number;
  /** Median GPU time of the backward from the score to the image, the preprocessing's backward included (timestamp queries; absent without them). */
  gpuMs?: number;
  /** The backward over the forward, both on the section's basis: gpuMs / pixel.forwardMs, or oursMs / pixel.forwardMs on wall clock. */
  backwardOverForward: number;
  /** Guided Grad-CAM only: its wall clock − guided backprop's (the Grad-CAM explain, upsampling and product), and that in % of guided backprop's. */
  extraMs?: number;
  extraPct?: number;
}

/** SmoothGrad or Integrated Gradients: many inputs near the image, each a forward and a backward to the image as one row of a batch. */
export interface PixelSampledTiming {
  method: 'smoothgrad' | 'integrated-gradients';
  /** Wall clock per sample: the timed batch (or the whole call) over the samples it held. */
  perSampleMs: number;
  /** The samples perSampleMs is from: the second batch's (partial) or one whole call's (median of `runs` calls). */
  fromSamples: number;
  /** Samples the call ran (SmoothGrad: samples; Integrated Gradients: steps + 2, the baseline and the image included). */
  samples: number;
  /** Samples per batched forward and backward, as the engine ran them. */
  batchRows: number;
  /** Submissions (batches) of the call: ceil(samples / batchRows). */
  submissions: number;
  /** Only the second batch was timed (a software adapter or --quick); the first also built the batched network. */
  partial: boolean;
  /** perSampleMs / the batch-1 forward's wall clock (pixel.forwardWallMs). */
  perSampleOverForward: number;
}

export interface BenchReport {
  date: string;
  host: 'node' | 'chrome';
  model: string;
  runs: number;
  quick: boolean;
  f16: boolean;
  device: { vendor: string; architecture: string; device: string; description: string; software: boolean; features: string[]; limits: Record<string, number>; userAgent?: string };
  peaks: Peaks;
  tuning: { source: string; tookMs?: number; choices: Record<string, string>; summary: string[] };
  endToEnd: { forward: Latency; gradcam: Latency; batched: (Latency & { batch: number; oursPerImageMs: number })[] };
  coldStartMs: number;
  coldStartFrom: string;
  /** Which weights ran (speed does not depend on their values; synthetic ones are the default). */
  weights: WeightsInfo;
  gpuMemoryBytes: number;
  heatmapAgreement?: { maxAbsDiff: number; agree: boolean };
  peer: Record<string, { forwardMs: number; gradcamMs: number; firstForwardMs: number; firstGradcamMs: number; runs: number }>;
  stageTimingsMs: Record<string, number>;
  /** Forward GPU time per layer: ours from pass timestamps, the peer's from TF.js' profiler. */
  layers: { layer: string; oursMs: number; peerMs?: number }[];
  kernels: KernelRow[];
  /** The CAM family on the kept forward at `layer` (the default target layer); empty lists with --methods none. */
  methods: { layer: string; timings: MethodTiming[]; topMaps?: TopMapsTiming; perturbation: PerturbationTiming[] };
  /**
   * The pixel-level methods on the kept forward; empty lists with --pixel none. The forward they are
   * compared with runs in the same section, one forward of the image (GradCam.forward(), which keeps
   * it) before each timed backward (before each sampled call when no backward method ran): `forwardMs`
   * on `basis` (the GPU time of the preprocessing and the forward where the device has timestamp
   * queries, else its wall clock) and `forwardWallMs`, medians; both absent when no pixel method ran.
   */
  pixel: { basis: 'gpu' | 'wall'; forwardMs?: number; forwardWallMs?: number; backward: PixelBackwardTiming[]; sampled: PixelSampledTiming[] };
}

import { isSoftwareAdapter } from '../engine/device.js';
export { isSoftwareAdapter };

async function timeRuns(runs: number, f: () => Promise<unknown>): Promise<{ first: number; median: number }> {
  let t = performance.now();
  await f();
  const first = performance.now() - t;
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    t = performance.now();
    await f();
    ms.push(performance.now() - t);
  }
  return { first, median: median(ms) };
}

/** GPU ms per layer of a profiled forward's passes (one per kernel, labelled '<layer> <kind>'). */
function forwardMsPerLayer(r: Pick<GradCamResult, 'passTimings'>): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of r.passTimings) if (p.stage === 'forward') out.set(p.label.split(' ')[0], (out.get(p.label.split(' ')[0]) ?? 0) + p.ms);
  return out;
}

/** Rows per batch when only the first two batches of a perturbation method run (software adapter, --quick). */
export const PARTIAL_BATCH_ROWS: Readonly<Record<PerturbationTiming['method'], number>> = { ablationcam: 16, scorecam: 2 };

/** The gradient and eigen methods timed for `methods`: Grad-CAM first (the baseline) when any is. */
export function timedMethods(methods: readonly CamMethod[]): CamMethod[] {
  const direct = methods.filter((m) => !METHOD_SPECS[m].perturbation);
  return direct.length ? [...new Set<CamMethod>(['gradcam', ...direct])] : [];
}

const perturbationMethods = (methods: readonly CamMethod[]) => [...new Set(methods.filter((m): m is PerturbationTiming['method'] => METHOD_SPECS[m].perturbation !== undefined))];

/** Series of the methods part, for the progress count: each timed method, the top-5, each perturbation method. */
export function methodSteps(methods: readonly CamMethod[]): number {
  return timedMethods(methods).length + (methods.includes('gradcam') ? 1 : 0) + perturbationMethods(methods).length;
}

/** GPU time of an explain: its stages' sum, undefined without timestamp queries. */
function gpuMsOf(r: GradCamResult): number | undefined {
  const stages = Object.entries(r.timingsMs).filter(([k]) => k !== 'total');
  return stages.length ? stages.reduce((a, [, ms]) => a + ms, 0) : undefined;
}

/** Median wall clock and GPU time of `runs` explains after a warm-up one (which builds the method's pipelines). */
async function timeExplains(runs: number, f: () => Promise<GradCamResult[]>, warmUp = true): Promise<{ wallMs: number; gpuMs?: number }> {
  if (warmUp) await f();
  const wall: number[] = [];
  const gpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const results = await f();
    wall.push(performance.now() - t);
    const g = results.map(gpuMsOf);
    if (g.every((ms) => ms !== undefined)) gpu.push(g.reduce((a, ms) => a + ms!, 0));
  }
  return { wallMs: median(wall), gpuMs: gpu.length === runs ? median(gpu) : undefined };
}

/** Thrown from onProgress to stop a perturbation run once enough batches were timed. */
class EnoughBatches extends Error {
  constructor() {
    super('bench: enough batches timed');
  }
}

/**
 * The CAM family on `cam`'s kept forward, at its default layer. Gradient and eigen methods: median
 * explain() time, wall clock and GPU, and the extra over Grad-CAM's (GPU time when the device has
 * timestamp queries). Top-5: one explain with ranks 0–4 against one map and five explains. Score-CAM and
 * Ablation-CAM: with `partial`, two batches of PARTIAL_BATCH_ROWS timed between their progress callbacks
 * and extrapolated to the layer's K rows; otherwise one full run after a warm-up batch.
 */
async function benchMethods(
  cam: GradCam,
  methods: readonly CamMethod[],
  runs: number,
  partial: boolean,
  step: (what: string) => void,
  log: (line: string) => void,
): Promise<BenchReport['methods']> {
  const layer = cam.defaultLayer;
  const started = performance.now();
  const timings: MethodTiming[] = [];
  const measured = new Map<CamMethod, { wallMs: number; gpuMs?: number }>();
  for (const method of timedMethods(methods)) {
    step(`CAM methods: ${method} on the kept forward, ${runs} runs`);
    const t = await timeExplains(runs, async () => [await cam.explain({ method })]);
    measured.set(method, t);
  }
  // GPU time when every method has it (timestamp queries), else wall clock for all.
  const basis = [...measured.values()].every((t) => t.gpuMs !== undefined) ? 'gpu' : 'wall';
  const pick = (t: { wallMs: number; gpuMs?: number }) => (basis === 'gpu' ? t.gpuMs! : t.wallMs);
  const base = measured.get('gradcam');
  for (const [method, t] of measured) {
    const extraPct = method === 'gradcam' ? 0 : 100 * (pick(t) / pick(base!) - 1);
    timings.push({ method, oursMs: t.wallMs, ...(t.gpuMs !== undefined ? { gpuMs: t.gpuMs } : {}), extraPct, basis });
    log(`ours: ${method} ${t.wallMs.toFixed(1)} ms${t.gpuMs !== undefined ? ` (GPU ${t.gpuMs.toFixed(1)} ms)` : ''}${method === 'gradcam' ? '' : `, ${extraPct >= 0 ? '+' : ''}${extraPct.toFixed(1)}% over Grad-CAM (${basis})`}`);
  }

  let topMaps: TopMapsTiming | undefined;
  if (methods.includes('gradcam')) {
    step(`CAM methods: top-5 Grad-CAM maps in one pass and in five, ${runs} runs`);
    const ranks: CamTarget[] = [0, 1, 2, 3, 4].map((rank) => ({ kind: 'rank', rank }));
    const top = await timeExplains(runs, async () => [await cam.explain({ targets: ranks })]);
    // One target's plan is Grad-CAM's, built already: no warm-up.
    const separate = await timeExplains(runs, async () => {
      const out: GradCamResult[] = [];
      for (const target of ranks) out.push(await cam.explain({ target }));
      return out;
    }, false);
    const one = pick(base!);
    const topBasis = basis === 'gpu' && top.gpuMs !== undefined && separate.gpuMs !== undefined ? 'gpu' : 'wall';
    const [oneMs, topMs, separateMs] = topBasis === 'gpu' ? [one, top.gpuMs!, separate.gpuMs!] : [base!.wallMs, top.wallMs, separate.wallMs];
    topMaps = { k: 5, oneMs, topMs, separateMs, ratio: topMs / oneMs, basis: topBasis };
    log(`ours: top-5 maps in one pass ${topMs.toFixed(1)} ms (${topMaps.ratio.toFixed(2)}× one map, ${oneMs.toFixed(1)} ms), five passes ${separateMs.toFixed(1)} ms (${topBasis})`);
  }

  const perturbation: PerturbationTiming[] = [];
  const device = cam.network.device;
  const rows = cam.network.tensorShape(layer)[2];
  for (const method of perturbationMethods(methods)) {
    const batchRows = partial ? PARTIAL_BATCH_ROWS[method] : undefined;
    step(`CAM methods: ${method}, ${partial ? `the first two batches of ${batchRows} rows (extrapolated to ${rows})` : `${rows} rows`}`);
    const marks: { done: number; at: number }[] = [];
    /** One explain, stopped after `stopAfter` progress callbacks; the work already submitted is waited for. */
    const attempt = async (options: ExplainOptions, stopAfter?: number): Promise<number> => {
      marks.length = 0;
      const t0 = performance.now();
      try {
        await cam.explain({
          ...options,
          onProgress: (done) => {
            marks.push({ done, at: performance.now() });
            if (stopAfter !== undefined && marks.length >= stopAfter) throw new EnoughBatches();
          },
        });
      } catch (e) {
        if (!(e instanceof EnoughBatches)) throw e;
      } finally {
        await device.queue.onSubmittedWorkDone();
      }
      return performance.now() - t0;
    };
    let entry: PerturbationTiming;
    const wallMs = await attempt({ method, batchRows }, partial ? 2 : 1);
    if (partial && marks.length >= 2) {
      // The first batch also builds the batched network and its pipelines: time the second.
      const perRowMs = (marks[1].at - marks[0].at) / (marks[1].done - marks[0].done);
      entry = { method, perRowMs, perImageMs: perRowMs * rows, rows, extrapolated: true, batchRows: marks[0].done };
    } else if (partial) {
      // One batch held every row: that was the whole run.
      entry = { method, perRowMs: wallMs / rows, perImageMs: wallMs, rows, extrapolated: false, batchRows: marks[0]?.done ?? rows };
    } else {
      // The first batch above built the pipelines; now the whole run.
      const first = marks[0]?.done ?? rows;
      const full = await attempt({ method, batchRows });
      entry = { method, perRowMs: full / rows, perImageMs: full, rows, extrapolated: false, batchRows: first };
    }
    perturbation.push(entry);
    log(
      `ours: ${method} ${entry.perRowMs.toFixed(1)} ms per row (batches of ${entry.batchRows}), ${(entry.perImageMs / 1000).toFixed(1)} s per image of ${rows} rows` +
        `${entry.extrapolated ? ' (extrapolated from two batches)' : ''}`,
    );
  }
  if (methods.length) log(`ours: CAM methods timed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { layer, timings, topMaps, perturbation };
}

/** Series of the pixel part, for the progress count: each backward method timed (Guided Grad-CAM brings guided backprop), each sampled method. */
export function pixelSteps(pixel: readonly PixelMethod[]): number {
  return timedPixelMethods(pixel).length;
}

/**
 * The pixel-level methods on `cam`'s kept forward. Before each timed backward a forward of `image`
 * (GradCam.forward(), which keeps it for the call), so that the backward is compared with a forward
 * measured beside it (before each sampled call instead when no backward method runs). Saliency, guided backprop and Guided Grad-CAM: median attribute() time after a
 * warm-up (which builds the backward to the image), wall clock and the GPU time of the backward, over
 * the forward's (GPU time where the device has timestamp queries, else wall clock); Guided Grad-CAM's
 * extra over guided backprop (wall clock: its Grad-CAM explain is not in the backward's GPU time).
 * SmoothGrad and Integrated Gradients, `rows` samples per batch: with `partial`, one call of two
 * batches, the second timed between the progress callbacks (the first also builds the batched
 * network); otherwise a warm-up batch, then `runs` calls of two batches.
 */
async function benchPixel(
  cam: GradCam,
  image: ImageInput,
  pixel: readonly PixelMethod[],
  runs: number,
  partial: boolean,
  rows: number,
  step: (what: string) => void,
  log: (line: string) => void,
): Promise<BenchReport['pixel']> {
  const started = performance.now();
  const timed = timedPixelMethods(pixel);
  const direct = timed.filter((m): m is PixelBackwardTiming['method'] => !PIXEL_METHOD_SPECS[m].sampled);
  const sampledMethods = timed.filter((m): m is PixelSampledTiming['method'] => PIXEL_METHOD_SPECS[m].sampled);
  const forwardWall: number[] = [];
  const forwardGpu: (number | undefined)[] = [];
  const forward = async () => {
    const t = performance.now();
    const f = await cam.forward(image);
    forwardWall.push(performance.now() - t);
    forwardGpu.push(f.timingsMs.forward === undefined ? undefined : f.timingsMs.forward + (f.timingsMs.preprocess ?? 0));
  };

  const measured = new Map<PixelBackwardTiming['method'], { wallMs: number; gpuMs?: number }>();
  for (const method of direct) {
    step(`pixel methods: ${method}, the backward to the image on the kept forward, ${runs} runs`);
    await cam.attribute({ method });
    const wall: number[] = [];
    const gpu: number[] = [];
    for (let i = 0; i < runs; i++) {
      await forward();
      const t = performance.now();
      const r = await cam.attribute({ method });
      wall.push(performance.now() - t);
      if (r.timingsMs.backward !== undefined) gpu.push(r.timingsMs.backward);
    }
    measured.set(method, { wallMs: median(wall), gpuMs: gpu.length === runs ? median(gpu) : undefined });
  }

  const sampled: PixelSampledTiming[] = [];
  for (const method of sampledMethods) {
    // Two batches of `rows` inputs (Integrated Gradients needs at least one step besides the baseline and the image).
    const count = Math.max(2 * rows, method === 'integrated-gradients' ? 3 : 1);
    const size = (n: number) => (method === 'smoothgrad' ? { samples: n } : { steps: Math.max(1, n - 2) });
    step(`pixel methods: ${method}, ${partial ? `two batches of ${rows} samples, the second timed` : `${runs} runs of two batches of ${rows} samples`}`);
    let entry: Omit<PixelSampledTiming, 'perSampleOverForward'>;
    if (partial) {
      // The forwards beside the backwards serve, when there were some.
      if (!forwardWall.length) await forward();
      const marks: { done: number; at: number }[] = [];
      const r = await cam.attribute({ method, ...size(count), batchRows: rows, onProgress: (done) => marks.push({ done, at: performance.now() }) });
      const s = r.sampling!;
      const timedBatch = marks.length >= 2;
      const fromSamples = timedBatch ? marks[1].done - marks[0].done : s.samples;
      const perSampleMs = timedBatch ? (marks[1].at - marks[0].at) / fromSamples : r.timingsMs.sampling / s.samples;
      entry = { method, perSampleMs, fromSamples, samples: s.samples, batchRows: s.batchRows, submissions: s.submissions, partial: timedBatch };
    } else {
      await cam.attribute({ method, ...size(rows), batchRows: rows });
      const perSample: number[] = [];
      let s: PixelResult['sampling'];
      for (let i = 0; i < runs; i++) {
        if (!direct.length) await forward();
        const r = await cam.attribute({ method, ...size(count), batchRows: rows });
        s = r.sampling!;
        perSample.push(r.timingsMs.sampling / s.samples);
      }
      entry = { method, perSampleMs: median(perSample), fromSamples: s!.samples, samples: s!.samples, batchRows: s!.batchRows, submissions: s!.submissions, partial: false };
    }
    sampled.push({ ...entry, perSampleOverForward: 0 });
  }
  if (!timed.length) return { basis: cam.network.device.features.has('timestamp-query') ? 'gpu' : 'wall', backward: [], sampled: [] };

  // GPU time when every forward and backward has it (timestamp queries), else wall clock for all.
  const basis = forwardGpu.every((ms) => ms !== undefined) && [...measured.values()].every((t) => t.gpuMs !== undefined) ? 'gpu' : 'wall';
  const forwardWallMs = median(forwardWall);
  const forwardMs = basis === 'gpu' ? median(forwardGpu as number[]) : forwardWallMs;
  log(`ours: forward beside the pixel methods ${forwardWallMs.toFixed(1)} ms${basis === 'gpu' ? ` (GPU ${forwardMs.toFixed(1)} ms, preprocessing included)` : ''}, median of ${forwardWall.length}`);
  const backward: PixelBackwardTiming[] = [];
  const guided = measured.get('guided-backprop');
  for (const [method, t] of measured) {
    const row: PixelBackwardTiming = { method, oursMs: t.wallMs, ...(t.gpuMs !== undefined ? { gpuMs: t.gpuMs } : {}), backwardOverForward: (basis === 'gpu' ? t.gpuMs! : t.wallMs) / forwardMs };
    if (method === 'guided-gradcam' && guided) Object.assign(row, { extraMs: t.wallMs - guided.wallMs, extraPct: 100 * (t.wallMs / guided.wallMs - 1) });
    backward.push(row);
    log(
      `ours: ${method}, backward to the image ${basis === 'gpu' ? `${t.gpuMs!.toFixed(1)} ms GPU` : `${t.wallMs.toFixed(1)} ms wall clock`}, ${row.backwardOverForward.toFixed(2)}× the forward` +
        `${row.extraPct !== undefined ? `; ${row.extraPct >= 0 ? '+' : ''}${row.extraPct.toFixed(1)}% over guided-backprop (wall)` : ''}`,
    );
  }
  for (const entry of sampled) {
    entry.perSampleOverForward = entry.perSampleMs / forwardWallMs;
    log(
      `ours: ${entry.method} ${entry.perSampleMs.toFixed(1)} ms per sample in batches of ${entry.batchRows} (${entry.perSampleOverForward.toFixed(2)}× a forward), ` +
        `${entry.partial ? `from the second batch's ${entry.fromSamples} sample(s)` : `from ${entry.fromSamples} samples in ${entry.submissions} batches${runs > 1 ? `, median of ${runs} runs` : ''}`}`,
    );
  }
  log(`ours: pixel methods timed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { basis, forwardMs, forwardWallMs, backward, sampled };
}

export async function runBench(device: GPUDevice, host: BenchHost, config: BenchConfig): Promise<BenchReport> {
  const { model, runs, log } = { ...config, log: host.log };
  const info = device.adapterInfo;
  const deviceInfo: BenchReport['device'] = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    software: isSoftwareAdapter(info),
    features: [...device.features].sort(),
    limits: {
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxBufferSize: device.limits.maxBufferSize,
      maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize,
    },
    userAgent: typeof navigator !== 'undefined' ? navigator.userAgent : undefined,
  };
  log(`${host.name}: ${info.vendor} ${info.architecture} ${info.description}${deviceInfo.software ? ' (software)' : ''}; ${runs} runs per measurement`);

  // Steps, counted as they are announced: the peaks, the tuning, each kernel case, then each timed
  // series (ours: cold start, forward, Grad-CAM, each CAM method, the top-5, each pixel method, each
  // batch; per peer backend: forward, Grad-CAM, and for WebGPU the per-layer profile and each batch).
  const batchesAbove1 = config.batches.filter((b) => b > 1).length;
  const seriesSteps = 3 + methodSteps(config.methods) + pixelSteps(config.pixel) + batchesAbove1 + (config.peer ? 2 + 2 + 1 + batchesAbove1 : 0);
  const caseOptions = { layers: config.layers, allVersions: config.allVersions, f16: config.f16, features: device.features };
  let total = 2 + benchCases(model, caseOptions).length + seriesSteps;
  let done = 0;
  let stage: BenchProgress['stage'] = 'peaks';
  // A step ends when the next one starts; the last, 'done', brings `done` to `total`.
  const step = (next: BenchProgress['stage'], what: string) => {
    done++;
    stage = next;
    host.progress?.({ stage, done: Math.min(done, total), total, what });
  };
  host.progress?.({ stage, done, total, what: 'peak probes: copy bandwidth and multiply–add rate' });
  const peaks = await measurePeaks(device);
  log(`peaks (${peaks.timing}): ${peaks.gflops.toFixed(2)} GFLOP/s multiply–add, ${peaks.gbps.toFixed(2)} GB/s copy`);

  step('tuning', config.tune === 'off' ? 'kernel tuning off' : 'choosing the kernel versions for this device');
  const tuning = await loadOrTune(device, model, host.tuningStore, config.tune, {
    onProgress: (line) => {
      log(line);
      host.progress?.({ stage, done, total, what: `tuning: ${line.trim()}` });
    },
  });
  const tuningSummary = describeTuning(tuning, host.tuningStore?.where);
  for (const l of tuningSummary) log(l);

  const cases = benchCases(model, { ...caseOptions, choices: tuning.choices });
  total = done + 1 + cases.length + seriesSteps;
  const kernels = await benchKernels(device, cases, runs, peaks, {
    onStart: (c) => step('kernels', `${c.op.layer} ${c.op.direction === 'forward' ? 'fwd' : 'bwd'}: ${c.op.kernel}.${c.version} (${c.op.shape})`),
    onRow: (r) => {
      log(formatKernelRow(r));
      host.progress?.({ stage, done, total, what: `${r.layer}: ${r.name}.${r.version} ${r.medianMs.toFixed(2)} ms`, kernel: r });
    },
  });

  // End to end, ours.
  const image = syntheticPhoto(320, 240);
  step('ours', 'ours: cold start (weights, pipelines, first heatmap)');
  const t0 = performance.now();
  const cpuWeights = host.weights ? undefined : heNormalWeights(model, { seed: SYNTHETIC_SEED, classifierGain: 0.01 });
  const loaded = host.weights ? await host.weights(device, model) : undefined;
  const cam = await GradCam.create(device, model, loaded?.weights ?? cpuWeights!, { choices: tuning.choices, f16: config.f16 });
  // The first run also copies out the preprocessed input (600 kB) that the peer is given.
  let lastCam = await cam.run(image, { read: ['input'] });
  const coldStartMs = performance.now() - t0;
  const input = Float32Array.from(lastCam.tensors.get('input')!);
  const coldStartFrom = loaded ? loaded.from : 'weights generated in memory (synthetic)';
  const weightsUsed: WeightsInfo = loaded ? loaded.info : { model: model.name, synthetic: true, seed: SYNTHETIC_SEED };
  step('ours', `ours: forward, ${runs} runs`);
  const forward = await timeRuns(runs, () => cam.network.forward(image));
  step('ours', `ours: Grad-CAM, ${runs} runs`);
  const gradcam = await timeRuns(runs, async () => (lastCam = await cam.run(image)));
  log(`ours: forward ${forward.median.toFixed(1)} ms, Grad-CAM ${gradcam.median.toFixed(1)} ms (stages: ${Object.entries(lastCam.timingsMs).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}), cold start ${coldStartMs.toFixed(0)} ms`);
  const endToEnd: BenchReport['endToEnd'] = { forward: { oursMs: forward.median }, gradcam: { oursMs: gradcam.median }, batched: [] };
  // Per layer: one more forward, profiled (a timed pass per kernel; the runs above record a pass per stage).
  const ours = forwardMsPerLayer(await cam.forward(image, { profile: true }));
  const gpuMemoryBytes = cam.memoryBytes;
  const target = cam.defaultLayer;
  // A software adapter would take minutes per perturbation method: two batches, extrapolated.
  const methods = await benchMethods(cam, config.methods, runs, deviceInfo.software || config.quick, (what) => step('methods', what), log);
  const pixel = await benchPixel(
    cam,
    image,
    config.pixel,
    runs,
    deviceInfo.software || config.quick,
    config.pixelBatch ?? (deviceInfo.software ? PIXEL_BATCH_ROWS_SOFTWARE : PIXEL_BATCH_ROWS),
    (what) => step('pixel', what),
    log,
  );
  cam.dispose();

  // Batched forwards: the same image repeated (the work does not depend on the pixels).
  const batchInputs = new Map<number, Float32Array<ArrayBuffer>>();
  for (const batch of config.batches.filter((b) => b > 1)) {
    const all = new Float32Array(batch * input.length);
    for (let i = 0; i < batch; i++) all.set(input, i * input.length);
    batchInputs.set(batch, all);
    step('batched', `ours: forward at batch ${batch}, ${runs} runs`);
    const weights = host.weights ? (await host.weights(device, model)).weights : cpuWeights!;
    const net = await Network.create(device, model, weights, { batch, choices: tuning.choices, f16: config.f16 });
    try {
      const t = await timeRuns(runs, () => net.forward(all));
      endToEnd.batched.push({ batch, oursMs: t.median, oursPerImageMs: t.median / batch });
      log(`ours: batch ${batch} forward ${t.median.toFixed(1)} ms (${(t.median / batch).toFixed(1)} ms per image)`);
    } finally {
      net.dispose();
    }
  }

  const layers: BenchReport['layers'] = [...ours].map(([layer, oursMs]) => ({ layer, oursMs }));
  let heatmapAgreement: BenchReport['heatmapAgreement'];
  const peer: BenchReport['peer'] = {};
  if (config.peer) {
    if (!cpuWeights) throw new Error('the peer needs the weights in memory: run without --weights (synthetic weights) or with --no-peer');
    for (const backend of ['webgpu', 'wasm'] as const) {
      step('peer', `TF.js ${backend}: loading, then forward`);
      const tf = await host.peer(backend);
      const vgg = new TfjsVgg(tf, model, cpuWeights);
      try {
        // On a software adapter one TF.js WebGPU run takes a minute or more: one timed run in quick mode.
        const peerRuns = backend === 'webgpu' && config.quick ? 1 : runs;
        const f = await timeRuns(peerRuns, () => vgg.forward(input));
        step('peer', `TF.js ${backend}: Grad-CAM (tf.grad)`);
        let heat: Float32Array | undefined;
        const g = await timeRuns(peerRuns, async () => (heat = (await vgg.gradcam(input, target, lastCam.classIndex)).heatmap));
        log(`TF.js ${backend}: forward ${f.median.toFixed(1)} ms (first ${f.first.toFixed(0)}), Grad-CAM ${g.median.toFixed(1)} ms (first ${g.first.toFixed(0)})`);
        peer[backend] = { forwardMs: f.median, gradcamMs: g.median, firstForwardMs: f.first, firstGradcamMs: g.first, runs: peerRuns };
        if (backend === 'webgpu') {
          endToEnd.forward = { ...endToEnd.forward, peerMs: f.median, ratio: f.median / forward.median };
          endToEnd.gradcam = { ...endToEnd.gradcam, peerMs: g.median, ratio: g.median / gradcam.median };
          let d = 0;
          for (let i = 0; i < heat!.length; i++) d = Math.max(d, Math.abs(heat![i] - lastCam.heatmap.data[i]));
          // float16 dense weights move the map by up to ~1e-3 (see verify's TOLERANCE_F16).
          heatmapAgreement = { maxAbsDiff: d, agree: d <= (config.f16 ? 1e-2 : 1e-3) };
          log(`heatmaps, ours vs TF.js WebGPU: max |Δ| ${d.toExponential(2)}`);
          step('peer', `TF.js ${backend}: forward time per layer (tf.time)`);
          const profile = await vgg.profileLayers(input);
          for (const row of layers) {
            const times = profile.filter((p) => p.layer === row.layer).map((p) => p.ms);
            if (times.length && times.every((ms) => ms !== undefined)) row.peerMs = times.reduce((a, ms) => a + ms, 0);
          }
          for (const b of endToEnd.batched) {
            step('peer', `TF.js ${backend}: forward at batch ${b.batch}`);
            const t = await timeRuns(peerRuns, () => vgg.forward(batchInputs.get(b.batch)!));
            Object.assign(b, { peerMs: t.median, ratio: t.median / b.oursMs });
            log(`TF.js webgpu: batch ${b.batch} forward ${t.median.toFixed(1)} ms`);
          }
        } else {
          endToEnd.forward.wasmMs = f.median;
          endToEnd.gradcam.wasmMs = g.median;
        }
      } finally {
        vgg.dispose();
      }
    }
  }

  step('done', 'finished');
  return {
    date: new Date().toISOString(),
    host: host.name,
    model: model.name,
    runs,
    quick: config.quick,
    f16: config.f16,
    device: deviceInfo,
    peaks,
    tuning: { source: tuning.source, tookMs: tuning.table?.tookMs, choices: { ...tuning.choices }, summary: tuningSummary },
    endToEnd,
    coldStartMs,
    coldStartFrom,
    weights: weightsUsed,
    gpuMemoryBytes,
    heatmapAgreement,
    peer,
    stageTimingsMs: lastCam.timingsMs,
    layers,
    kernels,
    methods,
    pixel,
  };
}
