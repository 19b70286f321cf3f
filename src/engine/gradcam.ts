// Grad-CAM on the GPU, as the Keras recipe ("Deep Learning with Python", 5.4.3) computes it:
// score = softmax output of class c (or its logit), A = output of the target conv layer (post-ReLU),
// G = dscore/dA, α_k = mean over H, W of G, map = mean over k of A·α_k, ReLU, divided by its max;
// then the OpenCV overlay (bilinear upsample, uint8, JET, jet·α + image, saturated).
// run() records preprocess, forward, backward down to the target, CAM and overlay in one command buffer;
// only the results are read back. The image's activations stay on the GPU, so another class, layer or
// score needs only explain() (backward, CAM, overlay) and another α, blend or colormap only overlay().
// Buffers for the current image size are kept and reused. The backward path is derived from the forward
// plan, walked in reverse.
import { COLORMAPS, packColormapLut, type ColormapName } from '../kernels/colormaps.js';
import { augmentInputVersions, camAccumulateVersions, camNormalizeVersions, camTermsVersions } from '../kernels/camMaps.js';
import { prepareEigenProjection, unpackEigenStats, type EigenProjection } from '../kernels/eigenProjection.js';
import { BLEND_MODES, gradcamChannelWeightsVersions, gradcamHeatmapVersions, overlayHeatmapVersions, packOverlayParams, type BlendMode } from '../kernels/gradcam.js';
import { destroyDispatch, type Dispatch } from '../kernels/kernel.js';
import { prepareBackward, type BackwardContext, type BackwardSink } from './backward.js';
import { packResizeTable } from '../kernels/preprocessImage.js';
import { NOT_RANKED, packTargetRows, type ScoreKind, type TargetRow } from '../kernels/softmaxScoreBackward.js';
import { checkMethod, checkTarget, formatTarget, METHOD_SPECS, parseTarget, type CamMethod, type CamTarget, type MethodSpec, type ResolvedTarget } from './camMethods.js';
import { PerturbationCam } from './perturbationCam.js';
import { BatchScorer } from './metrics/batchScores.js';
import { checkEvaluateOptions, evaluateMetrics, type MetricsHost } from './metrics/evaluate.js';
import type { EvaluateOptions, EvaluateResult } from './metrics/types.js';
import { IMAGENET_MEAN_BGR } from '../kernels/preprocessImage.js';
import { SampledGradients } from './pixelAttribution.js';
import { checkPixelSampling, isPixelMethod, PIXEL_DEFAULTS, PIXEL_METHOD_SPECS, PIXEL_METHODS, smoothGradNoise, type PixelMethod, type PixelSampling } from './pixelMethods.js';
import { deprocessGradient, grayscaleMap, maxAbsOverChannels, multiplyChannels, preprocessedFromRgb, resizeBilinear, resizeRgba, rgbFromPreprocessed, sum, sumOverChannels } from './pixelMaps.js';
import { preprocessImageBackwardVersions } from '../kernels/preprocessImageBackward.js';
import type { ReluRule } from '../kernels/reluRule.js';
import { INPUT_TENSOR } from './plan.js';
import { MAX_IMAGE_PIXELS } from './device.js';
import { guardDevice, GpuCommandError } from './deviceErrors.js';
import { cachedPipelineCount } from '../kernels/kernel.js';
import { encodePasses, PassTimer, Readback, type PassTiming } from './gpuTimer.js';
import { decodePredictions, topK, type Prediction } from './imagenet.js';
import { classCount, convLayerNames, elementCount, type ModelSpec } from './model.js';
import { Network, type ImageInput, type NetworkOptions, type StagedInput } from './network.js';
import type { ResizeMethod } from '../kernels/preprocessImage.js';
import type { GpuWeights, WeightMap } from './weights/gpuWeights.js';

export type { ScoreKind } from '../kernels/softmaxScoreBackward.js';
export type { BlendMode } from '../kernels/gradcam.js';
export type { ColormapName } from '../kernels/colormaps.js';
export { CAM_METHODS, formatTarget, parseTarget, type CamMethod, type CamTarget, type ResolvedTarget } from './camMethods.js';
export { PIXEL_METHODS, PIXEL_DEFAULTS, isPixelMethod, type PixelMethod, type PixelSampling } from './pixelMethods.js';

const DEFAULT_ALPHA = 0.4;

/** The overlay pass alone: changing these reruns only it (see GradCam.overlay). */
export interface OverlayOptions {
  /** Weight of the heatmap's colour, 0..1 (default 0.4, as the recipe). */
  alpha?: number;
  /** 'add' (default, the recipe): colour·α + image, saturated; 'normalized': (1 − α)·image + α·colour. */
  blend?: BlendMode;
  /** Default 'jet' (the recipe's). */
  colormap?: ColormapName;
}

/** What a map needs from a kept forward: changing these reruns the backward, the CAM and the overlay. */
export interface ExplainOptions extends OverlayOptions {
  /** Default 'gradcam' (the Keras recipe); see CAM_METHODS and camMethods.ts. */
  method?: CamMethod;
  /** ImageNet class (0–999); default: the top-1 class. Shorthand for target { kind: 'class', classIndex }. */
  classIndex?: number;
  /** What the map explains (or its text form, 'class:386', 'classes:1,2', 'counterfactual:386'); default: the top-1 class. */
  target?: CamTarget | string;
  /**
   * Several maps from one forward: each target gets its map (GradCamResult.maps). The gradient methods
   * without eigen- or aug-smoothing compute up to 8 of them in one backward pass (one gradient row each).
   */
  targets?: readonly (CamTarget | string)[];
  /** Any conv layer; default 'block5_conv3' (the last conv layer of the model). */
  layer?: string;
  /**
   * Several layers: each map is normalised, upsampled to the model's input size (bilinear) and the maps
   * averaged, then normalised again (as pytorch-grad-cam aggregates target layers). Overrides `layer`.
   */
  layers?: readonly string[];
  /** The map is the first principal component of the method's per-channel terms (pytorch-grad-cam's eigen_smooth). */
  eigenSmooth?: boolean;
  /** Average the maps of the input mirrored or not × scaled by 0.9, 1.0, 1.1 (6 passes; pytorch-grad-cam's aug_smooth). */
  augSmooth?: boolean;
  /** Score-CAM / Ablation-CAM: rows per batched forward, and progress after each batch. */
  batchRows?: number;
  onProgress?: (done: number, total: number) => void;
  score?: ScoreKind;
  /** How many predictions to decode (default 5). */
  top?: number;
  /** Also read back G = dscore/dA at the target layer (for verification). */
  readGradient?: boolean;
  /** Also read back these forward tensors (Keras layer names, 'input', 'predictions/logits'). */
  read?: readonly string[];
  /**
   * Profiling: each kernel in a timed compute pass of its own, so passTimings has every kernel's GPU
   * time (with timestamp queries). Otherwise each stage is one pass, which costs a GPU less; the
   * results are the same either way.
   */
  profile?: boolean;
}

export interface GradCamOptions extends ExplainOptions {
  resize?: ResizeMethod;
}

export interface GradCamForwardOptions {
  resize?: ResizeMethod;
  /** How many predictions to decode (default 5). */
  top?: number;
  /** Also read back these forward tensors. */
  read?: readonly string[];
  /** Profiling: one timed pass per kernel (see ExplainOptions.profile). */
  profile?: boolean;
}

export interface Map2D {
  data: Float32Array;
  width: number;
  height: number;
}

/** One target's map. */
export interface CamMap {
  target: ResolvedTarget;
  /** The target's first class (for 'classes', the first listed). */
  classIndex: number;
  /** ReLU(map) / max: values in [0, 1]; all zero (never NaN) when the map has no positive value. */
  heatmap: Map2D;
  /** The map before ReLU and normalisation (for several layers or aug-smooth: the average of the normalised maps). */
  rawHeatmap: Map2D;
  warnings: string[];
}

export interface GradCamResult {
  predictions: Prediction[];
  probabilities: Float32Array;
  method: CamMethod;
  /** The first map's target (the one `heatmap` and `overlay` show). */
  target: ResolvedTarget;
  classIndex: number;
  /** The first target layer. */
  layer: string;
  layers: string[];
  score: ScoreKind;
  eigenSmooth: boolean;
  augSmooth: boolean;
  /** Every target's map, in the order asked (one unless `targets` was given). */
  maps: CamMap[];
  /** ReLU(map) / max: values in [0, 1]; all zero (never NaN) when the map has no positive value. */
  heatmap: Map2D;
  /** The map before ReLU and normalisation. */
  rawHeatmap: Map2D;
  /** RGBA8 at the input image's size (absent for a preprocessed Float32Array input): the first map's. */
  overlay?: RgbaImage;
  /**
   * G at the first target layer (readGradient): one row per target of the first backward pass, i.e. up to
   * 8 targets of a gradient method, one for eigen maps, aug-smoothing (the unaugmented pass's) and
   * several targets of those; absent for the methods without gradients.
   */
  gradient?: Float32Array;
  /** The tensors asked for in `read`. */
  tensors: Map<string, Float32Array>;
  /** Every map's warnings. */
  warnings: string[];
  /**
   * GPU time per stage that ran (from timestamp queries, absent when the device has none) and 'total':
   * the wall-clock time from recording the commands to the results on the CPU.
   */
  timingsMs: Record<string, number>;
  /**
   * GPU time of every pass, empty when the device has no timestamp queries: one per stage recorded, or
   * with `profile` one per kernel (labelled '<layer> <kind>').
   */
  passTimings: PassTiming[];
}

