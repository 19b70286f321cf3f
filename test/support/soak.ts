// The soak: many Grad-CAM calls in one engine, cycling through image sizes, methods, layers, target
// counts, smoothing and batch rows (classes change on every run and never repeat in step with the
// cycle), with explain(), overlay() and attribute() calls mixed in. What it checks:
// - GPU memory: the engine's ledger (every buffer created and destroyed, gpuMemory.ts) after each run
//   equals the ledger one cycle earlier, once warm. Caches churn inside a cycle (more plans than the
//   LRU keeps), so the ledger may differ from run to run, but a cycle later the engine must be back in
//   the same state: any buffer a run forgets to destroy shows up as a difference.
// - Caches (GradCam.cacheSizes()): the same one cycle later, within their caps, pipelines no longer compiled.
// - JS heap (after a full collection) and RSS: growth from the end of warm-up to the end, for the
//   caller to hold to a bound, with the heap's trend per run.
// test/soak.test.ts runs it on the tiny model; scripts/soak.ts at full size.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { CacheSizes, ExplainOptions, GradCam, GradCamOptions, GradCamResult, OverlayOptions, PixelOptions } from '../../src/engine/gradcam.js';
import { gpuMemory } from '../../src/engine/gpuMemory.js';
import { classCount, convLayerNames, type ModelSpec } from '../../src/engine/model.js';
import type { ImageInput } from '../../src/engine/network.js';
import type { CamMethod } from '../../src/engine/camMethods.js';
import type { ColormapName } from '../../src/kernels/colormaps.js';

/** One step of the cycle: a run() and the calls that follow it on the kept forward. */
export interface SoakStep {
  image: number;
  /** Targets per run: 0 = the top-1 class, 1 = one class, k = k classes (classes chosen per run). */
  targets: number;
  run: Omit<GradCamOptions, 'classIndex' | 'target' | 'targets'>;
  explain?: Omit<ExplainOptions, 'classIndex' | 'target' | 'targets'>;
  overlay?: OverlayOptions;
  attribute?: Pick<PixelOptions, 'method' | 'score'>;
}

export type SoakProfile = 'tiny' | 'full';

const GRADIENT_METHODS: readonly CamMethod[] = ['gradcam', 'gradcam++', 'xgradcam', 'hirescam', 'gradcam-elementwise', 'layercam'];
const COLORMAP_CYCLE: readonly ColormapName[] = ['jet', 'viridis', 'hot', 'gray'];

/**
 * The steps of one cycle. 'tiny' (period 100): mostly the same Grad-CAM map (a hot plan, as a webcam or a
 * slider reuses it) with the class changing every run, and once per cycle each of: every other CAM
 * method, 9 targets (two backward groups) for four methods, two layers, eigen- and aug-smoothing,
 * Score-CAM and Ablation-CAM at three plan keys (more than PerturbationCam keeps), saliency for two
 * scores; four image sizes; explain() and overlay() every few runs. About 20 map plans a cycle, more than GradCam
 * keeps, so its LRU evicts every cycle. 'full': the gradient methods, one or three targets, three
 * layers and a few image sizes: what a GPU (or a patient CPU) runs at 224×224.
 */
