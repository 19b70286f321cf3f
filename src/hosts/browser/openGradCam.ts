// Browser: device → weights → kernel choice → engine, the one way a page opens Grad-CAM (the demo page
// and library users). What is the browser's own: navigator.gpu for the device, weights fetched from a
// URL (kept in Cache Storage), the tuning cache in localStorage.
import { requestBrowserDevice } from './device.js';
import type { ModelSpec } from '../../engine/model.js';
import { openOnDevice, type EngineOptions, type OpenedGradCam } from '../../engine/open.js';
import type { TuningStore } from '../../engine/tuning.js';
import { localStorageTuningStore } from './tuningStore.js';
import { weightsInfo, type WeightsInfo } from '../../engine/weights/format.js';
import { loadWeightsFromUrl, type BrowserLoadProgress } from './weights.js';
import type { GpuWeights, WeightMap } from '../../engine/weights/gpuWeights.js';

export const DEFAULT_WEIGHTS_URL = 'weights/vgg16/';

export interface BrowserOpenOptions extends EngineOptions {
  /**
   * The URL of a converted weights directory (default weights/vgg16/, relative to the page), or weights
   * already in memory or on the GPU with their model (e.g. heNormalWeights(model) for random ones).
   */
  weights?: string | { model: ModelSpec; tensors: WeightMap | GpuWeights; info?: WeightsInfo };
  onWeightsProgress?(p: BrowserLoadProgress): void;
  /** The models a weights directory may name (default VGG16 and VGG19); add your own spec here. */
  models?: Readonly<Record<string, ModelSpec>>;
  /** Default: localStorage. */
  tuningStore?: TuningStore;
  /** Use this device instead of requesting one (it is then not destroyed by close()). */
  device?: GPUDevice;
}

export async function openGradCam(options: BrowserOpenOptions = {}): Promise<OpenedGradCam> {
  const source = options.weights ?? DEFAULT_WEIGHTS_URL;
  const device = options.device ?? (await requestBrowserDevice(typeof source === 'string' ? undefined : source.model));
  return openOnDevice(
    device,
    !options.device,
    async () => {
      if (typeof source !== 'string') return { model: source.model, weights: source.tensors, info: source.info ?? { model: source.model.name, synthetic: false } };
      const loaded = await loadWeightsFromUrl(device, source, { onProgress: options.onWeightsProgress, models: options.models });
      return { model: loaded.weights.model, weights: loaded.weights, info: weightsInfo({ model: loaded.weights.model.name, source: loaded.source }) };
    },
    options.tuningStore ?? localStorageTuningStore(),
    options,
  );
}