/** What a pixel-level explanation takes (see pixelMethods.ts): the kept forward's image, one target. */
export interface PixelOptions extends PixelSampling {
  method: PixelMethod;
  /** ImageNet class; default the top-1. Shorthand for target { kind: 'class', classIndex }. */
  classIndex?: number;
  target?: CamTarget | string;
  /** Default 'logit' (Simonyan et al. and pytorch-grad-cam differentiate the class score before the softmax). */
  score?: ScoreKind;
  /** guided-gradcam: the Grad-CAM layer (default the last conv layer). */
  layer?: string;
  /** smoothgrad / integrated-gradients: samples per batched forward and backward (default 8, lowered to fit memory). */
  batchRows?: number;
  onProgress?: (done: number, total: number) => void;
  /** The rendering's size: 'model' (default, the model's input) or 'image' (resized to the kept image). */
  size?: 'model' | 'image';
  /** Profiling: one timed pass per kernel of the backward (see ExplainOptions.profile). */
  profile?: boolean;
  /** How many predictions to decode (default 5). */
  top?: number;
}

export interface PixelResult {
  predictions: Prediction[];
  probabilities: Float32Array;
  method: PixelMethod;
  target: ResolvedTarget;
  classIndex: number;
  score: ScoreKind;
  /**
   * RGB [H, W, 3] at the model's input size, un-normalised: the gradient (saliency), the guided gradient
   * (guided-backprop), that × the upsampled Grad-CAM map (guided-gradcam), the mean gradient (smoothgrad),
   * the attributions (integrated-gradients).
   */
  attribution: { data: Float32Array; width: number; height: number; channels: 3 };
  /** [H, W]: max |·| over colour channels (saliency, smoothgrad), the signed channel sum (integrated-gradients). */
  map?: Map2D;
  /** The image users know: grayscale map (saliency, smoothgrad; |IG| with Captum's outlier_perc 2 threshold), deprocessed gradient (guided). */
  rendering: RgbaImage;
  /** guided-gradcam: its Grad-CAM map, layer and overlay. */
  cam?: CamMap;
  layer?: string;
  overlay?: RgbaImage;
  /** smoothgrad / integrated-gradients: what was sampled and how it ran. */
  sampling?: { samples: number; noise?: number; sigma?: number; seed?: number; steps?: number; baseline?: number; batchRows: number; submissions: number };
  /** integrated-gradients: |Σ attributions − (s(x) − s(baseline))|, which goes to 0 as steps grow. */
  completeness?: { gap: number; sumAttributions: number; scoreInput: number; scoreBaseline: number };
  warnings: string[];
  /** 'total' wall clock; GPU 'backward' of the kept-forward gradient where timestamp queries exist; 'sampling' wall clock. */
  timingsMs: Record<string, number>;
  /** GPU time of the kept-forward gradient's backward pass, or with `profile` of each of its kernels (empty for the sampled methods or without timestamp queries). */
  passTimings: PassTiming[];
}

/** The gradient of one target row w.r.t. the image, over the kept forward. */
interface InputPlan extends BackwardSink {
  /** Keys of the gradient buffers (GradCam.grads) its dispatches bind. */
  grads: Set<string>;
  rgb: GPUBuffer;
  rowWeights: GPUBuffer;
  toRgb?: Dispatch;
}

export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/** What GradCam.forward() gives: the predictions of an image whose activations stay on the GPU. */
export interface ForwardView {
  predictions: Prediction[];
  probabilities: Float32Array;
  tensors: Map<string, Float32Array>;
  timingsMs: Record<string, number>;
  passTimings: PassTiming[];
}

export interface OverlayResult {
  overlay: RgbaImage;
  /** The map it shows: the last explain() or run(). */
  classIndex: number;
  layer: string;
  timingsMs: Record<string, number>;
  passTimings: PassTiming[];
}

/**
 * What a GradCam keeps between calls, counted (GradCam.cacheSizes()): each is bounded, so a long session
 * (a webcam, a server, a soak test) reaches a plateau instead of growing.
 */
export interface CacheSizes {
  /** Map plans (buffers and dispatches per method × layers × score × target rows × smoothing): at most MAX_PLANS, least recently used evicted. */
  plans: number;
  /** Overlay dispatches, per plan and colormap onto the current image size: dropped with their plan and when the image size changes. */
  overlays: number;
  /** Overlay resize tables, per map size onto the current image size (a few per model). */
  overlayTables: number;
  /** Gradient buffers per tensor and row count: only those the kept plans bind. */
  gradients: number;
  /** Colormap tables: at most one per colormap. */
  colormaps: number;
  /** Pixel-level backward plans, per ReLU rule and score kind. */
  inputPlans: number;
  /** Score-CAM / Ablation-CAM plans: at most MAX_PERTURBATION_PLANS. */
  perturbationPlans: number;
  /** Batched networks over the weights: the perturbation plans' (at most one each), SmoothGrad/IG's (at most one), the metrics' (at most one). */
  batchedNetworks: number;
  /** Readback staging buffers: one per name read (fixed names and the tensors asked for). */
  readbackBuffers: number;
  /** The image upload and its preprocessing: at most one, for the last image's size. */
  imageUploads: number;
  /** Compute pipelines compiled on this device (by every engine on it): finite per model. */
  pipelines: number;
}

/**
 * How many submissions ran each stage since the engine was made (a backward of 20 passes counts once):
 * how a caller (and the demo page's tests) can see that a change reran only what it needed.
 */
export interface StageCounts {
  preprocess: number;
  forward: number;
  backward: number;
  cam: number;
  overlay: number;
}

/**
 * Checks a run's options against the model alone, so a caller can refuse bad arguments before any
 * weight is loaded or GPU work is done (the CLI does); run() checks the same way.
 */
export function checkGradCamOptions(
  model: ModelSpec,
  options: Pick<GradCamOptions, 'layer' | 'layers' | 'score' | 'alpha' | 'classIndex' | 'blend' | 'colormap' | 'method' | 'target' | 'targets' | 'batchRows' | 'augSmooth'>,
): void {
  const convLayers = convLayerNames(model);
  const { layer, layers, score, alpha, classIndex, blend, colormap, method, batchRows } = options;
  for (const l of [...(layer !== undefined ? [layer] : []), ...(layers ?? [])])
    if (!convLayers.includes(l)) throw new Error(`layer '${l}' is not a conv layer of ${model.name}; choose one of ${convLayers.join(', ')}`);
  if (layers !== undefined && layers.length === 0) throw new Error('layers: list at least one conv layer');
  if (layers !== undefined && new Set(layers).size !== layers.length) throw new Error(`layers ${layers.join(',')}: a layer is listed twice`);
  if (method !== undefined) checkMethod(method);
  if (score !== undefined && score !== 'prob' && score !== 'logit') throw new Error(`score '${String(score)}': choose 'prob' or 'logit'`);
  if (alpha !== undefined && !(alpha >= 0 && alpha <= 1)) throw new Error(`alpha ${alpha}: must be between 0 and 1`);
  if (blend !== undefined && !BLEND_MODES.includes(blend)) throw new Error(`blend '${String(blend)}': choose one of ${BLEND_MODES.join(', ')}`);
  if (colormap !== undefined && !COLORMAPS.includes(colormap)) throw new Error(`colormap '${String(colormap)}': choose one of ${COLORMAPS.join(', ')}`);
  if (batchRows !== undefined && !(Number.isInteger(batchRows) && batchRows >= 1)) throw new Error(`batchRows ${batchRows}: must be a positive integer`);
  if (options.augSmooth && method !== undefined && METHOD_SPECS[method].perturbation)
    throw new Error(`augSmooth with ${method}: each of the 6 augmentations would rerun its 512 forwards; use it with the gradient or eigen methods`);
  const classes = classCount(model);
  if (classIndex !== undefined && !(Number.isInteger(classIndex) && classIndex >= 0 && classIndex < classes))
    throw new Error(`class ${classIndex}: must be an integer in 0..${classes - 1}`);
  requestedTargets(options).forEach((t) => checkTarget(t, classes));
}

/** The targets a call asks for: `targets`, else `target`, else `classIndex`, else the top-1 class. */
function requestedTargets(options: Pick<ExplainOptions, 'classIndex' | 'target' | 'targets'>): CamTarget[] {
  const parse = (t: CamTarget | string) => (typeof t === 'string' ? parseTarget(t) : t);
  if (options.targets !== undefined) {
    if (!options.targets.length) throw new Error('targets: list at least one target');
    return options.targets.map(parse);
  }
  if (options.target !== undefined) return [parse(options.target)];
  return [{ kind: 'class', classIndex: options.classIndex }];
}

export { MAX_IMAGE_PIXELS };

/** One target layer's map, for `rows` targets. */
interface LayerMap {
  layer: string;
  shape: [number, number, number];
  /** [rows, C]: channel weights (weighted term). */
  alpha: GPUBuffer;
  /** [rows, P]. */
  raw: GPUBuffer;
  heat: GPUBuffer;
  /** f32 [rows]. */
  stats: GPUBuffer;
  /** [P, C] eigen-smoothing's matrix (one row). */
  terms?: GPUBuffer;
  eigen?: EigenProjection;
  /** Channel weights from G (Grad-CAM, ++, XGrad-CAM). */
  weights?: Dispatch;
  /** The map and its normalisation. */
  map: Dispatch[];
}

