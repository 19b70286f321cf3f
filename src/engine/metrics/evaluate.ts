// GradCam.evaluate(): faithfulness metrics of one explanation of the kept forward's image.
//   deletion / insertion  (Petsiuk et al. 2018, RISE): the most salient pixels first, in S steps, are
//       replaced by a blurred copy (or the mean colour, RISE's deletion substrate) in deletion, and
//       restored into the blurred copy in insertion; the target score after each step, and the curve's
//       area (low deletion AUC and high insertion AUC mean a faithful map).
//   road  (Rong et al. 2022, as pytorch-grad-cam): for each percentile p (the % kept), MoRF imputes the
//       pixels at or above the map's p-th percentile, LeRF those where 1 − map is at or above its p-th
//       percentile (the least relevant), from their neighbours (a sparse linear system solved on the GPU,
//       plus noise); the score change; combined = mean of (LeRF − MoRF) / 2.
//   confidence  (Chattopadhyay et al. 2018): the score of the image × the map (0..1) against the image's:
//       Average Drop % and Increase in Confidence.
//   sanity  (Adebayo et al. 2018): cascading randomization of the weights from the top layer down; the
//       map recomputed after each step and compared with the original (Spearman rank correlation, SSIM).
// Every perturbed image is a row of a batched forward (BatchScorer); pixels are the model input's
// (224×224 for VGG16), in its preprocessed (mean-subtracted BGR) space, where RISE's zero padding and
// pytorch-grad-cam's imputation act as they do on their normalised tensors.
import type { CamMethod } from '../camMethods.js';
import type { GradCam } from '../gradcam.js';
import type { Network } from '../network.js';
import type { GpuWeights } from '../weights/gpuWeights.js';
import { convLayerNames, type ModelSpec } from '../model.js';
import { checkPixelSampling, isPixelMethod, type PixelMethod, type PixelSampling } from '../pixelMethods.js';
import { maxAbsOverChannels, resizeBilinear } from '../pixelMaps.js';
import type { BatchScorer, RowSource, ScoreRowsOptions } from './batchScores.js';
import { gaussianBlur, minMaxNormalize, salientOrder, trapezoid } from './stats.js';
import { roadScores, ROAD_DEFAULTS } from './road.js';
import { cascadingRandomization, checkSanityLayers } from './sanity.js';
import { DEFAULT_METRICS, METRIC_NAMES, type ConfidenceResult, type Curve, type EvaluateOptions, type EvaluateResult, type MetricName } from './types.js';

export const EVALUATE_DEFAULTS = { steps: 16, blurSigma: 5, percentiles: [10, 20, 30, 40, 50, 60, 70, 80, 90], seed: 0, score: 'prob' } as const;

/** What evaluate needs from the engine that holds the kept forward. */
export interface MetricsHost {
  readonly engine: GradCam;
  /** The kept forward's probabilities, read in call order (throws when there is none); later calls throw if another forward ran since. */
  keptProbabilities(): Promise<Float32Array>;
  /** The kept forward's preprocessed input [H, W, 3]. */
  keptInput(): Promise<Float32Array>;
  /** Scores rows of perturbed inputs with the kept network's weights. */
  scoreRows(count: number, source: RowSource, options: ScoreRowsOptions): Promise<{ probabilities: Float32Array; logits: Float32Array }>;
  /** Runs f with the kept network locked (its input buffer holds the kept image). */
  locked<T>(f: (network: Network, scorer: BatchScorer) => Promise<T>): Promise<T>;
  /** The kept batch-1 network (its weights are the ones evaluated). */
  readonly network: Network;
  /** A new engine over other weights: the same model, kernel choices and options (sanity.ts). */
  create(weights: GpuWeights): Promise<GradCam>;
}

