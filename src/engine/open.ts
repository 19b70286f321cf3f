// The host-independent half of opening the engine: kernel choice for this device, then the Grad-CAM
// engine on the weights. Each host (src/hosts/node, src/hosts/browser) adds what differs — the device,
// where the weight bytes and the tuning cache live — in its own openGradCam().
import { guardDevice } from './deviceErrors.js';
import { GradCam } from './gradcam.js';
import type { ModelSpec } from './model.js';
import { loadOrTune, type Tuning, type TuningMode, type TuningStep, type TuningStore } from './tuning.js';
import type { WeightsInfo } from './weights/format.js';
import { GpuWeights, type WeightMap } from './weights/gpuWeights.js';

export interface EngineOptions {
  /** Kernel choice: measured once per device and cached (auto), measured again (force), or defaults (off). */
  tune?: TuningMode;
  /** Store the dense layers' weights as float16 (about 247 MB less GPU memory for VGG16). */
  f16?: boolean;
  /** One line per measured kernel shape while a new device is being tuned, with the count done of the total. */
  onTuningProgress?(line: string, step: TuningStep): void;
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

/** What a host's weight source gives: the weights (on the GPU or in memory), their model and what they are. */
export interface LoadedWeights {
  model: ModelSpec;
  weights: GpuWeights | WeightMap;
  info: WeightsInfo;
}

/**
 * The common tail of every host's openGradCam: loads the weights (the host's part), chooses the
 * kernels, makes the engine. On failure nothing stays allocated: weights loaded onto a caller's device
 * are destroyed, and so is the device when this open made it (`ownDevice`).
 */
export async function openOnDevice(
  device: GPUDevice,
  ownDevice: boolean,
  load: () => Promise<LoadedWeights>,
  store: TuningStore | undefined,
  options: EngineOptions,
): Promise<OpenedGradCam> {
  let loaded: LoadedWeights | undefined;
  try {
    // A device lost while the weights load or the kernels are timed rejects with DeviceLostError, and an
    // allocation refused with GpuCommandError (see deviceErrors.ts), instead of Dawn's bare AbortError.
    return await guardDevice(
      device,
      'openGradCam()',
      async (): Promise<OpenedGradCam> => {
        loaded = await load();
        const { model, weights, info } = loaded;
        const tuning = await loadOrTune(device, model, store, options.tune ?? 'auto', { onProgress: options.onTuningProgress });
        const cam = await GradCam.create(device, model, weights, { choices: tuning.choices, f16: options.f16 });
        return {
          cam,
          device,
          model,
          weights: info,
          tuning,
          tuningWhere: store?.where,
          close() {
            cam.dispose();
            if (ownDevice) device.destroy();
          },
        };
      },
      { orphan: (opened) => opened.cam.dispose() },
    );
  } catch (e) {
    if (loaded?.weights instanceof GpuWeights) loaded.weights.destroy();
    if (ownDevice) device.destroy();
    throw e;
  }
}