/** What a map needs, made once per (method, layers, score, rows, smoothing) and reused. */
interface MapPlan extends BackwardSink {
  key: string;
  method: CamMethod;
  spec: MethodSpec;
  score: ScoreKind;
  rows: number;
  eigen: boolean;
  layers: LayerMap[];
  /** (BackwardSink) the backward from the score down to the deepest target layer (empty without gradients). */
  /** Several layers: each layer's heat resized into the average, then normalised. */
  combine: Dispatch[];
  /** aug-smooth: per augmentation the input transform and the accumulation of its map, then the normalisation. */
  aug?: { steps: { augment: Dispatch; accumulate: Dispatch }[]; normalize: Dispatch; inputCopy: GPUBuffer };
  /** The final map: the single layer's buffers, or the combined/averaged ones. */
  out: { raw: GPUBuffer; heat: GPUBuffer; stats: GPUBuffer; width: number; height: number };
  /** Buffers the plan created beyond its layers' (combined and aug outputs, tables). */
  owned: GPUBuffer[];
  /** Dispatches the plan owns (besides its layers'). */
  dispatches: Dispatch[];
  /** Keys of the gradient buffers (GradCam.grads, shared between plans) its dispatches bind. */
  grads: Set<string>;
}

/** aug-smooth's augmentations, identity last so the kept activations end as the unaugmented image's. */
const AUGMENTATIONS: readonly { flipX: boolean; factor: number }[] = [
  { flipX: true, factor: 0.9 },
  { flipX: true, factor: 1.0 },
  { flipX: true, factor: 1.1 },
  { flipX: false, factor: 0.9 },
  { flipX: false, factor: 1.1 },
  { flipX: false, factor: 1.0 },
];

/** Map plans kept at once (see GradCam.evictPlans). */
export const MAX_PLANS = 12;

/** Target rows one backward pass carries at most (the batched dense backward's limit). */
export const MAX_TARGET_ROWS = 8;

/** The kept image's size and its upload buffer (the overlay blends onto it). */
interface KeptImage {
  width: number;
  height: number;
  buffer: GPUBuffer;
}

const keptImage = (image: ImageInput | Float32Array, staged: StagedInput): KeptImage | undefined =>
  !(image instanceof Float32Array) && staged.imageBuffer ? { width: image.width, height: image.height, buffer: staged.imageBuffer } : undefined;

/** The image whose activations are on the GPU now. */
interface KeptForward {
  /** The network's forward count right after ours: another forward (network.forward()) overwrites the activations. */
  generation: number;
  image?: KeptImage;
  probabilities: Float32Array;
}

/** The last map computed on the kept forward, for overlay(). */
interface KeptMap {
  generation: number;
  plan: MapPlan;
  classIndex: number;
  layer: string;
}

/** One submission: passes recorded under their stage names, buffers copied out at the end. */
interface Recorder {
  stage(dispatches: readonly Dispatch[], stage: keyof StageCounts): void;
  forward(staged: StagedInput): void;
  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number): void;
  read(name: string, buffer: GPUBuffer, bytes?: number): void;
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
/** Passes one submission may time: aug-smooth's six forwards and backwards of VGG19 need about 330. */
const MAX_TIMED_PASSES = 400;

/** The class of rank k in descending probability (first index on ties, as the score kernel orders them). */
const rankedClass = (p: Float32Array, rank: number): number => topK(p, rank + 1)[rank];

/** A target as a row of the score kernel: the top-1 default and ranks are found on the GPU. */
function targetRow(t: CamTarget, probabilities?: Float32Array): TargetRow {
  switch (t.kind) {
    case 'class':
      if (t.classIndex !== undefined) return { classes: [t.classIndex], sign: 1 };
      return probabilities ? { classes: [rankedClass(probabilities, 0)], sign: 1 } : { rank: 0 };
    case 'rank':
      return probabilities ? { classes: [rankedClass(probabilities, t.rank)], sign: 1 } : { rank: t.rank };
    case 'classes':
      return { classes: t.classes, sign: 1 };
    case 'counterfactual':
      return { classes: [t.classIndex], sign: -1 };
  }
}

function resolveTarget(t: CamTarget, row: TargetRow, chosen: number): ResolvedTarget {
  const classes = 'rank' in row ? [chosen] : [...row.classes];
  return { kind: t.kind === 'rank' ? 'class' : t.kind, classes, sign: 'rank' in row ? 1 : row.sign };
}

export class GradCam {
  private readonly grads = new Map<string, GPUBuffer>();
  private readonly plans = new Map<string, MapPlan>();
  /** `kernel.version` run for each layer's backward pass, as prepared so far. */
  readonly backwardVersions = new Map<string, string>();
  /** Recorded passes per stage since creation (see StageCounts). */
  readonly stageCounts: StageCounts = { preprocess: 0, forward: 0, backward: 0, cam: 0, overlay: 0 };
  private readonly chosen: GPUBuffer;
  private readonly luts = new Map<ColormapName, GPUBuffer>();
  /** The overlay of one plan's map onto the current image, per (plan, colormap): kept while the image size stays. */
  private readonly overlays = new Map<string, Dispatch>();
  private readonly overlayTables = new Map<string, GPUBuffer>();
  private overlayOut?: GPUBuffer;
  private overlayImage?: GPUBuffer;
  private readonly timer?: PassTimer;
  private readonly readback: Readback;
  private perturbation?: PerturbationCam;
  private sampled?: SampledGradients;
  private scorer?: BatchScorer;
  private readonly inputPlans = new Map<string, InputPlan>();
  private kept?: KeptForward;
  private keptMap?: KeptMap;
  private disposed = false;

  private constructor(
    readonly network: Network,
    readonly convLayers: readonly string[],
    private readonly options: NetworkOptions,
  ) {
    const device = network.device;
    this.chosen = device.createBuffer({ label: 'chosen classes', size: 4 * MAX_TARGET_ROWS, usage: STORAGE() });
    this.timer = PassTimer.create(device, MAX_TIMED_PASSES);
    this.readback = new Readback(device);
  }

  /** Keeps every activation (the backward pass needs them), so any conv layer can be the target. */
  static async create(device: GPUDevice, model: ModelSpec, weights: WeightMap | GpuWeights, options: NetworkOptions = {}): Promise<GradCam> {
    if ((options.batch ?? 1) !== 1) throw new Error(`GradCam: one image at a time (batch ${options.batch} asked); use Network for batched forwards`);
    const all = model.layers.map((l) => l.name);
    // A lost device, or an allocation refused (too little GPU memory), rejects with the engine's own error
    // and frees everything made so far: the weights too when they were handed over on the GPU.
    return guardDevice(
      device,
      `GradCam.create(${model.name})`,
      async () => {
        const network = await Network.create(device, model, weights, { ...options, keep: ['input', ...all] });
        try {
          return new GradCam(network, convLayerNames(model), options);
        } catch (e) {
          network.dispose();
          throw e;
        }
      },
      { orphan: (cam) => cam.dispose() },
    );
  }

  get model(): ModelSpec {
    return this.network.model;
  }

  /** GPU memory held: weights, activations, the image upload, gradients, map plans, overlay, readback and timer buffers, the pixel-level methods' plans and batched network, in bytes. */
  get memoryBytes(): number {
    let n = this.network.memoryBytes + this.chosen.size + this.readback.bytes + (this.timer?.bytes ?? 0) + (this.overlayOut?.size ?? 0);
    for (const b of [...this.grads.values(), ...this.luts.values(), ...this.overlayTables.values()]) n += b.size;
    for (const p of this.plans.values()) {
      for (const b of [...p.owned, ...(p.coef ? [p.coef, p.ranks!] : [])]) n += b.size;
      for (const l of p.layers) n += l.alpha.size + l.raw.size + l.heat.size + l.stats.size + (l.terms?.size ?? 0) + (l.eigen?.bytes ?? 0);
    }
    for (const p of this.inputPlans.values()) for (const b of [p.rgb, p.rowWeights, ...(p.coef ? [p.coef, p.ranks!] : [])]) n += b.size;
    return n + (this.perturbation?.bytes ?? 0) + (this.sampled?.bytes ?? 0) + (this.scorer?.bytes ?? 0);
  }

  get defaultLayer(): string {
    return this.convLayers[this.convLayers.length - 1];
  }

  /** Whether an image's forward is kept on the GPU, so explain() and overlay() can run. */
  get hasForward(): boolean {
    return this.kept !== undefined && this.kept.generation === this.network.forwardCount;
  }

  /** The gradient buffer of a tensor for `rows` rows, shared by the plans; `user` records that a plan binds it. */
  private gradBuffer(name: string, rows = 1, user?: Set<string>): GPUBuffer {
    const root = this.network.plan.tensors.get(name)?.aliasOf ?? name;
    const key = `${root}|${rows}`;
    user?.add(key);
    let b = this.grads.get(key);
    if (!b) {
      const bytes = 4 * rows * elementCount(this.network.tensorShape(root));
      b = this.network.device.createBuffer({ label: `d(score)/d(${root})${rows > 1 ? ` ×${rows}` : ''}`, size: bytes, usage: STORAGE() });
      this.grads.set(key, b);
    }
    return b;
  }

