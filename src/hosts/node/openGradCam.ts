// Node: device → weights → kernel choice → engine, the one way every Node caller opens Grad-CAM
// (the gradcam and verify commands, the benchmark, library users). What is Node's own: Dawn for the
// device, weights read from a converted directory on disk, the tuning cache in a file.
import { requestNodeDevice } from './device.js';
import type { ModelSpec } from '../../engine/model.js';
import { openOnDevice, type EngineOptions, type OpenedGradCam } from '../../engine/open.js';
import type { TuningStore } from '../../engine/tuning.js';
import { fileTuningStore } from './tuningStore.js';
import type { WeightsInfo } from '../../engine/weights/format.js';
import type { GpuWeights, LoadProgress, WeightMap } from '../../engine/weights/gpuWeights.js';
import { DEFAULT_WEIGHTS_DIR, loadWeightsFromDir, readWeightsManifest } from './weights.js';

export interface NodeOpenOptions extends EngineOptions {
  /**
   * A converted weights directory (default weights/vgg16), or weights already in memory with their
   * model (e.g. heNormalWeights(model) for seeded random ones).
   */
  weights?: string | { model: ModelSpec; tensors: WeightMap; info?: WeightsInfo };
  onWeightsProgress?(p: LoadProgress): void;
  /** The models a weights directory may name (default VGG16 and VGG19); add your own spec here. */
  models?: Readonly<Record<string, ModelSpec>>;
  /** Called with the weights on the GPU before the engine takes them (the f16 option repacks them). */
  onWeightsLoaded?(weights: GpuWeights, load: { seconds: number; bytes: number; device: GPUDevice }): void | Promise<void>;
  /** Default: the file cache ($GRADCAM_CACHE_DIR or ~/.cache/gradcam-webgpu/tuning.json). */
  tuningStore?: TuningStore;
  /** Use this device instead of requesting one (it is then not destroyed by close()). */
  device?: GPUDevice;
}

export async function openGradCam(options: NodeOpenOptions = {}): Promise<OpenedGradCam> {
  const source = options.weights ?? DEFAULT_WEIGHTS_DIR;
  // The manifest first (a few kB): a missing or damaged directory is reported before a device exists.
  const fromDisk = typeof source === 'string' ? readWeightsManifest(source, options.models) : undefined;
  const model = fromDisk?.model ?? (source as { model: ModelSpec }).model;
  // No console line on a loss: every engine call in flight or made afterwards rejects with DeviceLostError, which says it.
  const device = options.device ?? (await requestNodeDevice(model, { onLost: () => undefined }));
  return openOnDevice(
    device,
    !options.device,
    async () => {
      if (typeof source !== 'string') return { model, weights: source.tensors, info: source.info ?? { model: model.name, synthetic: false } };
      const loaded = await loadWeightsFromDir(device, source, { onProgress: options.onWeightsProgress, models: options.models });
      try {
        await options.onWeightsLoaded?.(loaded.weights, { seconds: loaded.seconds, bytes: loaded.bytes, device });
      } catch (e) {
        loaded.weights.destroy();
        throw e;
      }
      return { model, weights: loaded.weights, info: loaded.info };
    },
    options.tuningStore ?? fileTuningStore(),
    options,
  );
}
