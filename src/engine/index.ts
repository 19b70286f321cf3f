// The engine's public surface, the same on every host: src/index.ts (browsers) and src/node.ts (Node)
// each add their host's openGradCam and helpers to it.
export { checkGradCamOptions, GradCam, MAX_IMAGE_PIXELS, type GradCamOptions, type GradCamResult, type Map2D, type ScoreKind } from './gradcam.js';
export { decodePredictions, formatPredictions, IMAGENET_CLASS_INDEX, topK, type ClassIndex, type Prediction } from './imagenet.js';
export { classCount, convLayerNames, inferShapes, MODELS, VGG16, VGG19, weightSpecs, type LayerSpec, type ModelSpec } from './model.js';
export { Network, type ForwardOptions, type ForwardResult, type ImageInput, type NetworkOptions } from './network.js';
export type { EngineOptions, OpenedGradCam } from './open.js';
export { heNormalWeights, syntheticPhoto, type SyntheticOptions } from './synthetic.js';
export { describeTuning, loadOrTune, type Tuning, type TuningMode, type TuningStore } from './tuning.js';
export { MANIFEST_FILE, randomWeightsNotice, weightsInfo, type WeightsInfo, type WeightsManifest } from './weights/format.js';
export { jetColormap } from '../kernels/gradcam.js';
export { GpuWeights, type LoadProgress, type WeightMap } from './weights/gpuWeights.js';