  private lut(name: ColormapName): GPUBuffer {
    let b = this.luts.get(name);
    if (!b) {
      const lut = packColormapLut(name);
      b = this.network.device.createBuffer({ label: `${name} colormap`, size: lut.byteLength, usage: STORAGE() });
      this.network.device.queue.writeBuffer(b, 0, lut);
      this.luts.set(name, b);
    }
    return b;
  }

  private buffer(label: string, bytes: number): GPUBuffer {
    return this.network.device.createBuffer({ label, size: Math.max(16, bytes), usage: STORAGE() });
  }

  /** What the backward passes need from this engine: its gradient buffers (shared by every plan; `user` records which) and version record. */
  private backwardContext(user: Set<string>): BackwardContext {
    return {
      network: this.network,
      grad: (tensor, rows) => this.gradBuffer(tensor, rows, user),
      buffer: (label, bytes) => this.buffer(label, bytes),
      chosen: this.chosen,
      options: this.options,
      onVersion: (layer, version) => this.backwardVersions.set(layer, version),
    };
  }

  /** Adds the layer's map to `plan.layers` first, then prepares its dispatches (see backwardPlan). */
  private async layerMap(plan: MapPlan, layer: string, spec: MethodSpec, eigen: boolean, rows: number, gradRows: number): Promise<void> {
    const { network } = this;
    const device = network.device;
    const shape = network.tensorShape(layer) as [number, number, number];
    const cam = { positions: shape[0] * shape[1], channels: shape[2], rows };
    const activations = network.tensorBuffer(layer);
    // Without gradients the kernels still bind a gradient buffer, unread.
    const grad = this.gradBuffer(layer, gradRows, plan.grads);
    const alpha = this.buffer(`channel weights ${layer}`, 4 * rows * cam.channels);
    const raw = this.buffer(`raw map ${layer}`, 4 * rows * cam.positions);
    const heat = this.buffer(`heatmap ${layer}`, 4 * rows * cam.positions);
    const stats = this.buffer(`heatmap max ${layer}`, 4 * rows);
    const l: LayerMap = { layer, shape, alpha, raw, heat, stats, map: [] };
    plan.layers.push(l);
    if (spec.weights) l.weights = await gradcamChannelWeightsVersions[0].prepare(device, { ...cam, method: spec.weights }, { grad, activations, alpha });
    if (eigen) {
      l.terms = this.buffer(`CAM terms ${layer}`, 4 * cam.positions * cam.channels);
      l.map.push(await camTermsVersions[0].prepare(device, { ...cam, term: spec.term }, { activations, grad, alpha, terms: l.terms }));
      l.eigen = await prepareEigenProjection(device, cam, { matrix: l.terms, projection: raw }, `eigen projection ${layer}`);
      l.map.push(...l.eigen.dispatches);
      l.map.push(await camNormalizeVersions[0].prepare(device, { positions: cam.positions, rows }, { raw, heat, stats }));
    } else {
      const term = spec.term === 'activations' ? 'weighted' : spec.term;
      l.map.push(await gradcamHeatmapVersions[0].prepare(device, { ...cam, term, meanOverChannels: spec.mean }, { activations, grad, alpha, raw, heat, stats }));
    }
  }

  private resizeTable(srcW: number, srcH: number, dstW: number, dstH: number, owned: GPUBuffer[]): GPUBuffer {
    const data = packResizeTable({ srcW, srcH, dstW, dstH, method: 'bilinear' });
    const table = this.buffer(`resize table ${srcW}×${srcH}→${dstW}×${dstH}`, data.byteLength);
    this.network.device.queue.writeBuffer(table, 0, data);
    owned.push(table);
    return table;
  }

  private async mapPlan(method: CamMethod, layers: readonly string[], score: ScoreKind, rows: number, eigenSmooth: boolean, augSmooth: boolean): Promise<MapPlan> {
    const key = `${method}|${layers.join(',')}|${score}|${rows}|${eigenSmooth}|${augSmooth}`;
    const cached = this.plans.get(key);
    if (cached) {
      // Most recently used last (Map order), for the eviction below.
      this.plans.delete(key);
      this.plans.set(key, cached);
      return cached;
    }
    this.evictPlans();
    const device = this.network.device;
    const spec = METHOD_SPECS[method];
    const eigen = spec.eigen || eigenSmooth;
    if (eigen && rows !== 1) throw new Error(`GradCam: ${method}${eigenSmooth ? ' with eigen-smoothing' : ''} maps one target per pass`);
    const owned: GPUBuffer[] = [];
    const dispatches: Dispatch[] = [];
    const plan: MapPlan = { key, method, spec, score, rows, eigen, layers: [], backward: [], combine: [], owned, dispatches, grads: new Set(), out: undefined! };
    try {
      if (spec.gradients) {
        // The deepest target layer: the backward runs down to it, passing the others.
        const order = this.convLayers;
        const deepest = [...layers].sort((a, b) => order.indexOf(a) - order.indexOf(b))[0];
        await prepareBackward(this.backwardContext(plan.grads), { deepest, rows, score }, plan);
      }
      for (const layer of layers) await this.layerMap(plan, layer, spec, eigen, rows, spec.gradients ? rows : 1);
      const first = plan.layers[0];
      plan.out = { raw: first.raw, heat: first.heat, stats: first.stats, width: first.shape[1], height: first.shape[0] };
      if (layers.length > 1) {
        // pytorch-grad-cam averages the layers' normalised maps at the input size, then normalises.
        const [h, w] = this.model.inputShape;
        const raw = this.buffer(`averaged map ${layers.join('+')}`, 4 * rows * h * w);
        const heat = this.buffer(`averaged heatmap ${layers.join('+')}`, 4 * rows * h * w);
        const stats = this.buffer('averaged heatmap max', 4 * rows);
        owned.push(raw, heat, stats);
        for (const [i, l] of plan.layers.entries()) {
          const [lh, lw] = l.shape;
          const table = this.resizeTable(lw, lh, w, h, owned);
          const shape = { srcW: lw, srcH: lh, dstW: w, dstH: h, rows, scale: 1 / layers.length, accumulate: i > 0 };
          plan.combine.push(await camAccumulateVersions[0].prepare(device, shape, { src: l.heat, table, acc: raw }));
        }
        plan.combine.push(await camNormalizeVersions[0].prepare(device, { positions: h * w, rows }, { raw, heat, stats }));
        dispatches.push(...plan.combine);
        plan.out = { raw, heat, stats, width: w, height: h };
      }
      if (augSmooth) {
        const { width, height } = plan.out;
        const [ih, iw, ic] = this.model.inputShape;
        const input = this.network.tensorBuffer('input');
        const inputCopy = this.buffer('input before augmentation', 4 * ih * iw * ic);
        const raw = this.buffer('aug-smoothed map', 4 * rows * width * height);
        const heat = this.buffer('aug-smoothed heatmap', 4 * rows * width * height);
        const stats = this.buffer('aug-smoothed heatmap max', 4 * rows);
        owned.push(inputCopy, raw, heat, stats);
        const table = this.resizeTable(width, height, width, height, owned);
        const steps = [];
        for (const [i, a] of AUGMENTATIONS.entries()) {
          const augment = await augmentInputVersions[0].prepare(device, { w: iw, h: ih, c: ic, factor: a.factor, flipX: a.flipX }, { x: inputCopy, y: input }, `augment ${a.flipX ? 'flip ' : ''}×${a.factor}`);
          // A map of the mirrored input is mirrored back before it is averaged (ttach's deaugmentation).
          const shape = { srcW: width, srcH: height, dstW: width, dstH: height, rows, scale: 1 / AUGMENTATIONS.length, flipX: a.flipX, accumulate: i > 0 };
          const accumulate = await camAccumulateVersions[0].prepare(device, shape, { src: plan.out.heat, table, acc: raw });
          steps.push({ augment, accumulate });
          dispatches.push(augment, accumulate);
        }
        const normalize = await camNormalizeVersions[0].prepare(device, { positions: width * height, rows }, { raw, heat, stats });
        dispatches.push(normalize);
        plan.aug = { steps, normalize, inputCopy };
        plan.out = { raw, heat, stats, width, height };
      }
    } catch (err) {
      this.destroyPlan(plan);
      this.dropUnusedGrads();
      throw err;
    }
    this.plans.set(key, plan);
    return plan;
  }

  /**
   * Keeps at most MAX_PLANS plans (a page switching method × layer × smoothing would otherwise pile up
   * buffers: eigen terms at block1_conv1 are 12.8 MB a plan): the least recently used go, with their
   * overlays, except the one the kept map (overlay()) draws.
   */
  private evictPlans(): void {
    let evicted = false;
    for (const [key, p] of this.plans) {
      if (this.plans.size < MAX_PLANS) break;
      if (this.keptMap?.plan === p) continue;
      this.plans.delete(key);
      for (const [k, d] of this.overlays)
        if (k.startsWith(`${key}|`)) {
          destroyDispatch(d);
          this.overlays.delete(k);
        }
      this.destroyPlan(p);
      evicted = true;
    }
    // Gradients are shared between plans: those no kept plan binds go too (8 target rows of VGG16's
    // gradients down to block1 are ~600 MB, so rows asked once must not stay for good).
    if (evicted) this.dropUnusedGrads();
  }

