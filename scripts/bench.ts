// npm run bench [-- --quick] [--runs N] [--size 224] [--layers a,b] [--weights <dir>] [--no-peer] [--out bench-results]
// Node host (Dawn): per-kernel GPU profiles for every version and VGG16 layer shape, peak probes,
// end-to-end forward and Grad-CAM latency, cold start and GPU memory, and the peer in the same run:
// TensorFlow.js' WebGPU backend on the same adapter (and its WASM backend as the CPU baseline),
// with the heatmaps compared so the race is fair. Writes bench-results/latest.json and latest.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchCases, benchKernels, formatKernelRow, measurePeaks, type KernelRow, type Peaks } from '../src/bench/kernelBench.js';
import { GradCam } from '../src/engine/gradcam.js';
import { VGG16, type ModelSpec } from '../src/engine/model.js';
import { requestNodeAdapter } from '../src/engine/node.js';
import { requestEngineDevice } from '../src/engine/device.js';
import { heNormalWeights, syntheticPhoto } from '../src/engine/synthetic.js';
import { loadWeightsFromDir } from '../src/engine/weights/node.js';
import type { GpuWeights } from '../src/engine/weights/gpuWeights.js';
import { runCli } from './lib/cli.js';
import { TfjsVgg, usePeerBackend } from './lib/tfjsPeer.js';

const QUICK_LAYERS = ['block1_conv2', 'block1_pool', 'block3_conv1', 'block5_conv3', 'block5_pool', 'fc1', 'predictions'];