export function checkEvaluateOptions(o: EvaluateOptions, model: ModelSpec): void {
  const convLayers = convLayerNames(model);
  if (o.score !== undefined && o.score !== 'prob' && o.score !== 'logit') throw new Error(`score '${String(o.score)}': choose 'prob' or 'logit'`);
  if (o.mapScore !== undefined && o.mapScore !== 'prob' && o.mapScore !== 'logit') throw new Error(`mapScore '${String(o.mapScore)}': choose 'prob' or 'logit'`);
  if (o.deletionSubstrate !== undefined && o.deletionSubstrate !== 'blur' && o.deletionSubstrate !== 'mean') throw new Error(`deletionSubstrate '${String(o.deletionSubstrate)}': choose 'blur' or 'mean'`);
  if (o.sampling) checkPixelSampling(o.sampling);
  if (o.sanityLayers !== undefined) checkSanityLayers(model, o.sanityLayers);
  for (const m of o.metrics ?? []) if (!METRIC_NAMES.includes(m)) throw new Error(`metric '${String(m)}': choose from ${METRIC_NAMES.join(', ')}`);
  if (o.metrics && o.metrics.length === 0) throw new Error(`metrics: name at least one of ${METRIC_NAMES.join(', ')}`);
  if (o.steps !== undefined && !(Number.isInteger(o.steps) && o.steps >= 1 && o.steps <= 1024)) throw new Error(`steps ${o.steps}: deletion/insertion steps must be an integer in 1..1024`);
  if (o.blurSigma !== undefined && !(o.blurSigma > 0 && o.blurSigma <= 100)) throw new Error(`blurSigma ${o.blurSigma}: a Gaussian σ in pixels, in (0, 100]`);
  if (o.percentiles !== undefined) {
    if (o.percentiles.length === 0) throw new Error('percentiles: give at least one, e.g. 10,20,…,90');
    for (const p of o.percentiles) if (!(p > 0 && p < 100)) throw new Error(`percentile ${p}: the % of pixels kept, strictly between 0 and 100`);
  }
  if (o.roadNoise !== undefined && !(Number.isFinite(o.roadNoise) && o.roadNoise >= 0 && o.roadNoise <= 255)) throw new Error(`roadNoise ${o.roadNoise}: a σ in 0..255 levels`);
  if (o.roadTolerance !== undefined && !(o.roadTolerance >= 1e-7 && o.roadTolerance <= 0.1)) throw new Error(`roadTolerance ${o.roadTolerance}: a relative residual in 1e-7..0.1`);
  if (o.seed !== undefined && !(Number.isInteger(o.seed) && o.seed >= 0 && o.seed < 2 ** 32)) throw new Error(`seed ${o.seed}: an integer in 0..2^32−1`);
  if (o.batchRows !== undefined && !(Number.isInteger(o.batchRows) && o.batchRows >= 1)) throw new Error(`batchRows ${o.batchRows}: must be a positive integer`);
  if (o.layer !== undefined && !convLayers.includes(o.layer)) throw new Error(`layer '${o.layer}' is not a conv layer; choose one of ${convLayers.join(', ')}`);
}

/**
 * The map a method gives for `classIndex` on `engine`'s kept forward, at the model's input size: CAMs
 * upsampled bilinearly (half-pixel centres, as cv2.resize), pixel-level methods' `map` (guided ones:
 * max |·| over colour channels).
 */
export async function mapAtInput(
  engine: GradCam,
  method: CamMethod | PixelMethod,
  classIndex: number,
  layer: string | undefined,
  score?: 'prob' | 'logit',
  sampling?: PixelSampling,
): Promise<Float32Array> {
  const [h, w] = engine.model.inputShape;
  if (isPixelMethod(method)) {
    const r = await engine.attribute({ method, classIndex, score, ...sampling, ...(method === 'guided-gradcam' && layer ? { layer } : {}) });
    return r.map?.data ?? maxAbsOverChannels(r.attribution.data);
  }
  const r = await engine.explain({ method, classIndex, layer, score });
  const { data, width, height } = r.heatmap;
  return width === w && height === h ? data : resizeBilinear(data, width, height, 1, w, h);
}

function curve(scores: ArrayLike<number>, steps: number): Curve {
  const fractions = Array.from({ length: steps + 1 }, (_, k) => k / steps);
  const s = Array.from(scores);
  return { fractions, scores: s, auc: trapezoid(fractions, s) };
}

/** Pixels changed after step k of S: round(k·N / S). */
export function pixelsAtStep(k: number, steps: number, pixels: number): number {
  return Math.round((k * pixels) / steps);
}

/** The image × map (each pixel's RGB scaled by the map), in the preprocessed space: x·m + mean·(m − 1) per BGR channel. */
function maskedByMap(pre: Float32Array, map01: Float64Array, meanBgr: readonly number[], out: Float32Array): void {
  for (let p = 0; p < map01.length; p++) for (let c = 0; c < 3; c++) out[3 * p + c] = (pre[3 * p + c] + meanBgr[c]) * map01[p] - meanBgr[c];
}