  /** Destroys the gradient buffers that no kept map plan or input plan binds. */
  private dropUnusedGrads(): void {
    const used = new Set<string>();
    for (const p of [...this.plans.values(), ...this.inputPlans.values()]) for (const k of p.grads) used.add(k);
    for (const [k, b] of this.grads)
      if (!used.has(k)) {
        b.destroy();
        this.grads.delete(k);
      }
  }

  private destroyPlan(p: MapPlan): void {
    [...p.backward, ...p.dispatches].forEach(destroyDispatch);
    for (const l of p.layers) {
      [...l.map.filter((d) => !l.eigen?.dispatches.includes(d)), ...(l.weights ? [l.weights] : [])].forEach(destroyDispatch);
      l.eigen?.destroy();
      for (const b of [l.alpha, l.raw, l.heat, l.stats, ...(l.terms ? [l.terms] : [])]) b.destroy();
    }
    for (const b of [...p.owned, ...(p.coef ? [p.coef] : []), ...(p.ranks ? [p.ranks] : [])]) b.destroy();
  }

  /**
   * The overlay pass of a plan's (first) map onto the kept image. For one image size there is one output
   * buffer and one resize table per map size; a dispatch (bind group) per (plan, colormap). α and the
   * blend are written into its uniform before each use.
   */
  private async overlayPlan(plan: MapPlan, image: KeptImage, options: OverlayOptions): Promise<Dispatch> {
    const device = this.network.device;
    if (this.overlayImage !== image.buffer) {
      // A new image buffer (another size): every prepared overlay binds the old one.
      this.dropOverlays();
      this.overlayImage = image.buffer;
    }
    const colormap = options.colormap ?? 'jet';
    const key = `${plan.key}|${colormap}`;
    const [h, w] = [plan.out.height, plan.out.width];
    const shape = { srcW: w, srcH: h, dstW: image.width, dstH: image.height, alpha: options.alpha ?? DEFAULT_ALPHA, blend: options.blend ?? 'add' };
    const out = (this.overlayOut ??= device.createBuffer({ label: 'overlay rgba8', size: 4 * image.width * image.height, usage: STORAGE() }));
    let table = this.overlayTables.get(`${w}x${h}`);
    if (!table) {
      const tableData = packResizeTable({ srcW: w, srcH: h, dstW: image.width, dstH: image.height, method: 'bilinear' });
      table = device.createBuffer({ label: `overlay resize table ${w}×${h}`, size: tableData.byteLength, usage: STORAGE() });
      device.queue.writeBuffer(table, 0, tableData);
      this.overlayTables.set(`${w}x${h}`, table);
    }
    let dispatch = this.overlays.get(key);
    if (!dispatch) {
      dispatch = await overlayHeatmapVersions[0].prepare(device, shape, { heat: plan.out.heat, table, lut: this.lut(colormap), image: image.buffer, out });
      this.overlays.set(key, dispatch);
    }
    device.queue.writeBuffer(dispatch.params, 0, packOverlayParams(shape));
    return dispatch;
  }

  private dropOverlays(): void {
    this.overlays.forEach(destroyDispatch);
    this.overlays.clear();
    for (const t of this.overlayTables.values()) t.destroy();
    this.overlayTables.clear();
    this.overlayOut?.destroy();
    this.overlayOut = undefined;
  }

  /**
   * One operation at a time, in the network's queue: they share the kept forward, the image upload, the
   * timer and the readback buffers. A lost device rejects it with DeviceLostError; an allocation the GPU
   * refused (out of memory) with GpuCommandError, after every cache is freed: a refused buffer is
   * invalid without an exception, and must not stay in a plan for the next call.
   */
  private exclusive<T>(what: string, f: () => Promise<T>): Promise<T> {
    return this.network.exclusive(
      () => {
        if (this.disposed) throw new Error('GradCam: used after dispose()');
        return f();
      },
      { what: `GradCam.${what}()`, release: () => this.dropCaches() },
    );
  }

  /**
   * The sizes of what this engine keeps between calls (see CacheSizes): each is bounded, which a soak
   * checks by watching them stop growing.
   */
  cacheSizes(): CacheSizes {
    const perturbation = this.perturbation?.cacheSizes ?? { plans: 0, networks: 0 };
    return {
      plans: this.plans.size,
      overlays: this.overlays.size,
      overlayTables: this.overlayTables.size,
      gradients: this.grads.size,
      colormaps: this.luts.size,
      inputPlans: this.inputPlans.size,
      perturbationPlans: perturbation.plans,
      batchedNetworks: perturbation.networks + (this.sampled?.cachedNetworks ?? 0) + (this.scorer?.cachedNetworks ?? 0),
      readbackBuffers: this.readback.buffers,
      imageUploads: this.network.keptImageUploads,
      pipelines: cachedPipelineCount(this.network.device),
    };
  }

  /**
   * Frees every cache (map plans, gradients, overlays, colormaps, batched networks, readback staging,
   * the image upload), leaving the weights, the activations and a few fixed buffers: GPU memory back to
   * what create() allocated. The kept forward goes too (its image upload is freed): run() or forward()
   * again before explain() or overlay(). Each cache is made again when a call needs it.
   */
  releaseCaches(): Promise<void> {
    return this.exclusive('releaseCaches', async () => this.dropCaches());
  }

  private dropCaches(): void {
    if (this.disposed) return;
    this.forget();
    for (const p of this.plans.values()) this.destroyPlan(p);
    this.plans.clear();
    this.dropOverlays();
    this.overlayImage = undefined;
    for (const p of this.inputPlans.values()) this.destroyInputPlan(p);
    this.inputPlans.clear();
    for (const b of [...this.grads.values(), ...this.luts.values()]) b.destroy();
    this.grads.clear();
    this.luts.clear();
    this.perturbation?.dispose();
    this.perturbation = undefined;
    this.sampled?.dispose();
    this.sampled = undefined;
    this.scorer?.dispose();
    this.scorer = undefined;
    this.readback.destroy();
    this.network.releaseImageStage();
  }

  /**
   * Records one command buffer, submits it and reads back what `record` asked for. `forwardGeneration`
   * is the network's forward count right after this submission's forward, if it has one. Each stage
   * recorded is one compute pass; with `profile` (and timestamp queries) each dispatch is a timed pass
   * of its own (see encodePasses).
   */
  private async execute(
    label: string,
    record: (r: Recorder) => void,
    profile = false,
  ): Promise<{ out: Map<string, ArrayBuffer>; timingsMs: Record<string, number>; passTimings: PassTiming[]; forwardGeneration?: number }> {
    const { device } = this.network;
    const timer = this.timer;
    timer?.reset();
    const counts: Partial<StageCounts> = {};
    const count = (stage: keyof StageCounts) => (counts[stage] = (counts[stage] ?? 0) + 1);
    let forwardGeneration: number | undefined;
    const t0 = performance.now();
    device.pushErrorScope('validation');
    let scopeOpen = true;
    try {
      const encoder = device.createCommandEncoder({ label });
      const copies: [string, GPUBuffer, number | undefined][] = [];
      record({
        stage: (dispatches, stage) => {
          encodePasses(encoder, dispatches, stage, timer, profile);
          if (dispatches.length) count(stage);
        },
        copy: (src, dst, bytes) => encoder.copyBufferToBuffer(src, 0, dst, 0, bytes),
        forward: (staged) => {
          this.network.encodeForward(encoder, staged, { timer, profile });
          forwardGeneration = this.network.forwardCount;
          if (staged.preprocess) count('preprocess');
          count('forward');
        },
        read: (name, buffer, bytes) => copies.push([name, buffer, bytes]),
      });
      timer?.resolve(encoder);
      for (const [name, buffer, bytes] of copies) this.readback.copy(encoder, name, buffer, bytes);
      device.queue.submit([encoder.finish()]);
      scopeOpen = false;
      const error = await device.popErrorScope();
      if (error) throw new GpuCommandError(label, 'validation', error.message);
      for (const [stage, n] of Object.entries(counts) as [keyof StageCounts, number][]) this.stageCounts[stage] += n;
      const out = await this.readback.read();
      const wall = performance.now() - t0;
      const timed = timer ? await timer.read() : undefined;
      return { out, timingsMs: { ...timed?.stages, total: wall }, passTimings: timed?.passes ?? [], forwardGeneration };
    } finally {
      if (scopeOpen) await device.popErrorScope();
      // A failed round leaves nothing pending: the next one starts clean.
      this.readback.discard();
    }
  }

  private predictions(probabilities: Float32Array, top = 5): Prediction[] {
    const classes = probabilities.length;
    return classes === 1000
      ? decodePredictions(probabilities, top)
      : topK(probabilities, Math.min(top, classes)).map((index) => ({ index, wnid: '', label: `class ${index}`, probability: probabilities[index] }));
  }

  private async stage(image: ImageInput | Float32Array<ArrayBuffer>, resize?: ResizeMethod): Promise<StagedInput> {
    if (!(image instanceof Float32Array) && image.width * image.height > MAX_IMAGE_PIXELS)
      throw new Error(`image ${image.width}×${image.height} is larger than the ${MAX_IMAGE_PIXELS / 1e6} megapixel limit; downscale it first`);
    return this.network.stageInput(image, resize);
  }

