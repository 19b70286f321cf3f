// What a benchmark run measures, shared by `npm run bench` (scripts/bench.ts) and the bench page
// (src/app/bench.ts): the model at an input size, the CAM and pixel-level methods to time, and the
// quick and full presets the flags and the page's form start from.
import { CAM_METHODS, METHOD_SPECS, type CamMethod } from '../engine/camMethods.js';
import { VGG16, type ModelSpec } from '../engine/model.js';
import { PIXEL_METHOD_SPECS, PIXEL_METHODS, type PixelMethod } from '../engine/pixelMethods.js';
import type { BenchConfig } from './run.js';

/** The layers of a quick run: one of each kind of work, from the largest conv to the classifier. */
export const QUICK_LAYERS = ['block1_conv2', 'block1_pool', 'block3_conv1', 'block5_conv3', 'block5_pool', 'fc1', 'predictions'];

export type BenchMode = 'quick' | 'full';

/** Why `size` is not a VGG16 input size we run (five 2×2 pools need a multiple of 32), or undefined. */
export function checkBenchSize(size: number): string | undefined {
  return Number.isInteger(size) && size >= 32 && size % 32 === 0 ? undefined : 'must be a multiple of 32, at least 32';
}

/** `base` at `size`×`size`, named `<name>@<size>` unless it is the base's own size (smaller sizes shrink every layer and fc1's input). */
export function modelAtSize(base: ModelSpec, size: number): ModelSpec {
  const why = checkBenchSize(size);
  if (why) throw new Error(`input size ${size}: ${why}`);
  return size === base.inputShape[0] && size === base.inputShape[1] ? base : { ...base, name: `${base.name}@${size}`, inputShape: [size, size, base.inputShape[2]] };
}

/** VGG16 at `size`×`size` (224 is Keras' model). */
export const vgg16AtSize = (size: number): ModelSpec => modelAtSize(VGG16, size);

/**
 * The CAM methods a list names: 'all', 'none', or methods separated by commas (e.g. 'gradcam++,scorecam'),
 * in CAM_METHODS order without repeats; a string saying what is wrong otherwise.
 */
export function parseMethodList(text: string): CamMethod[] | string {
  const t = text.trim();
  if (t === 'all') return [...CAM_METHODS];
  if (t === 'none') return [];
  const choose = `list some of ${CAM_METHODS.join(', ')}, or all or none`;
  if (!t) return `no method named; ${choose}`;
  const names = t.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !(CAM_METHODS as readonly string[]).includes(n));
  if (unknown.length) return `unknown method${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')}; ${choose}`;
  return CAM_METHODS.filter((m) => names.includes(m));
}

/** The inverse of parseMethodList: 'all', 'none' or the comma-separated names. */
export function formatMethodList(methods: readonly CamMethod[]): string {
  if (methods.length === 0) return 'none';
  return CAM_METHODS.every((m) => methods.includes(m)) ? 'all' : methods.join(',');
}

/**
 * The pixel-level methods a list names: 'all', 'none', or methods separated by commas (e.g.
 * 'saliency,smoothgrad'), in PIXEL_METHODS order without repeats; a string saying what is wrong otherwise.
 */
export function parsePixelList(text: string): PixelMethod[] | string {
  const t = text.trim();
  if (t === 'all') return [...PIXEL_METHODS];
  if (t === 'none') return [];
  const choose = `list some of ${PIXEL_METHODS.join(', ')}, or all or none`;
  if (!t) return `no method named; ${choose}`;
  const names = t.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !(PIXEL_METHODS as readonly string[]).includes(n));
  if (unknown.length) return `unknown pixel method${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')}; ${choose}`;
  return PIXEL_METHODS.filter((m) => names.includes(m));
}

/** The inverse of parsePixelList: 'all', 'none' or the comma-separated names. */
export function formatPixelList(methods: readonly PixelMethod[]): string {
  if (methods.length === 0) return 'none';
  return PIXEL_METHODS.every((m) => methods.includes(m)) ? 'all' : methods.join(',');
}

/** SmoothGrad's and Integrated Gradients' samples per batch unless asked: the engine's default, 2 on a software adapter. */
export const PIXEL_BATCH_ROWS = 8;
export const PIXEL_BATCH_ROWS_SOFTWARE = 2;

/**
 * The two presets. Quick: 3 runs, the QUICK_LAYERS, the chosen kernel versions only, batch 1 (batch 8
 * costs eight forwards per run: minutes for the peer on a software adapter). Full: 10 runs, every
 * layer, every version of every kernel, batch 1 and 8. Both time every CAM method (Score-CAM and
 * Ablation-CAM only for two batches with quick or on a software adapter) and every pixel-level method
 * (SmoothGrad and Integrated Gradients from their second batch with quick or on a software adapter).
 */
