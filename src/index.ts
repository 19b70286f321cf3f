// gradcam-webgpu for browsers: the engine plus the browser host (navigator.gpu, weights fetched from a
// URL and kept in Cache Storage, the kernel choice in localStorage). Nothing here imports Node modules.
//   const { cam } = await openGradCam({ weights: '/weights/vgg16/' });
//   const result = await cam.run(imageData);   // { predictions, heatmap, overlay, … }
export * from './engine/index.js';
export { deviceLoss, requestBrowserDevice, WebGpuUnavailableError } from './hosts/browser/device.js';
export { localStorageTuningStore } from './hosts/browser/tuningStore.js';
export {
  fetchWeightsManifest,
  loadWeightsFromUrl,
  servedWeights,
  type BrowserLoadOptions,
  type BrowserLoadProgress,
  type BrowserLoadResult,
  type BrowserLoadTimings,
  type DamagedShard,
  type FetchedManifest,
  type ServedModel,
  type WeightsIndex,
} from './hosts/browser/weights.js';
export { DEFAULT_WEIGHTS_URL, openGradCam, type BrowserOpenOptions } from './hosts/browser/openGradCam.js';
export { decodeImageFile, pixelsOf } from './hosts/browser/images.js';
