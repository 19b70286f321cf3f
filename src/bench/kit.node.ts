// The device kit's runtime (`npm run kit` bundles scripts/kitRun.ts, which parses the flags and prints,
// with this file into one ES module): on whatever adapter Dawn finds, the kernel checks (every case of
// test/kernels/cases.ts against its float64 CPU reference, on a device with the engine's optional
// features, so the versions that need shader-f16 or subgroups run where the GPU has them) and the
// benchmark of src/bench/run.ts with the TF.js peer (tfjsPeer.kit.ts) on synthetic weights, its report
// written by src/bench/report.ts's code: markdown, the JSON, and the per-layer chart as SVG (the kit
// has no Chromium to rasterise it).
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpuKernelCases, kernelCases, missingFeatures, type KernelCase } from '../../test/kernels/cases.js';
import { VGG16 } from '../engine/model.js';
import { fillNormal, mulberry32 } from '../engine/synthetic.js';
import { conv3x3BiasReluRef } from '../kernels/conv3x3BiasRelu.ref.js';
import { requestNodeDevice, SWIFTSHADER_ICD } from '../hosts/node/device.js';
import { fileTuningStore } from '../hosts/node/tuningStore.js';
import { benchMarkdown, layerChartSvg } from './report.js';
import { runBench, type BenchConfig, type BenchReport } from './run.js';
import { kitPeer } from './tfjsPeer.kit.js';
import type { PeerBackend } from './tfjsVgg.js';

/** Makes the next Dawn instance use SwiftShader (the Vulkan loader reads this when Dawn creates one). */
export function forceSwiftShader(): void {
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  delete process.env.VK_DRIVER_FILES;
}

/** The adapter in one line: vendor, architecture, description, and whether it is a CPU rasteriser. */
export function adapterLine(device: GPUDevice): string {
  const i = device.adapterInfo;
  const name = [i.vendor, i.architecture, i.description].filter(Boolean).join(' ') || 'unnamed adapter';
  return /swiftshader|llvmpipe|lavapipe/i.test(name) ? `${name} (a CPU rasteriser, not a GPU)` : name;
}

export interface CheckFailure {
  name: string;
  ms: number;
  message: string;
}

export interface CheckSummary {
  adapter: string;
  features: string[];
  /** Cases selected (after the filter). */
  total: number;
  passed: number;
  failed: CheckFailure[];
  /** Cases whose kernel needs a device feature this device lacks, with the reason. */
  skipped: { name: string; reason: string }[];
  seconds: number;
}

export interface CheckOptions {
  /** The cases to choose from (default: selectCases' default). */
  cases?: readonly KernelCase[];
  /** Only cases whose name contains one of these substrings (all when empty). */
  filter?: readonly string[];
  /** Called before each case: its index (0-based) and the number selected. */
  onCase?(c: KernelCase, index: number, total: number): void;
  onFailure?(f: CheckFailure): void;
}

/**
 * The kernel cases `filter` selects: names containing any of its substrings, every case when empty. By
 * default the test suite's cases and the GEMM tile variants' shapes the suite leaves to GPUs.
 */
export function selectCases(filter: readonly string[] = [], cases: readonly KernelCase[] = [...kernelCases, ...gpuKernelCases()]): KernelCase[] {
  return filter.length ? cases.filter((c) => filter.some((f) => c.name.includes(f))) : [...cases];
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : typeof e === 'object' && e !== null && 'message' in e ? String(e.message) : String(e));

/**
 * Runs the selected kernel cases on a device made as the engine makes its own (the optional features
 * it has), one at a time: a case fails when it throws (a mismatch against the reference, a guard
 * overwritten) or when the device reports a validation, out-of-memory or internal error during it.
 */