export function soakCycle(model: ModelSpec, profile: SoakProfile, period: number, images: number): SoakStep[] {
  const convs = convLayerNames(model);
  const first = convs[0];
  const last = convs[convs.length - 1];
  const steps: SoakStep[] = [];
  // The once-per-cycle steps of 'tiny', by their position in a 100-step cycle (scaled to the period).
  const special: SoakStep['run'][] = [
    { method: 'gradcam++', layer: first },
    { method: 'xgradcam', layer: last, score: 'logit' },
    { method: 'hirescam', layer: first },
    { method: 'gradcam-elementwise', layers: [first, last] },
    { method: 'layercam', layer: last },
    { method: 'eigencam', layer: last },
    { method: 'eigengradcam', layer: last },
    { method: 'gradcam', layer: last, eigenSmooth: true },
    { method: 'layercam', layer: last, augSmooth: true },
    { method: 'scorecam', layer: last, batchRows: 8 },
    { method: 'ablationcam', layer: last, batchRows: 5 },
    { method: 'ablationcam', layer: first, batchRows: 8 },
    { method: 'hirescam', layers: [first, last], score: 'logit' },
    { method: 'gradcam', layer: first, score: 'logit' },
  ];
  // 9 targets: a backward of 8 rows and one of 1 (pipelines for other row counts would only add compile time).
  const manyTargets: [SoakStep['run'], number][] = [
    [{ method: 'gradcam', layer: last }, 9],
    [{ method: 'gradcam++', layer: last }, 9],
    [{ method: 'xgradcam', layer: first }, 9],
    [{ method: 'layercam', layer: first }, 9],
  ];
  for (let k = 0; k < period; k++) {
    const image = Math.floor((k * images) / period);
    const step: SoakStep = { image, targets: 1, run: {} };
    if (profile === 'full') {
      const deep = convs.slice(-3);
      step.run = { method: GRADIENT_METHODS[k % 4], layer: deep[k % deep.length], score: k % 2 ? 'logit' : 'prob' };
      step.targets = k % 5 === 2 ? 3 : 1;
      if (k % 3 === 1) step.explain = { layer: deep[(k + 1) % deep.length] };
      if (k % 4 === 3) step.overlay = { alpha: 0.3, colormap: COLORMAP_CYCLE[k % 4] };
      steps.push(step);
      continue;
    }
    const slot = Math.floor((k * 100) / period);
    // Every 7th slot is a special step, every 25th (offset 12) one with several targets; the rest the hot map.
    if (slot % 7 === 3 && Math.floor(slot / 7) < special.length) step.run = { ...special[Math.floor(slot / 7)] };
    else if (slot % 25 === 12) [step.run, step.targets] = [{ ...manyTargets[Math.floor(slot / 25)][0] }, manyTargets[Math.floor(slot / 25)][1]];
    else {
      step.run = { method: 'gradcam', layer: last, score: k % 2 ? 'logit' : 'prob' };
      step.targets = k % 3 === 0 ? 0 : 1;
    }
    if (k % 8 === 1) step.explain = { method: 'gradcam', layer: first };
    if (k % 6 === 2) step.overlay = { alpha: (k % 10) / 10, colormap: COLORMAP_CYCLE[k % 4], blend: k % 12 === 2 ? 'normalized' : 'add' };
    if (slot === 33 || slot === 83) step.attribute = { method: 'saliency', score: slot === 33 ? 'logit' : 'prob' };
    steps.push(step);
  }
  return steps;
}