interface Latency {
  oursMs: number;
  peerMs?: number;
  /** peer time / our time: above 1 means we are faster. */
  ratio?: number;
  wasmMs?: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

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

runCli(async () => {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      runs: { type: 'string' },
      size: { type: 'string', default: '224' },
      layers: { type: 'string' },
      weights: { type: 'string' },
      'no-peer': { type: 'boolean' },
      'all-versions': { type: 'boolean' },
      out: { type: 'string', default: 'bench-results' },
      host: { type: 'string', default: 'node' },
    },
  });
  if (values.host !== 'node') throw new Error(`--host ${values.host}: only 'node' is implemented so far (the Chrome bench page is not written yet)`);
  const quick = values.quick ?? false;
  const runs = Number(values.runs ?? (quick ? 3 : 10));
  const size = Number(values.size);
  if (!Number.isInteger(size) || size < 32 || size % 32 !== 0) throw new Error(`--size ${values.size}: must be a multiple of 32, at least 32`);
  const model: ModelSpec = size === 224 ? VGG16 : { ...VGG16, name: `vgg16@${size}`, inputShape: [size, size, 3] };
  const layers = values.layers?.split(',') ?? (quick ? QUICK_LAYERS : undefined);
  const log = (line: string) => process.stderr.write(`${line}\n`);

  const { adapter, software } = await requestNodeAdapter();
  const device = await requestEngineDevice(adapter, model);
  const info = adapter.info;
  const deviceInfo = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    software,
    features: [...device.features].sort(),
    limits: { maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize, maxBufferSize: device.limits.maxBufferSize, maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize },
  };
  log(`device: ${info.vendor} ${info.architecture} ${info.description}${software ? ' (software)' : ''}; ${runs} runs per measurement`);

  const peaks: Peaks = await measurePeaks(device);
  log(`peaks (${peaks.timing}): ${peaks.gflops.toFixed(2)} GFLOP/s multiply–add, ${peaks.gbps.toFixed(2)} GB/s copy`);

  const cases = benchCases(model, { layers, allVersions: values['all-versions'] ?? !quick });
  const kernels: KernelRow[] = await benchKernels(device, cases, runs, peaks, (r) => log(formatKernelRow(r)));

  // End to end, ours.
  const image = syntheticPhoto(320, 240);
  const t0 = performance.now();
  let weights: GpuWeights | Map<string, Float32Array>;
  let cpuWeights: Map<string, Float32Array> | undefined;
  if (values.weights) {
    weights = (await loadWeightsFromDir(device, values.weights)).weights;
  } else {
    cpuWeights = heNormalWeights(model, { seed: 1, classifierGain: 0.01 });
    weights = cpuWeights;
  }
  const cam = await GradCam.create(device, model, weights);
  const firstRun = await cam.run(image);
  const coldStartMs = performance.now() - t0;
  const forward = await timeRuns(runs, () => cam.network.forward(image));
  let lastCam = firstRun;
  const gradcam = await timeRuns(runs, async () => (lastCam = await cam.run(image)));
  log(`ours: forward ${forward.median.toFixed(1)} ms, Grad-CAM ${gradcam.median.toFixed(1)} ms (stages: ${Object.entries(lastCam.timingsMs).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}), cold start ${coldStartMs.toFixed(0)} ms`);
  const endToEnd: { forward: Latency; gradcam: Latency } = { forward: { oursMs: forward.median }, gradcam: { oursMs: gradcam.median } };
  let heatmapAgreement: { maxAbsDiff: number; agree: boolean } | undefined;
  const peer: Record<string, unknown> = {};

  if (!values['no-peer']) {
    if (!cpuWeights) throw new Error('the peer needs the weights in memory: run without --weights (synthetic weights) or with --no-peer');
    const input = (await cam.network.forward(image, { read: ['input'] })).tensors.get('input')!;
    for (const backend of ['webgpu', 'wasm'] as const) {
      await usePeerBackend(backend);
      const vgg = new TfjsVgg(model, cpuWeights);
      const peerRuns = backend === 'webgpu' && quick ? 1 : runs;
      const f = await timeRuns(peerRuns, () => vgg.forward(input));
      let heat: Float32Array | undefined;
      const g = await timeRuns(peerRuns, async () => (heat = (await vgg.gradcam(input, cam.defaultLayer, lastCam.classIndex)).heatmap));
      vgg.dispose();
      log(`TF.js ${backend}: forward ${f.median.toFixed(1)} ms (first ${f.first.toFixed(0)}), Grad-CAM ${g.median.toFixed(1)} ms (first ${g.first.toFixed(0)})`);
      peer[backend] = { forwardMs: f.median, gradcamMs: g.median, firstForwardMs: f.first, firstGradcamMs: g.first, runs: peerRuns };
      if (backend === 'webgpu') {
        endToEnd.forward = { ...endToEnd.forward, peerMs: f.median, ratio: f.median / forward.median };
        endToEnd.gradcam = { ...endToEnd.gradcam, peerMs: g.median, ratio: g.median / gradcam.median };
        let d = 0;
        for (let i = 0; i < heat!.length; i++) d = Math.max(d, Math.abs(heat![i] - lastCam.heatmap.data[i]));
        heatmapAgreement = { maxAbsDiff: d, agree: d <= 1e-3 };
      } else {
        endToEnd.forward.wasmMs = f.median;
        endToEnd.gradcam.wasmMs = g.median;
      }
    }
  }
  const memoryBytes = cam.memoryBytes;
  cam.dispose();

  const date = new Date().toISOString();
  const report = {
    date,
    host: 'node',
    model: model.name,
    runs,
    quick,
    device: deviceInfo,
    peaks,
    endToEnd,
    coldStartMs,
    coldStartFrom: values.weights ? `weights directory ${values.weights}` : 'weights in memory (synthetic)',
    gpuMemoryBytes: memoryBytes,
    heatmapAgreement,
    peer,
    stageTimingsMs: lastCam.timingsMs,
    kernels,
  };
  mkdirSync(values.out!, { recursive: true });
  const json = JSON.stringify(report, null, 1);
  writeFileSync(join(values.out!, `${date.replace(/[:.]/g, '-')}-node.json`), json);
  writeFileSync(join(values.out!, 'latest.json'), json);
  const ratio = (l: Latency) => (l.ratio === undefined ? '–' : `${l.ratio.toFixed(2)}×`);
  const md = [
    `# Benchmark, ${date.slice(0, 10)}, host node, ${info.vendor} ${info.architecture} ${info.description}${software ? ' (software)' : ''}`,
    '',
    `Command: \`npm run bench${quick ? ' -- --quick' : ''}\`; ${runs} runs, median; model ${model.name}; peaks ${peaks.gflops.toFixed(2)} GFLOP/s, ${peaks.gbps.toFixed(2)} GB/s (${peaks.timing}).`,
    '',
    '| end to end | ours (ms) | TF.js WebGPU (ms) | speed-up | TF.js WASM (ms) |',
    '| --- | ---: | ---: | ---: | ---: |',
    `| forward | ${forward.median.toFixed(1)} | ${endToEnd.forward.peerMs?.toFixed(1) ?? '–'} | ${ratio(endToEnd.forward)} | ${endToEnd.forward.wasmMs?.toFixed(1) ?? '–'} |`,
    `| Grad-CAM | ${gradcam.median.toFixed(1)} | ${endToEnd.gradcam.peerMs?.toFixed(1) ?? '–'} | ${ratio(endToEnd.gradcam)} | ${endToEnd.gradcam.wasmMs?.toFixed(1) ?? '–'} |`,
    '',
    `Cold start (${report.coldStartFrom} → first heatmap): ${coldStartMs.toFixed(0)} ms. GPU memory: ${(memoryBytes / 1e6).toFixed(0)} MB.` +
      (heatmapAgreement ? ` Heatmaps ours vs TF.js WebGPU: max |Δ| ${heatmapAgreement.maxAbsDiff.toExponential(2)}.` : ''),
    '',
    '| layer | kernel | shape | median ms | GFLOP/s | GB/s | % of peak |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: |',
    ...kernels.map((k) => `| ${k.layer} ${k.direction === 'forward' ? 'fwd' : 'bwd'} | ${k.name}.${k.version} | ${k.shape} | ${k.medianMs.toFixed(2)} | ${k.gflops.toFixed(2)} | ${k.gbps.toFixed(2)} | ${k.pctOfPeak.toFixed(0)}% ${k.bound === 'compute' ? 'compute' : 'bw'} |`),
  ].join('\n');
  writeFileSync(join(values.out!, 'latest.md'), `${md}\n`);
  console.log(md);
  device.destroy();
});