export function benchPreset(mode: BenchMode): Pick<BenchConfig, 'quick' | 'runs' | 'layers' | 'allVersions' | 'batches' | 'methods' | 'pixel'> {
  return mode === 'quick'
    ? { quick: true, runs: 3, layers: QUICK_LAYERS, allVersions: false, batches: [1], methods: CAM_METHODS, pixel: PIXEL_METHODS }
    : { quick: false, runs: 10, layers: undefined, allVersions: true, batches: [1, 8], methods: CAM_METHODS, pixel: PIXEL_METHODS };
}

/**
 * Rough seconds of the CAM methods part on SwiftShader at 224×224 (2-core machine): a gradient
 * explain ~0.6 s (its backward stops at block5_conv3), ~1 s with the warm-up's pipelines; the top-5
 * ~1.5 s per run plus five single explains; Ablation-CAM and Score-CAM four batches each (two timed,
 * two already submitted) of 16 rows (~0.4 s each) and 2 rows (a forward each, ~8 s), plus their set-up.
 */
function methodSeconds(methods: readonly CamMethod[], runs: number): number {
  const direct = methods.filter((m) => !METHOD_SPECS[m].perturbation);
  const timed = direct.length ? new Set(['gradcam', ...direct]).size : 0;
  const top = methods.includes('gradcam') ? (runs + 1) * 1.5 + runs * 5 * 0.6 : 0;
  const perturbation = (methods.includes('ablationcam') ? 30 : 0) + (methods.includes('scorecam') ? 75 : 0);
  return timed * (runs + 1) * 1 + top + perturbation;
}

/**
 * Rough seconds of the pixel-level part on SwiftShader at 224×224: a forward ~9 s and a backward to the
 * image taken as twice that (the usual cost of a backward; at 64×64 it measured 1.2–1.4× the forward);
 * each backward method's warm-up and runs, each run after a forward (plus ~5 s of pipelines once, and
 * Guided Grad-CAM's Grad-CAM ~1 s a run); SmoothGrad and Integrated Gradients a forward, then two
 * batches of `rows` samples (a forward and a backward each), plus the batched network's set-up.
 */
function pixelSeconds(pixel: readonly PixelMethod[], runs: number, rows: number): number {
  const forward = 9;
  const backward = 2 * forward;
  const timed = timedPixelMethods(pixel).filter((m) => !PIXEL_METHOD_SPECS[m].sampled);
  const direct = timed.length * ((runs + 1) * backward + runs * forward) + (timed.length ? 5 : 0) + (pixel.includes('guided-gradcam') ? (runs + 1) * 1 : 0);
  const sampled = pixel.filter((m) => PIXEL_METHOD_SPECS[m].sampled).length * (forward + 2 * rows * (forward + backward) + 5);
  return direct + sampled;
}

/** The pixel-level methods timed for `pixel`: guided-backprop, Guided Grad-CAM's baseline, joins it. */
export function timedPixelMethods(pixel: readonly PixelMethod[]): PixelMethod[] {
  const wanted = new Set<PixelMethod>(pixel);
  if (wanted.has('guided-gradcam')) wanted.add('guided-backprop');
  return PIXEL_METHODS.filter((m) => wanted.has(m));
}

/**
 * Rough minutes on SwiftShader, from the runs quoted in the README (2-core machine): ours about 3 min
 * quick / 30 min with every version; a batched forward ~9 s per image per run; the CAM methods (see
 * methodSeconds, ~2.5 min quick with all of them); the pixel-level methods (see pixelSeconds, ~9 min
 * quick with all five); the TF.js peer ~85 s per WebGPU pass, two passes (warm-up, timed) for each of
 * forward and Grad-CAM, per image.
 */
export function softwareMinutes(c: {
  quick: boolean;
  runs: number;
  size: number;
  batches: readonly number[];
  peer: boolean;
  allVersions: boolean;
  methods: readonly CamMethod[];
  pixel: readonly PixelMethod[];
  pixelBatch?: number;
}): number {
  const area = (c.size / 224) ** 2;
  const ours =
    (c.allVersions ? 30 : 3) * (c.runs / (c.quick ? 3 : 10)) +
    c.batches.filter((b) => b > 1).reduce((m, b) => m + (b * 9 * (c.runs + 1)) / 60, 0) +
    methodSeconds(c.methods, c.runs) / 60 +
    pixelSeconds(c.pixel, c.runs, c.pixelBatch ?? PIXEL_BATCH_ROWS_SOFTWARE) / 60;
  const peer = c.peer ? (2 * 2 * 85) / 60 + c.batches.filter((b) => b > 1).reduce((m, b) => m + (b * 85 * 2) / 60, 0) : 0;
  return Math.max(1, Math.round((ours + peer) * area));
}