export async function runKernelChecks(options: CheckOptions = {}): Promise<CheckSummary> {
  const started = performance.now();
  const cases = selectCases(options.filter, options.cases);
  let lost: string | undefined;
  const device = await requestNodeDevice(VGG16, { onLost: (info) => (lost = `device lost (${info.reason}): ${info.message}`) });
  const summary: CheckSummary = { adapter: adapterLine(device), features: [...device.features].sort(), total: cases.length, passed: 0, failed: [], skipped: [], seconds: 0 };
  try {
    for (const [i, c] of cases.entries()) {
      options.onCase?.(c, i, cases.length);
      const missing = missingFeatures(c, device);
      if (missing.length) {
        summary.skipped.push({ name: c.name, reason: `needs ${missing.join(', ')}` });
        continue;
      }
      const scopes = ['internal', 'out-of-memory', 'validation'] as const;
      for (const s of scopes) device.pushErrorScope(s);
      const t = performance.now();
      let message: string | undefined;
      try {
        if (lost) throw new Error(lost);
        await c.run(device);
      } catch (e) {
        message = messageOf(e);
      }
      const errors: (GPUError | null)[] = [];
      for (let k = 0; k < scopes.length; k++) errors.push(await device.popErrorScope().catch((e: unknown) => ({ message: messageOf(e) }) as GPUError));
      const gpuError = errors.find((e) => e !== null);
      if (message === undefined && gpuError) message = `WebGPU error: ${gpuError.message}`;
      // A version that needs a feature this device lacks, in a case that does not declare it.
      const needs = message === undefined ? null : /needs the device features? (.*), which this device was not created with/.exec(message);
      if (needs) {
        summary.skipped.push({ name: c.name, reason: `needs ${needs[1]}` });
        continue;
      }
      if (message === undefined) summary.passed++;
      else {
        const failure = { name: c.name, ms: performance.now() - t, message: lost && !message.includes(lost) ? `${message} (${lost})` : message };
        summary.failed.push(failure);
        options.onFailure?.(failure);
      }
    }
  } finally {
    device.destroy();
  }
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

export interface PeerCheck {
  backend: PeerBackend;
  ok: boolean;
  ms: number;
  /** What was compared, or why it failed. */
  message: string;
}

/**
 * That the kit's TF.js peer works here, in seconds rather than the minutes its VGG16 run takes on a CPU
 * rasteriser: each backend (WebGPU on Dawn's adapter, WASM from the kit's binaries) loads, runs a 3×3
 * conv + bias + ReLU against the float64 reference, and takes its gradient (tf.grad, as the peer's
 * Grad-CAM does), which the two backends must agree on.
 */
export async function checkPeer(kitDir: string): Promise<PeerCheck[]> {
  const shape = { n: 1, h: 6, w: 7, cIn: 8, cOut: 12, relu: true };
  const random = mulberry32(17);
  const x = fillNormal(new Float32Array(shape.h * shape.w * shape.cIn), random);
  const w = fillNormal(new Float32Array(9 * shape.cIn * shape.cOut), random, 0.2);
  const b = fillNormal(new Float32Array(shape.cOut), random, 0.1);
  const ref = conv3x3BiasReluRef(shape, x, w, b);
  const peer = kitPeer(kitDir);
  const grads: Float32Array[] = [];
  const out: PeerCheck[] = [];
  for (const backend of ['webgpu', 'wasm'] as const) {
    const t = performance.now();
    try {
      const tf = await peer(backend);
      const [xt, wt, bt] = [tf.tensor4d(x, [1, shape.h, shape.w, shape.cIn]), tf.tensor4d(w, [3, 3, shape.cIn, shape.cOut]), tf.tensor1d(b)];
      const f = (input: import('@tensorflow/tfjs-core').Tensor4D) => tf.relu(tf.add(tf.conv2d(input, wt, 1, 'same'), bt));
      const y = (await f(xt).data()) as Float32Array;
      const g = tf.grad((input) => tf.sum(f(input as import('@tensorflow/tfjs-core').Tensor4D)))(xt);
      grads.push((await g.data()) as Float32Array);
      tf.dispose([xt, wt, bt, g]);
      let err = 0;
      for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(y[i] - ref[i]));
      const ok = err <= 1e-4;
      out.push({ backend, ok, ms: performance.now() - t, message: `${tf.getBackend()}: conv 3×3 max |Δ| ${err.toExponential(1)} against the float64 reference${ok ? '' : ' (over 1e-4)'}` });
    } catch (e) {
      out.push({ backend, ok: false, ms: performance.now() - t, message: messageOf(e) });
    }
  }
  if (grads.length === 2) {
    let err = 0;
    for (let i = 0; i < grads[0].length; i++) err = Math.max(err, Math.abs(grads[0][i] - grads[1][i]));
    const last = out[1];
    last.message += `; its gradient (tf.grad) against WebGPU's max |Δ| ${err.toExponential(1)}`;
    if (err > 1e-4) Object.assign(last, { ok: false, message: `${last.message} (over 1e-4)` });
  }
  return out;
}

export interface KitBenchOptions {
  /** The kit's folder: the TF.js WASM binaries are there. */
  kitDir: string;
  log(line: string): void;
  /** Called with the adapter's line (see adapterLine) once the device is made. */
  onDevice?(adapter: string): void;
}

/** The benchmark of src/bench/run.ts on Dawn's adapter, the TF.js peer from the kit, synthetic weights made in memory. */
export async function runKitBench(config: BenchConfig, options: KitBenchOptions): Promise<BenchReport> {
  const device = await requestNodeDevice(config.model);
  options.onDevice?.(adapterLine(device));
  try {
    return await runBench(device, { name: 'node', log: options.log, peer: kitPeer(options.kitDir), tuningStore: fileTuningStore() }, config);
  } finally {
    device.destroy();
  }
}

function writeAtomically(files: { path: string; data: string }[]): void {
  const tmp = files.map((f) => `${f.path}.${process.pid}.tmp`);
  try {
    files.forEach((f, i) => writeFileSync(tmp[i], f.data));
    files.forEach((f, i) => renameSync(tmp[i], f.path));
  } finally {
    for (const t of tmp) rmSync(t, { force: true });
  }
}

/**
 * Writes the run's report under `outDir` as `npm run bench` does (a dated JSON, latest-node.json,
 * latest.json, latest.md), the per-layer chart as latest-node-layers.svg; returns the markdown.
 */
export function writeKitResults(outDir: string, report: BenchReport, command: string): { markdown: string; files: string[] } {
  mkdirSync(outDir, { recursive: true });
  const json = JSON.stringify(report, null, 1);
  const markdown = benchMarkdown([report], `Command: \`${command}\``);
  const files = [
    { path: join(outDir, `${report.date.replace(/[:.]/g, '-')}-${report.host}.json`), data: json },
    { path: join(outDir, `latest-${report.host}.json`), data: json },
    { path: join(outDir, 'latest.json'), data: json },
    { path: join(outDir, 'latest.md'), data: markdown },
    ...(report.layers.length ? [{ path: join(outDir, `latest-${report.host}-layers.svg`), data: layerChartSvg(report) }] : []),
  ];
  writeAtomically(files);
  return { markdown, files: files.map((f) => f.path) };
}