  private keep(image: KeptImage | undefined, probabilities: Float32Array, generation: number): void {
    this.kept = { generation, image, probabilities };
    this.keptMap = undefined;
  }

  private forget(): void {
    this.kept = undefined;
    this.keptMap = undefined;
  }

  private requireForward(what: string): KeptForward {
    if (!this.kept) throw new Error(`GradCam.${what}(): no image yet; call forward(image) or run(image) first`);
    if (this.kept.generation !== this.network.forwardCount)
      throw new Error(`GradCam.${what}(): the network ran another forward since this image's; call forward(image) or run(image) again`);
    return this.kept;
  }

  /**
   * Checks the options and prepares the plans: the targets in groups, each one submission. The gradient
   * methods put up to MAX_TARGET_ROWS targets in one backward; eigen maps, aug-smoothing and the
   * perturbation methods take one target per group.
   */
  private async prepareRequest(options: ExplainOptions): Promise<Request> {
    checkGradCamOptions(this.model, options);
    for (const name of options.read ?? []) this.network.tensorShape(name);
    const method = options.method ?? 'gradcam';
    const spec = METHOD_SPECS[method];
    const layers = [...(options.layers ?? [options.layer ?? this.defaultLayer])];
    // Score-CAM and Ablation-CAM default to the logit, as pytorch-grad-cam's targets score them: a softmax
    // over probabilities (all in [0, 1]) would weight every channel almost alike.
    const score = options.score ?? (spec.perturbation ? 'logit' : 'prob');
    const eigenSmooth = options.eigenSmooth ?? false;
    const augSmooth = options.augSmooth ?? false;
    const targets = requestedTargets(options);
    const perRow = spec.gradients && !spec.eigen && !eigenSmooth && !augSmooth ? MAX_TARGET_ROWS : 1;
    const groups: Request['groups'] = [];
    for (let i = 0; i < targets.length; i += perRow) {
      const chunk = targets.slice(i, i + perRow);
      groups.push({ plan: await this.mapPlan(method, layers, score, chunk.length, eigenSmooth, augSmooth), targets: chunk });
    }
    return { method, layers, score, eigenSmooth, augSmooth, groups, options };
  }

  /** Writes a group's target rows (ranks resolved on the CPU when the probabilities are known) and runs perturbation weights. */
  private async prepareGroup(group: Request['groups'][number], request: Request, probabilities?: Float32Array): Promise<{ rows: TargetRow[]; warnings: string[] }> {
    const { plan } = group;
    const rows = group.targets.map((t) => targetRow(t, probabilities));
    const device = this.network.device;
    if (plan.coef && plan.ranks) {
      const packed = packTargetRows(classCount(this.model), rows);
      device.queue.writeBuffer(plan.coef, 0, packed.coef);
      device.queue.writeBuffer(plan.ranks, 0, packed.ranks);
    }
    const warnings: string[] = [];
    if (plan.spec.perturbation) {
      const row = rows[0];
      if ('rank' in row) throw new Error('GradCam: perturbation targets are resolved after the forward');
      this.perturbation ??= new PerturbationCam(this.network);
      for (const l of plan.layers) {
        const r = await this.perturbation.channelWeights(plan.spec.perturbation, l.layer, { classes: row.classes, sign: row.sign, score: plan.score }, l.alpha, {
          batchRows: request.options.batchRows,
          onProgress: request.options.onProgress,
        });
        warnings.push(...r.warnings);
      }
    }
    return { rows, warnings };
  }

  /** Records a plan's maps: (aug-smooth: per augmentation the input transform and a forward) the backward, the CAM, the layers' average. */
  private recordMaps(r: Recorder, plan: MapPlan): void {
    const maps = () => {
      r.stage(plan.backward, 'backward');
      r.stage(plan.layers.flatMap((l) => [...(l.weights ? [l.weights] : []), ...l.map]), 'cam');
      r.stage(plan.combine, 'cam');
    };
    if (!plan.aug) return maps();
    r.copy(this.network.tensorBuffer('input'), plan.aug.inputCopy, 4 * elementCount(this.model.inputShape));
    for (const step of plan.aug.steps) {
      r.stage([step.augment], 'preprocess');
      r.forward({});
      maps();
      r.stage([step.accumulate], 'cam');
    }
    r.stage([plan.aug.normalize], 'cam');
  }

  /** Records one group's maps and asks for their readbacks (the first group also its overlay and the extra reads). */
  private recordGroup(r: Recorder, group: Request['groups'][number], overlay: Dispatch | undefined, options: ExplainOptions, first: boolean): void {
    const { plan } = group;
    this.recordMaps(r, plan);
    if (overlay) r.stage([overlay], 'overlay');
    r.read('chosen', this.chosen, 4 * plan.rows);
    r.read('heat', plan.out.heat);
    r.read('raw', plan.out.raw);
    r.read('max', plan.out.stats, 4 * plan.rows);
    for (const l of plan.layers) if (l.eigen) r.read(`eigen:${l.layer}`, l.eigen.stats);
    if (overlay) r.read('overlay', this.overlayOut!);
    if (!first) return;
    if (options.readGradient && plan.spec.gradients) r.read('gradient', this.gradBuffer(plan.layers[0].layer, plan.rows));
    this.recordTensorReads(r, options.read);
  }

  /** The maps of one group from its readbacks. */
  private groupMaps(group: Request['groups'][number], rows: TargetRow[], out: Map<string, ArrayBuffer>, extraWarnings: string[]): CamMap[] {
    const { plan } = group;
    const { width, height } = plan.out;
    const n = width * height;
    const chosen = new Uint32Array(out.get('chosen')!);
    const max = new Float32Array(out.get('max')!);
    const heat = new Float32Array(out.get('heat')!);
    const raw = new Float32Array(out.get('raw')!);
    const eigenWarnings: string[] = [];
    for (const l of plan.layers) {
      if (!l.eigen) continue;
      const st = unpackEigenStats(out.get(`eigen:${l.layer}`)!);
      if (!st.converged)
        eigenWarnings.push(`the eigen projection at ${l.layer} did not converge in ${st.iterations} power iterations (last change ${st.change.toExponential(2)}): its first two singular values are nearly equal, so the map is one of several equally valid ones`);
    }
    const layerText = plan.layers.map((l) => l.layer).join('+');
    return group.targets.map((t, r) => {
      const resolved = resolveTarget(t, rows[r], chosen[r] === NOT_RANKED ? 0 : chosen[r]);
      const warnings = [...extraWarnings, ...eigenWarnings];
      if (!(max[r] > 0))
        warnings.push(
          `the ${plan.method} map for ${formatTarget(resolved)} at ${layerText} has no positive value (max ${max[r]}); the heatmap is all zeros, ` +
            `so this layer shows no evidence for the ${resolved.sign < 0 ? 'counterfactual' : 'class'}${plan.score === 'prob' && plan.spec.gradients ? " (a saturated softmax can cause this: try score 'logit')" : ''}`,
        );
      return {
        target: resolved,
        classIndex: resolved.classes[0],
        heatmap: { data: heat.slice(r * n, (r + 1) * n), width, height },
        rawHeatmap: { data: raw.slice(r * n, (r + 1) * n), width, height },
        warnings,
      };
    });
  }

  /**
   * The maps of a request on the kept forward, one submission per group; `fused` records the image's
   * preprocess and forward in the first group's submission (run() when that is all it needs).
   */
  private async explainRequest(request: Request, fused?: { staged: StagedInput; image?: KeptImage }): Promise<GradCamResult> {
    if (fused && request.groups.length !== 1) throw new Error('GradCam: only a single group is recorded with its forward');
    const t0 = performance.now();
    let perturbationMs = 0;
    // Until this call succeeds there is no map to redraw: a failure part-way leaves the plans' buffers mixed.
    this.keptMap = undefined;
    const groupMaps: CamMap[][] = [];
    let first: { out: Map<string, ArrayBuffer>; timingsMs: Record<string, number>; passTimings: PassTiming[] } | undefined;
    const image = fused ? fused.image : this.kept!.image;
    let probabilities = fused ? undefined : this.kept!.probabilities;
    let generation = fused ? undefined : this.kept!.generation;
    const output = this.network.tensorBuffer(this.network.plan.output);
    // The first group runs last: groups may share a plan, and overlay() redraws the plan's map, which
    // must then be the first target's (the one `heatmap` and `overlay` show). Only a single group is fused.
    for (let i = request.groups.length - 1; i >= 0; i--) {
      const group = request.groups[i];
      const tp = performance.now();
      const { rows, warnings } = await this.prepareGroup(group, request, probabilities);
      if (group.plan.spec.perturbation) perturbationMs += performance.now() - tp;
      const overlay = i === 0 && image ? await this.overlayPlan(group.plan, image, request.options) : undefined;
      const label = `${request.method} ${request.layers.join('+')}${fused ? '' : ' (kept forward)'}`;
      const r = await this.execute(
        label,
        (rec) => {
          if (fused) {
            rec.forward(fused.staged);
            rec.read('probabilities', output);
          }
          this.recordGroup(rec, group, overlay, request.options, i === 0);
        },
        request.options.profile,
      );
      if (fused) {
        probabilities = new Float32Array(r.out.get('probabilities')!);
        this.keep(fused.image, probabilities, r.forwardGeneration!);
      }
      // aug-smooth's forwards end on the unaugmented input: the kept activations are the image's again.
      if (r.forwardGeneration !== undefined) generation = this.kept!.generation = r.forwardGeneration;
      groupMaps[i] = this.groupMaps(group, rows, r.out, warnings);
      if (i === 0) first = r;
    }
    const maps = groupMaps.flat();
    const plan = request.groups[0].plan;
    const head = maps[0];
    this.keptMap = { generation: generation!, plan, classIndex: head.classIndex, layer: request.layers[0] };
    const overlayBytes = first!.out.get('overlay');
    const options = request.options;
    return {
      predictions: this.predictions(probabilities!, options.top),
      probabilities: probabilities!,
      method: request.method,
      target: head.target,
      classIndex: head.classIndex,
      layer: request.layers[0],
      layers: request.layers,
      score: request.score,
      eigenSmooth: request.eigenSmooth,
      augSmooth: request.augSmooth,
      maps,
      heatmap: head.heatmap,
      rawHeatmap: head.rawHeatmap,
      overlay: overlayBytes && image ? { width: image.width, height: image.height, data: new Uint8ClampedArray(overlayBytes) } : undefined,
      gradient: options.readGradient && plan.spec.gradients ? new Float32Array(first!.out.get('gradient')!) : undefined,
      tensors: GradCam.tensorsRead(first!.out, options.read),
      warnings: maps.flatMap((m) => m.warnings),
      // GPU stages of the first target's submission; 'total' is the wall clock of the whole call, and
      // 'perturbation' the wall clock of Score-CAM's or Ablation-CAM's batched forwards.
      timingsMs: { ...first!.timingsMs, ...(perturbationMs ? { perturbation: perturbationMs } : {}), total: performance.now() - t0 },
      passTimings: first!.passTimings,
    };
  }

