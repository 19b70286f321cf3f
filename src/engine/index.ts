// The engine's public surface, the same on every host: src/index.ts (browsers) and src/node.ts (Node)
// each add their host's openGradCam and helpers to it.
export {
  checkGradCamOptions,
  GradCam,
  MAX_IMAGE_PIXELS,
  type ExplainOptions,
  type ForwardView,
  type GradCamForwardOptions,
  type GradCamOptions,
  type GradCamResult,
  type Map2D,
  type OverlayOptions,
  type OverlayResult,
  type RgbaImage,
  type ScoreKind,
  type StageCounts,
  type CamMap,
  type CacheSizes,
  MAX_PLANS,
  MAX_TARGET_ROWS,
  type PixelOptions,
  type PixelResult,
} from './gradcam.js';
export { checkPixelSampling, isPixelMethod, MAX_PIXEL_SAMPLES, PIXEL_DEFAULTS, PIXEL_METHOD_SPECS, PIXEL_METHODS, smoothGradNoise, type PixelMethod, type PixelMethodSpec, type PixelSampling } from './pixelMethods.js';
export { RELU_RULES, type ReluRule } from '../kernels/reluRule.js';
export { CAM_METHODS, checkMethod, formatTarget, METHOD_SPECS, parseTarget, type CamMethod, type CamTarget, type MethodSpec, type ResolvedTarget } from './camMethods.js';
export { classSuggestions, decodePredictions, findClass, formatPredictions, IMAGENET_CLASS_INDEX, matchingClasses, topK, type ClassIndex, type Prediction } from './imagenet.js';
export { classCount, convLayerNames, inferShapes, MODELS, VGG16, VGG19, weightSpecs, type LayerSpec, type ModelSpec } from './model.js';
export { Network, type ForwardOptions, type ForwardResult, type ImageInput, type NetworkOptions, type StagedInput } from './network.js';
export type { PassTiming } from './gpuTimer.js';
export type { EngineOptions, OpenedGradCam } from './open.js';
export { heNormalWeights, syntheticPhoto, type SyntheticOptions } from './synthetic.js';
export { describeTuning, loadOrTune, type Tuning, type TuningMode, type TuningStep, type TuningStore } from './tuning.js';
export { MANIFEST_FILE, randomWeightsNotice, weightsInfo, type WeightsInfo, type WeightsManifest } from './weights/format.js';
export { colorizeHeatmap, colormap, COLORMAPS, jetColormap, type ColormapName } from '../kernels/colormaps.js';
export { BLEND_MODES, type BlendMode } from '../kernels/gradcam.js';
export { gpuMemory, trackGpuMemory, type GpuMemoryLedger } from './gpuMemory.js';
export { DeviceLostError, GpuCommandError, type DeviceLossInfo } from './deviceErrors.js';
export { MAX_PERTURBATION_PLANS } from './perturbationCam.js';
export { cachedPipelineCount } from '../kernels/kernel.js';
export { manifestModel, MODEL_SPEC_FIELD, parseModelSpec } from './weights/modelSpec.js';
export { GpuWeights, type LoadProgress, type WeightMap } from './weights/gpuWeights.js';
export { decodeNpy, encodeNpy, type NpyArray } from './npy.js';
export { METRIC_NAMES, DEFAULT_METRICS, type MetricName, type EvaluateOptions, type EvaluateResult, type Curve, type RoadResult, type ConfidenceResult, type SanityResult } from './metrics/types.js';
export { EVALUATE_DEFAULTS } from './metrics/evaluate.js';
export { ROAD_DEFAULTS } from './metrics/road.js';
export { SANITY_SPEARMAN_BOUND } from './metrics/sanity.js';
export { metricPlots, type MetricPlot } from './metrics/plots.js';
export { composeGrid, type GridTile, type GridOptions } from './raster/grid.js';
export { renderLinePlot, type LinePlotOptions, type PlotSeries } from './raster/plot.js';