export async function evaluateMetrics(host: MetricsHost, options: EvaluateOptions, meanBgr: readonly number[]): Promise<EvaluateResult> {
  const t0 = performance.now();
  const { engine } = host;
  const metrics = new Set<MetricName>(options.metrics ?? DEFAULT_METRICS);
  const method = options.method ?? 'gradcam';
  const score = options.score ?? EVALUATE_DEFAULTS.score;
  const probabilities = await host.keptProbabilities();
  let classIndex = options.classIndex;
  if (classIndex === undefined) {
    classIndex = 0;
    for (let i = 1; i < probabilities.length; i++) if (probabilities[i] > probabilities[classIndex]) classIndex = i;
  }
  if (!(Number.isInteger(classIndex) && classIndex >= 0 && classIndex < probabilities.length)) throw new Error(`class ${classIndex}: must be an integer in 0..${probabilities.length - 1}`);
  const [h, w] = engine.model.inputShape;
  const pixels = h * w;
  const warnings: string[] = [];
  const timingsMs: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await f();
    } finally {
      timingsMs[name] = (timingsMs[name] ?? 0) + performance.now() - t;
    }
  };
  const pick = (out: { probabilities: Float32Array; logits: Float32Array }, row: number) => {
    const classes = probabilities.length;
    return (score === 'prob' ? out.probabilities : out.logits)[row * classes + classIndex!];
  };

  const map = await timed('map', () => mapAtInput(engine, method, classIndex!, options.layer, options.mapScore, options.sampling));
  const pre = await host.keptInput();
  const result: EvaluateResult = { method, classIndex, score, map: { data: map, width: w, height: h }, warnings, timingsMs };
  if (!map.some((v) => v !== map[0])) warnings.push(`the ${method} map of class ${classIndex} is constant (${map[0]}): no pixel is ranked above another, so the metrics say nothing about it`);

  // Rows on the CPU: 0 the image, then deletion steps 1..S, insertion steps 0..S−1 (insertion's S is the image), the image × map.
  const steps = options.steps ?? EVALUATE_DEFAULTS.steps;
  const curves = metrics.has('deletion') || metrics.has('insertion');
  const order = salientOrder(map);
  const blurred = curves ? gaussianBlur(pre, w, h, 3, options.blurSigma ?? EVALUATE_DEFAULTS.blurSigma) : new Float32Array(0);
  // Zero in the preprocessed space is the ImageNet mean colour.
  const substrate = options.deletionSubstrate === 'mean' ? new Float32Array(pre.length) : blurred;
  const map01 = metrics.has('confidence') ? minMaxNormalize(map) : undefined;
  type Row = { kind: 'image' } | { kind: 'deletion' | 'insertion'; k: number } | { kind: 'masked' };
  const rows: Row[] = [{ kind: 'image' }];
  if (metrics.has('deletion')) for (let k = 1; k <= steps; k++) rows.push({ kind: 'deletion', k });
  if (metrics.has('insertion')) for (let k = 0; k < steps; k++) rows.push({ kind: 'insertion', k });
  if (map01) rows.push({ kind: 'masked' });
  const fill = (i: number, out: Float32Array) => {
    const row = rows[i];
    if (row.kind === 'masked') return maskedByMap(pre, map01!, meanBgr, out);
    if (row.kind === 'image') return out.set(pre);
    const n = pixelsAtStep(row.k, steps, pixels);
    // Deletion: the image with its n most salient pixels replaced (blur or mean colour); insertion: the blur with them restored.
    out.set(row.kind === 'deletion' ? pre : blurred);
    const from = row.kind === 'deletion' ? substrate : pre;
    for (let j = 0; j < n; j++) {
      const p = order[j];
      out[3 * p] = from[3 * p];
      out[3 * p + 1] = from[3 * p + 1];
      out[3 * p + 2] = from[3 * p + 2];
    }
  };
  const cpuMetrics = [...metrics].filter((m) => m !== 'road' && m !== 'sanity');
  const scored = await timed(cpuMetrics.join('+') || 'original', () =>
    host.scoreRows(rows.length, { kind: 'cpu', fill }, { batchRows: options.batchRows, onProgress: (d, n) => cpuMetrics.forEach((m) => options.onProgress?.(m, d, n)) }),
  );
  const original = pick(scored, 0);
  const rowScore = (kind: Row['kind'], k?: number) => pick(scored, rows.findIndex((r) => r.kind === kind && (k === undefined || ('k' in r && r.k === k))));
  if (metrics.has('deletion')) result.deletion = curve([original, ...Array.from({ length: steps }, (_, k) => rowScore('deletion', k + 1))], steps);
  if (metrics.has('insertion')) result.insertion = curve([...Array.from({ length: steps }, (_, k) => rowScore('insertion', k)), original], steps);
  if (map01) {
    const masked = rowScore('masked');
    const confidence: ConfidenceResult = {
      original,
      masked,
      averageDropPercent: original > 0 ? (Math.max(0, original - masked) / original) * 100 : NaN,
      increase: masked > original,
    };
    if (!(original > 0)) warnings.push(`confidence: the image's ${score} of class ${classIndex} is ${original}, so the Average Drop (a fraction of it) is undefined; use score 'prob'`);
    result.confidence = confidence;
  }
  if (metrics.has('road')) {
    const percentiles = [...(options.percentiles ?? EVALUATE_DEFAULTS.percentiles)];
    result.road = await timed('road', () =>
      roadScores(host, {
        map,
        percentiles,
        original,
        pick: (out, row) => pick(out, row),
        noise: options.roadNoise ?? ROAD_DEFAULTS.noise,
        tolerance: options.roadTolerance ?? ROAD_DEFAULTS.tolerance,
        seed: options.seed ?? EVALUATE_DEFAULTS.seed,
        batchRows: options.batchRows,
        onProgress: (d, n) => options.onProgress?.('road', d, n),
        warnings,
      }),
    );
  }
  if (metrics.has('sanity')) {
    result.sanity = await timed('sanity', () =>
      cascadingRandomization(host, {
        method,
        classIndex: classIndex!,
        layer: options.layer,
        mapScore: options.mapScore,
        sampling: options.sampling,
        original: map,
        input: pre,
        layers: options.sanityLayers,
        seed: options.seed ?? EVALUATE_DEFAULTS.seed,
        onProgress: (d, n) => options.onProgress?.('sanity', d, n),
        warnings,
      }),
    );
  }
  timingsMs.total = performance.now() - t0;
  return result;
}