  /** Every activation is kept for the backward pass, so any tensor can be copied out at the end. */
  private recordTensorReads(r: Recorder, names: readonly string[] = []): void {
    for (const name of new Set(names)) r.read(`tensor:${name}`, this.network.tensorBuffer(name), 4 * elementCount(this.network.tensorShape(name)));
  }

  private static tensorsRead(out: Map<string, ArrayBuffer>, names: readonly string[] = []): Map<string, Float32Array> {
    return new Map(names.map((name) => [name, new Float32Array(out.get(`tensor:${name}`)!)]));
  }

  /**
   * Everything for one image: preprocess, forward, backward to the target, CAM and overlay, in one
   * submission when the method allows (every gradient method, up to 8 targets); Score-CAM and
   * Ablation-CAM, eigen maps of several targets and aug-smoothing of several targets submit more. The
   * forward stays on the GPU, so explain() and overlay() can follow without it.
   */
  run(image: ImageInput | Float32Array<ArrayBuffer>, options: GradCamOptions = {}): Promise<GradCamResult> {
    return this.exclusive('run', async () => {
      const request = await this.prepareRequest(options);
      // The upload below overwrites (or frees) the kept image: nothing is kept until this run succeeds.
      this.forget();
      const staged = await this.stage(image, options.resize);
      const kept = keptImage(image, staged);
      // One submission when the targets can be resolved on the GPU by the score kernel: a single group of a
      // gradient method. Otherwise the forward first, and the top-k classes read from its probabilities
      // (Eigen-CAM has no score pass; aug-smooth explains the unaugmented image's class in all six passes).
      const plan = request.groups[0].plan;
      if (request.groups.length === 1 && plan.spec.gradients && !plan.aug) return this.explainRequest(request, { staged, image: kept });
      const t0 = performance.now();
      const forward = await this.forwardNow(image, staged, { profile: options.profile });
      const r = await this.explainRequest(request);
      return { ...r, timingsMs: { ...forward.timingsMs, ...r.timingsMs, total: performance.now() - t0 } };
    });
  }

  private async forwardNow(image: ImageInput | Float32Array<ArrayBuffer>, staged: StagedInput, options: GradCamForwardOptions): Promise<ForwardView> {
    const r = await this.execute(
      `${this.model.name} forward`,
      (rec) => {
        rec.forward(staged);
        rec.read('probabilities', this.network.tensorBuffer(this.network.plan.output));
        this.recordTensorReads(rec, options.read);
      },
      options.profile,
    );
    const probabilities = new Float32Array(r.out.get('probabilities')!);
    this.keep(keptImage(image, staged), probabilities, r.forwardGeneration!);
    return {
      predictions: this.predictions(probabilities, options.top),
      probabilities,
      tensors: GradCam.tensorsRead(r.out, options.read),
      timingsMs: r.timingsMs,
      passTimings: r.passTimings,
    };
  }

  /** Preprocess and forward only: the predictions, with every activation kept for explain(). */
  forward(image: ImageInput | Float32Array<ArrayBuffer>, options: GradCamForwardOptions = {}): Promise<ForwardView> {
    return this.exclusive('forward', async () => {
      for (const name of options.read ?? []) this.network.tensorShape(name);
      this.forget();
      const staged = await this.stage(image, options.resize);
      return this.forwardNow(image, staged, options);
    });
  }

  /** Backward, CAM and overlay on the kept forward: another method, target, layer or score without a new forward. */
  explain(options: ExplainOptions = {}): Promise<GradCamResult> {
    return this.exclusive('explain', async () => {
      this.requireForward('explain');
      const request = await this.prepareRequest(options);
      return this.explainRequest(request);
    });
  }

  /** The overlay pass alone, on the last map: another α, blend or colormap. */
  overlay(options: OverlayOptions = {}): Promise<OverlayResult> {
    return this.exclusive('overlay', async () => {
      checkGradCamOptions(this.model, options);
      const kept = this.requireForward('overlay');
      const map = this.keptMap;
      if (!map || map.generation !== kept.generation) throw new Error('GradCam.overlay(): no map for this image yet; call explain() or run(image) first');
      if (!kept.image) throw new Error('GradCam.overlay(): the kept input is a preprocessed tensor, not an image; there is nothing to overlay');
      const image = kept.image;
      const o = await this.overlayPlan(map.plan, image, options);
      const r = await this.execute('overlay', (rec) => {
        rec.stage([o], 'overlay');
        rec.read('overlay', this.overlayOut!);
      });
      return {
        overlay: { width: image.width, height: image.height, data: new Uint8ClampedArray(r.out.get('overlay')!) },
        classIndex: map.classIndex,
        layer: map.layer,
        timingsMs: r.timingsMs,
        passTimings: r.passTimings,
      };
    });
  }

  /** The backward from the score through the first layer and the preprocessing, for one row over the kept forward. */
  private async inputPlan(rule: ReluRule, score: ScoreKind): Promise<InputPlan> {
    const key = `${rule}|${score}`;
    const cached = this.inputPlans.get(key);
    if (cached) return cached;
    const [h, w, c] = this.model.inputShape;
    const plan: InputPlan = { backward: [], grads: new Set(), rgb: this.buffer(`d(score)/d(image) ${rule}`, 4 * h * w * c), rowWeights: this.buffer('input gradient row weight', 4) };
    try {
      await prepareBackward(this.backwardContext(plan.grads), { deepest: INPUT_TENSOR, rows: 1, score, reluRule: rule }, plan);
      this.network.device.queue.writeBuffer(plan.rowWeights, 0, new Float32Array([1]));
      plan.toRgb = await preprocessImageBackwardVersions[0].prepare(
        this.network.device,
        { pixels: h * w, rows: 1, accumulate: false },
        { g: this.gradBuffer(INPUT_TENSOR, 1, plan.grads), rowWeights: plan.rowWeights, out: plan.rgb },
        'preprocessImage backward',
      );
    } catch (err) {
      this.destroyInputPlan(plan);
      this.dropUnusedGrads();
      throw err;
    }
    this.inputPlans.set(key, plan);
    return plan;
  }

  private destroyInputPlan(p: InputPlan): void {
    [...p.backward, ...(p.toRgb ? [p.toRgb] : [])].forEach(destroyDispatch);
    for (const b of [p.rgb, p.rowWeights, ...(p.coef ? [p.coef] : []), ...(p.ranks ? [p.ranks] : [])]) b.destroy();
  }

  /** ∂s/∂(RGB image) of one target row over the kept forward, through ReLUs that follow `rule`. */
  private async keptInputGradient(rule: ReluRule, score: ScoreKind, row: TargetRow, profile?: boolean): Promise<{ gradient: Float32Array; timingsMs: Record<string, number>; passTimings: PassTiming[] }> {
    const plan = await this.inputPlan(rule, score);
    const packed = packTargetRows(classCount(this.model), [row]);
    this.network.device.queue.writeBuffer(plan.coef!, 0, packed.coef);
    this.network.device.queue.writeBuffer(plan.ranks!, 0, packed.ranks);
    const r = await this.execute(
      `input gradient (${rule})`,
      (rec) => {
        rec.stage([...plan.backward, plan.toRgb!], 'backward');
        rec.read('gradient', plan.rgb);
      },
      profile,
    );
    return { gradient: new Float32Array(r.out.get('gradient')!), timingsMs: r.timingsMs, passTimings: r.passTimings };
  }

