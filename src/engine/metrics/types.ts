// What GradCam.evaluate() takes and gives: faithfulness metrics of one map of the kept forward's image.
// Every score is the target class's softmax probability ('prob', as RISE and pytorch-grad-cam's
// ClassifierOutputSoftmaxTarget) or its logit. Maps are judged at the model's input size (224×224).
import type { CamMethod } from '../camMethods.js';
import type { PixelMethod, PixelSampling } from '../pixelMethods.js';

export type MetricName = 'deletion' | 'insertion' | 'road' | 'confidence' | 'sanity';
export const METRIC_NAMES: readonly MetricName[] = ['deletion', 'insertion', 'road', 'confidence', 'sanity'];
/** What `metrics` defaults to: all but the sanity check (which recomputes the map once per layer). */
export const DEFAULT_METRICS: readonly MetricName[] = ['deletion', 'insertion', 'road', 'confidence'];

export interface EvaluateOptions {
  metrics?: readonly MetricName[];
  /** The method whose map is judged (default 'gradcam'); the sanity check recomputes it. */
  method?: CamMethod | PixelMethod;
  /** ImageNet class; default the top-1 of the kept forward. */
  classIndex?: number;
  /** CAM methods: the layer (default the last conv layer). */
  layer?: string;
  /** The score the metrics read (default 'prob'). */
  score?: 'prob' | 'logit';
  /** The score the map differentiates or perturbs (default: its method's, as explain() and attribute()). */
  mapScore?: 'prob' | 'logit';
  /** SmoothGrad / Integrated Gradients: their sampling options (as attribute()). */
  sampling?: PixelSampling;
  /**
   * Deletion: what removed pixels become: 'blur' (default, the blurred copy insertion starts from) or
   * 'mean' (the mean colour: zero in the preprocessed space, RISE's deletion substrate).
   */
  deletionSubstrate?: 'blur' | 'mean';
  /** Deletion / insertion: steps S (S + 1 forwards each, default 16). */
  steps?: number;
  /** Deletion / insertion: the blurred image's Gaussian σ in pixels (default 5, kernel 11 as RISE). */
  blurSigma?: number;
  /** ROAD: % of pixels kept, as pytorch-grad-cam's percentile (default 10, 20, …, 90). */
  percentiles?: readonly number[];
  /** ROAD: noise σ added to imputed pixels, in 0..255 levels (default 0.58: pytorch-grad-cam's 0.01 in ImageNet-normalised units). */
  roadNoise?: number;
  /** ROAD: the iterative solver stops when ‖r‖ ≤ tolerance·‖b‖ (default 1e-4). */
  roadTolerance?: number;
  /** Sanity check: the layers randomized, from the top (default every layer with weights). */
  sanityLayers?: readonly string[];
  /** Seeds of the ROAD noise and the randomized weights (default 0). */
  seed?: number;
  /** Perturbed images per batched forward (default 8, lowered to fit memory). */
  batchRows?: number;
  /** Called as work completes: metric, units done, units in all. */
  onProgress?: (metric: MetricName, done: number, total: number) => void;
}

export interface Curve {
  /** Fraction of pixels removed (deletion) or restored (insertion) at each point, 0 … 1 (S + 1 points). */
  fractions: number[];
  scores: number[];
  /** Trapezoidal area under the curve over fractions 0 … 1. */
  auc: number;
}

export interface RoadResult {
  percentiles: number[];
  /** Score change (perturbed − original) with the most relevant pixels removed, per percentile. */
  morf: number[];
  /** … the least relevant removed. */
  lerf: number[];
  /** Fraction of pixels actually imputed per percentile (ties at the threshold are kept, as pytorch-grad-cam). */
  removedMorf: number[];
  removedLerf: number[];
  /** pytorch-grad-cam's ROADCombined: mean over percentiles of (lerf − morf) / 2 (higher is better). */
  combined: number;
  /** The iterative solve: iterations run and the largest relative residual at the end. */
  solver: { iterations: number; relativeResidual: number; tolerance: number };
}

export interface ConfidenceResult {
  /** The score of the image, and of the image × the map (each pixel's RGB scaled by the map in 0..1). */
  original: number;
  masked: number;
  /** Chattopadhyay et al.: max(0, original − masked) / original × 100. */
  averageDropPercent: number;
  /** masked > original. */
  increase: boolean;
}

export interface SanityResult {
  /** The layers randomized so far at each step, the last one named ('predictions', then 'fc2', … 'block1_conv1'). */
  layers: string[];
  /** Spearman rank correlation of each step's map with the original map. */
  spearman: number[];
  /** SSIM (7×7 window, data range 1) of each step's map with the original map. */
  ssim: number[];
  /** Whether the maps moved away from the original as the model was randomized (see `verdict`). */
  passed: boolean;
  verdict: string;
}

export interface EvaluateResult {
  method: CamMethod | PixelMethod;
  classIndex: number;
  score: 'prob' | 'logit';
  /** The map judged, at the model's input size, in its method's range (CAMs: 0..1). */
  map: { data: Float32Array; width: number; height: number };
  deletion?: Curve;
  insertion?: Curve;
  road?: RoadResult;
  confidence?: ConfidenceResult;
  sanity?: SanityResult;
  warnings: string[];
  /** Wall-clock time per metric and 'total'. */
  timingsMs: Record<string, number>;
}