/** A full garbage collection, exposed at run time when node was not started with --expose-gc. */
export function exposeGc(): () => void {
  const known = (globalThis as { gc?: () => void }).gc;
  if (typeof known === 'function') return known;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

export interface SoakSample {
  /** Runs done. */
  run: number;
  buffers: number;
  bytes: number;
  cache: CacheSizes;
  /** JS heap after a full collection, bytes (sampled at the end of warm-up and of each later cycle). */
  heapUsed?: number;
  rss?: number;
}

export interface SoakOptions {
  runs: number;
  /** Steps per cycle (see soakCycle). */
  period: number;
  /** Cycles before the checks start (default 2: the first fills the caches, the second reaches their steady churn). */
  warmupPeriods?: number;
  profile: SoakProfile;
  images: readonly ImageInput[];
  /** After each run (and its explain/overlay/attribute). */
  onRun?: (sample: SoakSample, step: SoakStep, result: GradCamResult) => void;
}

export interface SoakReport {
  runs: number;
  /** run(), explain(), overlay() and attribute() calls. */
  calls: number;
  seconds: number;
  runsPerSecond: number;
  /** The run the checks start after. */
  warmupRuns: number;
  /** Ledger right after create(). */
  created: { buffers: number; bytes: number };
  warm: SoakSample;
  end: SoakSample;
  /** Ledger range over the checked runs (it churns within a cycle). */
  checkedBytes: { min: number; max: number };
  /** The most bytes alive at once over the whole soak. */
  peakBytes: number;
  /** Ledger or cache differences from one cycle earlier, and caps exceeded: the first few, as text. */
  mismatches: string[];
  mismatchCount: number;
  /** Largest cache counts seen after warm-up. */
  cacheMax: CacheSizes;
  heapGrowth: number;
  rssGrowth: number;
  /** Least-squares slope of the after-collection heap over the checked runs, bytes per run. */
  heapSlope: number;
  /** Failed checks on the results (heatmap outside [0, 1], NaN), the first few. */
  badResults: string[];
  /** Ledger after cam.releaseCaches() at the end: what create() allocated, if every other buffer was a cache. */
  afterRelease: { buffers: number; bytes: number };
}

/** What a soak is held to: the bounds the caller states (see test/soak.test.ts for why each). */
export interface SoakBounds {
  heapGrowth: number;
  rssGrowth: number;
  caps: Partial<CacheSizes>;
}

/** The checks that failed, one line each (empty: the soak passed). */
export function soakFailures(r: SoakReport, bounds: SoakBounds): string[] {
  const out: string[] = [];
  if (r.runs <= r.warmupRuns) out.push(`only ${r.runs} runs: the checks start after ${r.warmupRuns} (two cycles of warm-up); give more runs or a shorter period`);
  if (r.mismatchCount) out.push(`GPU ledger or caches differ from one cycle earlier after ${r.mismatchCount} runs (first: ${r.mismatches[0]})`);
  if (r.badResults.length) out.push(`bad results: ${r.badResults[0]}`);
  for (const [k, cap] of Object.entries(bounds.caps)) {
    const seen = r.cacheMax[k as keyof CacheSizes];
    if (cap !== undefined && seen > cap) out.push(`cache '${k}' reached ${seen}, above its cap ${cap}`);
  }
  if (r.end.cache.pipelines !== r.warm.cache.pipelines) out.push(`pipelines compiled after warm-up: ${r.warm.cache.pipelines} → ${r.end.cache.pipelines}`);
  if (r.heapGrowth > bounds.heapGrowth) out.push(`JS heap grew ${mb(r.heapGrowth)} after warm-up, above the bound ${mb(bounds.heapGrowth)}`);
  if (r.rssGrowth > bounds.rssGrowth) out.push(`RSS grew ${mb(r.rssGrowth)} after warm-up, above the bound ${mb(bounds.rssGrowth)}`);
  if (r.afterRelease.buffers !== r.created.buffers || r.afterRelease.bytes !== r.created.bytes)
    out.push(`after releaseCaches() the ledger is ${r.afterRelease.buffers} buffers, ${r.afterRelease.bytes} bytes; create() left ${r.created.buffers}, ${r.created.bytes}`);
  return out;
}

const pick = (s: SoakSample) => ({ buffers: s.buffers, bytes: s.bytes, ...s.cache });

function sameState(a: SoakSample, b: SoakSample): string | undefined {
  const pa = pick(a);
  const pb = pick(b);
  const diff = (Object.keys(pa) as (keyof typeof pa)[]).filter((k) => pa[k] !== pb[k]);
  return diff.length ? diff.map((k) => `${k} ${pb[k]} → ${pa[k]}`).join(', ') : undefined;
}

function targetsFor(n: number, run: number, classes: number): Pick<GradCamOptions, 'classIndex' | 'targets'> {
  // Classes walk a stride coprime with any cycle length, so a class set rarely comes back.
  const c = (j: number) => (run * 7919 + j * 104729) % classes;
  if (n === 0) return {};
  if (n === 1) return { classIndex: c(0) };
  return { targets: Array.from({ length: n }, (_, j) => ({ kind: 'class' as const, classIndex: c(j) })) };
}

function checkResult(r: GradCamResult, what: string, bad: string[]): void {
  for (const m of r.maps) {
    const d = m.heatmap.data;
    for (let i = 0; i < d.length; i++)
      if (!(d[i] >= 0 && d[i] <= 1)) {
        if (bad.length < 5) bad.push(`${what}: heatmap[${i}] = ${d[i]}`);
        return;
      }
  }
}

/**
 * Runs the soak on `cam` (fresh from create(), nothing run yet) and reports; the caller asserts (see
 * soakFailures). At the end it calls cam.releaseCaches(), so the engine starts cold again afterwards.
 */
export async function runSoak(cam: GradCam, options: SoakOptions): Promise<SoakReport> {
  const { runs, period, profile, images } = options;
  const device = cam.network.device;
  const model = cam.model;
  const classes = classCount(model);
  const cycle = soakCycle(model, profile, period, images.length);
  const warmupRuns = Math.min(runs, period * (options.warmupPeriods ?? 2));
  const gc = exposeGc();
  const memory = () => {
    gc();
    gc();
    const m = process.memoryUsage();
    return { heapUsed: m.heapUsed, rss: m.rss };
  };
  const sample = (run: number): SoakSample => {
    const l = gpuMemory(device);
    return { run, buffers: l.buffers, bytes: l.bytes, cache: cam.cacheSizes() };
  };
  const created = gpuMemory(device);
  // The last cycle's samples only (a ring): a soak that kept every sample would grow the heap it measures.
  const history: SoakSample[] = new Array(period);
  const mismatches: string[] = [];
  let mismatchCount = 0;
  const mismatch = (text: string) => {
    mismatchCount++;
    if (mismatches.length < 10) mismatches.push(text);
  };
  const badResults: string[] = [];
  const heapPoints: [number, number][] = [];
  let warm: SoakSample | undefined;
  let calls = 0;
  let cacheMax: CacheSizes | undefined;
  let checkedBytes = { min: Infinity, max: -Infinity };
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) {
    const step = cycle[i % period];
    const what = `run ${i + 1} (${JSON.stringify(step.run)}, ${step.targets} targets, image ${images[step.image].width}×${images[step.image].height})`;
    const r = await cam.run(images[step.image], { ...step.run, ...targetsFor(step.targets, i, classes) });
    calls++;
    checkResult(r, what, badResults);
    if (step.explain) {
      checkResult(await cam.explain({ ...step.explain, ...targetsFor(1, i + 1, classes) }), `${what}, explain`, badResults);
      calls++;
    }
    if (step.overlay) {
      const o = await cam.overlay(step.overlay);
      calls++;
      if (o.overlay.data.length !== 4 * images[step.image].width * images[step.image].height) badResults.push(`${what}, overlay: ${o.overlay.data.length} bytes`);
    }
    if (step.attribute) {
      const a = await cam.attribute({ ...step.attribute, classIndex: r.classIndex });
      calls++;
      if (!a.attribution.data.every(Number.isFinite)) badResults.push(`${what}, attribute: not finite`);
    }
    const s = sample(i + 1);
    const before = history[i % period];
    history[i % period] = s;
    options.onRun?.(s, step, r);
    if (i + 1 === warmupRuns) {
      warm = { ...s, ...memory() };
      heapPoints.push([i + 1, warm.heapUsed!]);
    }
    if (i + 1 > warmupRuns) {
      const diff = sameState(s, before);
      if (diff) mismatch(`${what}: ${diff} since one cycle earlier (run ${before.run})`);
      cacheMax = cacheMax ? (Object.fromEntries(Object.entries(cacheMax).map(([k, v]) => [k, Math.max(v, s.cache[k as keyof CacheSizes])])) as unknown as CacheSizes) : { ...s.cache };
      checkedBytes = { min: Math.min(checkedBytes.min, s.bytes), max: Math.max(checkedBytes.max, s.bytes) };
      if ((i + 1 - warmupRuns) % period === 0 || i + 1 === runs) heapPoints.push([i + 1, memory().heapUsed]);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const end = { ...sample(runs), ...memory() };
  warm ??= end;
  const heapSlope = slope(heapPoints);
  const peakBytes = gpuMemory(device).peakBytes;
  await cam.releaseCaches();
  const released = gpuMemory(device);
  return {
    runs,
    calls,
    seconds,
    runsPerSecond: runs / seconds,
    warmupRuns,
    created: { buffers: created.buffers, bytes: created.bytes },
    warm,
    end,
    checkedBytes: checkedBytes.min <= checkedBytes.max ? checkedBytes : { min: end.bytes, max: end.bytes },
    peakBytes,
    mismatches,
    mismatchCount,
    cacheMax: cacheMax ?? end.cache,
    heapGrowth: end.heapUsed! - warm.heapUsed!,
    rssGrowth: end.rss! - warm.rss!,
    heapSlope,
    badResults,
    afterRelease: { buffers: released.buffers, bytes: released.bytes },
  };
}

function slope(points: readonly [number, number][]): number {
  if (points.length < 2) return 0;
  const n = points.length;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den ? num / den : 0;
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 && bytes > -(2 ** 20) ? 3 : 1)} MiB`;

/** The report as aligned lines, for the test's output and the script's table. */
export function formatSoakReport(r: SoakReport): string[] {
  const caches = (c: CacheSizes) => Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', ');
  const rows: [string, string][] = [
    ['runs (calls)', `${r.runs} (${r.calls} with explain/overlay/attribute), ${r.seconds.toFixed(1)} s, ${r.runsPerSecond.toFixed(1)} runs/s`],
    ['warm-up', `${r.warmupRuns} runs`],
    ['GPU ledger after create', `${r.created.buffers} buffers, ${mb(r.created.bytes)}`],
    ['GPU ledger at warm-up', `${r.warm.buffers} buffers, ${mb(r.warm.bytes)}`],
    ['GPU ledger at the end', `${r.end.buffers} buffers, ${mb(r.end.bytes)}`],
    ['GPU ledger after warm-up', `${mb(r.checkedBytes.min)} .. ${mb(r.checkedBytes.max)} (peak over the soak ${mb(r.peakBytes)})`],
    ['drift vs one cycle earlier', `${r.mismatchCount} of ${Math.max(0, r.runs - r.warmupRuns)} runs`],
    ['caches at the end', caches(r.end.cache)],
    ['caches, most after warm-up', caches(r.cacheMax)],
    ['JS heap (after gc)', `${mb(r.warm.heapUsed!)} at warm-up → ${mb(r.end.heapUsed!)} at the end (${r.heapGrowth >= 0 ? '+' : ''}${mb(r.heapGrowth)}, trend ${(r.heapSlope / 1024).toFixed(3)} KiB/run)`],
    ['RSS', `${mb(r.warm.rss!)} at warm-up → ${mb(r.end.rss!)} at the end (${r.rssGrowth >= 0 ? '+' : ''}${mb(r.rssGrowth)})`],
    ['after releaseCaches()', `${r.afterRelease.buffers} buffers, ${mb(r.afterRelease.bytes)}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [...rows.map(([k, v]) => `${k.padEnd(width)} | ${v}`), ...r.mismatches.map((m) => `drift: ${m}`), ...r.badResults.map((b) => `bad result: ${b}`)];
}