  /** The kept forward's preprocessed input ([H, W, 3], B, G, R, mean-subtracted). */
  private async keptInput(): Promise<Float32Array> {
    const r = await this.execute('read input', (rec) => rec.read('input', this.network.tensorBuffer(INPUT_TENSOR), 4 * elementCount(this.model.inputShape)));
    return new Float32Array(r.out.get('input')!);
  }

  /**
   * A pixel-level explanation of the kept forward's image (see pixelMethods.ts): saliency, guided
   * backpropagation and Guided Grad-CAM from one backward to the image; SmoothGrad and Integrated
   * Gradients from batched forwards and backwards of inputs near it. No new forward of the image.
   * guided-gradcam computes its Grad-CAM map with explain(), so that map becomes the one overlay() redraws.
   */
  attribute(options: PixelOptions): Promise<PixelResult> {
    return this.exclusive('attribute', async () => {
      const t0 = performance.now();
      const { method } = options;
      if (!isPixelMethod(method)) throw new Error(`method '${String(method)}': choose one of ${PIXEL_METHODS.join(', ')}`);
      checkGradCamOptions(this.model, { classIndex: options.classIndex, target: options.target, score: options.score, layer: options.layer, batchRows: options.batchRows });
      checkPixelSampling(options);
      const kept = this.requireForward('attribute');
      const spec = PIXEL_METHOD_SPECS[method];
      const score = options.score ?? 'logit';
      const [t] = requestedTargets(options);
      const row = targetRow(t, kept.probabilities);
      if ('rank' in row) throw new Error('GradCam.attribute(): the target was not resolved');
      const target = resolveTarget(t, row, row.classes[0]);
      const [h, w] = this.model.inputShape;
      const warnings: string[] = [];
      const timingsMs: Record<string, number> = {};
      let passTimings: PassTiming[] = [];
      let attribution: Float32Array;
      let map: Float32Array | undefined;
      let cam: CamMap | undefined;
      let overlay: RgbaImage | undefined;
      let layer: string | undefined;
      let sampling: PixelResult['sampling'];
      let completeness: PixelResult['completeness'];
      if (!spec.sampled) {
        const g = await this.keptInputGradient(spec.rule, score, row, options.profile);
        if (g.timingsMs.backward !== undefined) timingsMs.backward = g.timingsMs.backward;
        passTimings = g.passTimings;
        attribution = g.gradient;
        if (method === 'guided-gradcam') {
          layer = options.layer ?? this.defaultLayer;
          const request = await this.prepareRequest({ method: 'gradcam', target: t, layer, score });
          const r = await this.explainRequest(request);
          cam = r.maps[0];
          overlay = r.overlay;
          warnings.push(...r.warnings);
          const up = resizeBilinear(cam.heatmap.data, cam.heatmap.width, cam.heatmap.height, 1, w, h);
          attribution = multiplyChannels(attribution, up);
        }
      } else {
        const pre = await this.keptInput();
        const rgb = rgbFromPreprocessed(pre);
        this.sampled ??= new SampledGradients(this.network);
        const sampleTarget = { classes: row.classes, sign: row.sign, score };
        const ts = performance.now();
        if (method === 'smoothgrad') {
          const samples = options.samples ?? PIXEL_DEFAULTS.samples;
          const noise = options.noise ?? PIXEL_DEFAULTS.noise;
          const seed = options.seed ?? PIXEL_DEFAULTS.seed;
          let lo = Infinity;
          let hi = -Infinity;
          for (const v of rgb) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
          const sigma = noise * (hi - lo);
          const input = (k: number, out: Float32Array) => {
            smoothGradNoise(seed, k, sigma, out);
            for (let i = 0; i < out.length; i++) out[i] += pre[i];
          };
          const r = await this.sampled.weightedGradient(samples, input, new Float32Array(samples).fill(1 / samples), sampleTarget, options);
          attribution = r.gradient;
          sampling = { samples, noise, sigma, seed, batchRows: r.rows, submissions: r.submissions };
        } else {
          const steps = options.steps ?? PIXEL_DEFAULTS.steps;
          const level = options.baseline ?? PIXEL_DEFAULTS.baseline;
          const base = preprocessedFromRgb(new Float32Array(rgb.length).fill(level));
          // Rows 0..M−1: the midpoints of the path; row M: the baseline, row M + 1: the image (weight 0: their scores only).
          const alpha = (k: number) => (k < steps ? (k + 0.5) / steps : k === steps ? 0 : 1);
          const input = (k: number, out: Float32Array) => {
            const a = alpha(k);
            for (let i = 0; i < out.length; i++) out[i] = base[i] + a * (pre[i] - base[i]);
          };
          const weights = new Float32Array(steps + 2).fill(1 / steps);
          weights[steps] = weights[steps + 1] = 0;
          const r = await this.sampled.weightedGradient(steps + 2, input, weights, sampleTarget, options);
          attribution = r.gradient.map((g, i) => g * (rgb[i] - level));
          const sumAttributions = sum(attribution);
          const scoreBaseline = r.scores[steps];
          const scoreInput = r.scores[steps + 1];
          completeness = { gap: Math.abs(sumAttributions - (scoreInput - scoreBaseline)), sumAttributions, scoreInput, scoreBaseline };
          sampling = { samples: steps + 2, steps, baseline: level, batchRows: r.rows, submissions: r.submissions };
        }
        timingsMs.sampling = performance.now() - ts;
      }
      if (spec.map === 'max-abs') map = maxAbsOverChannels(attribution);
      if (spec.map === 'signed-sum') map = sumOverChannels(attribution);
      let rendering =
        method === 'integrated-gradients' ? grayscaleMap(map!.map(Math.abs), w, h, 2) : map ? grayscaleMap(map, w, h) : deprocessGradient(attribution, w, h);
      if (options.size === 'image') {
        if (!kept.image) throw new Error("size 'image': the kept input is a preprocessed tensor, not an image; use size 'model'");
        rendering = resizeRgba(rendering, kept.image.width, kept.image.height);
      }
      if (!attribution.some((v) => v !== 0)) warnings.push(`the ${method} attribution for ${formatTarget(target)} is zero everywhere: no pixel changes the score at this image`);
      return {
        predictions: this.predictions(kept.probabilities, options.top),
        probabilities: kept.probabilities,
        method,
        target,
        classIndex: target.classes[0],
        score,
        attribution: { data: attribution, width: w, height: h, channels: 3 },
        map: map ? { data: map, width: w, height: h } : undefined,
        rendering,
        cam,
        layer,
        overlay,
        sampling,
        completeness,
        warnings,
        timingsMs: { ...timingsMs, total: performance.now() - t0 },
        passTimings,
      };
    });
  }

  /**
   * What the metrics use of this engine: the kept forward (as it was when evaluate() was called: each
   * step checks, in call order, that no other forward ran since), batched scoring with its weights, and
   * engines over other weights.
   */
  private metricsHost(): MetricsHost {
    const scorer = () => (this.scorer ??= new BatchScorer(this.network));
    let generation: number | undefined;
    const current = (): KeptForward => {
      const kept = this.requireForward('evaluate');
      if (generation !== undefined && kept.generation !== generation) throw new Error('GradCam.evaluate(): another forward ran during the evaluation; call evaluate() again after it');
      return kept;
    };
    return {
      engine: this,
      network: this.network,
      keptProbabilities: () =>
        this.exclusive('evaluate', async () => {
          const kept = current();
          generation = kept.generation;
          return kept.probabilities;
        }),
      keptInput: () =>
        this.exclusive('evaluate', async () => {
          current();
          return this.keptInput();
        }),
      scoreRows: (count, source, options) =>
        this.exclusive('evaluate', async () => {
          current();
          return scorer().scoreRows(count, source, options);
        }),
      locked: (f) =>
        this.exclusive('evaluate', () => {
          current();
          return f(this.network, scorer());
        }),
      create: (weights) => GradCam.create(this.network.device, this.model, weights, this.options),
    };
  }

  /**
   * Faithfulness metrics of one explanation of the kept forward's image (see metrics/evaluate.ts):
   * deletion and insertion curves, ROAD, the confidence change, and the model-randomization sanity
   * check. The map is computed with explain() or attribute(), so it becomes the one overlay() redraws.
   */
  async evaluate(options: EvaluateOptions = {}): Promise<EvaluateResult> {
    if (this.disposed) throw new Error('GradCam: used after dispose()');
    checkEvaluateOptions(options, this.model);
    if (options.method !== undefined && !isPixelMethod(options.method)) checkMethod(options.method);
    return evaluateMetrics(this.metricsHost(), options, IMAGENET_MEAN_BGR);
  }

  /** Frees every GPU buffer at once; calls still in flight then fail, so await them first. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.plans.values()) this.destroyPlan(p);
    this.dropOverlays();
    for (const b of [...this.grads.values(), ...this.luts.values()]) b.destroy();
    this.chosen.destroy();
    this.timer?.destroy();
    this.readback.destroy();
    this.perturbation?.dispose();
    this.scorer?.dispose();
    this.sampled?.dispose();
    for (const p of this.inputPlans.values()) this.destroyInputPlan(p);
    this.network.dispose();
  }
}

/** A call's resolved options: its plans and the targets each computes. */
interface Request {
  method: CamMethod;
  layers: string[];
  score: ScoreKind;
  eigenSmooth: boolean;
  augSmooth: boolean;
  groups: { plan: MapPlan; targets: CamTarget[] }[];
  options: ExplainOptions;
}
