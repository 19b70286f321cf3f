// `npm run bench`, host-independent: the same measurements in Node (Dawn), in Chrome (a page driven
// by puppeteer) and in anyone's browser (the bench page, src/app/bench.ts). Peaks, per-kernel
// profiles, kernel tuning, end-to-end forward and Grad-CAM latency (batch 1, optionally batched
// forwards), cold start, GPU memory, per-layer forward times, and the TensorFlow.js peer (WebGPU on
// the same adapter, WASM as the CPU baseline) on the same weights and image, with the heatmaps
// compared so the race is fair. The host only says how to get TF.js and weights, and where progress
// goes; everything timed runs here.
import { GradCam, type GradCamResult } from '../engine/gradcam.js';
import { median } from '../engine/gpuTimer.js';
import type { ModelSpec } from '../engine/model.js';
import { Network } from '../engine/network.js';
import { heNormalWeights, syntheticPhoto } from '../engine/synthetic.js';
import { describeTuning, loadOrTune, type TuningMode, type TuningStore } from '../engine/tuning.js';
import type { GpuWeights } from '../engine/weights/gpuWeights.js';
import type { WeightsInfo } from '../engine/weights/format.js';
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
}

/** Where a run is, for a progress bar: what runs now, and how many of the run's steps are done. */
export interface BenchProgress {
  stage: 'peaks' | 'tuning' | 'kernels' | 'ours' | 'batched' | 'peer' | 'done';
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
}

/** A CPU rasteriser (SwiftShader, llvmpipe, lavapipe, WARP): minutes where a GPU takes seconds. */
export function isSoftwareAdapter(info: Pick<GPUAdapterInfo, 'vendor' | 'architecture' | 'description'>): boolean {
  return /swiftshader|llvmpipe|lavapipe|warp/i.test(`${info.vendor} ${info.architecture} ${info.description}`);
}

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

function forwardMsPerLayer(r: GradCamResult): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of r.passTimings) if (p.stage === 'forward') out.set(p.label.split(' ')[0], (out.get(p.label.split(' ')[0]) ?? 0) + p.ms);
  return out;
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
  // series (ours: cold start, forward, Grad-CAM, each batch; per peer backend: forward, Grad-CAM, and
  // for WebGPU the per-layer profile and each batch).
  const batchesAbove1 = config.batches.filter((b) => b > 1).length;
  const seriesSteps = 3 + batchesAbove1 + (config.peer ? 2 + 2 + 1 + batchesAbove1 : 0);
  const caseOptions = { layers: config.layers, allVersions: config.allVersions, f16: config.f16 };
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
  const gpuMemoryBytes = cam.memoryBytes;
  const target = cam.defaultLayer;
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

  const ours = forwardMsPerLayer(lastCam);
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
  };
}
