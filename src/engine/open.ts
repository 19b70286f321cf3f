// The host-independent half of opening the engine: kernel choice for this device, then the Grad-CAM
// engine on the weights. Each host (src/hosts/node, src/hosts/browser) adds what differs — the device,
// where the weight bytes and the tuning cache live — in its own openGradCam().
import { GradCam } from './gradcam.js';
import type { ModelSpec } from './model.js';
import { loadOrTune, type Tuning, type TuningMode, type TuningStore } from './tuning.js';
import type { WeightsInfo } from './weights/format.js';
import type { GpuWeights, WeightMap } from './weights/gpuWeights.js';

export interface EngineOptions {
  /** Kernel choice: measured once per device and cached (auto), measured again (force), or defaults (off). */
  tune?: TuningMode;
  /** Store the dense layers' weights as float16 (about 247 MB less GPU memory for VGG16). */
  f16?: boolean;
  /** One line per measured kernel while a new device is being tuned. */
  onTuningProgress?(line: string): void;
}

/** What an openGradCam() gives, on every host. */
export interface OpenedGradCam {
  cam: GradCam;
  device: GPUDevice;
  model: ModelSpec;
  /** Which weights: model, and whether they are random (synthetic) with their seed. */
  weights: WeightsInfo;
  tuning: Tuning;
  /** Where the kernel choice is cached, for messages. */
  tuningWhere?: string;
  /** Frees the engine, and the device when openGradCam created it. */
  close(): void;
}

export async function createGradCamEngine(
  device: GPUDevice,
  model: ModelSpec,
  weights: GpuWeights | WeightMap,
  store: TuningStore | undefined,
  options: EngineOptions,
): Promise<{ cam: GradCam; tuning: Tuning }> {
  const tuning = await loadOrTune(device, model, store, options.tune ?? 'auto', { onProgress: options.onTuningProgress });
  const cam = await GradCam.create(device, model, weights, { choices: tuning.choices, f16: options.f16 });
  return { cam, tuning };
}
