// Browser host: a GPUDevice from navigator.gpu, with messages that say what to do when there is none.
import { requestEngineDevice, type EngineDeviceOptions } from '../../engine/device.js';
import { DeviceLostError } from '../../engine/deviceErrors.js';
import { VGG16, type ModelSpec } from '../../engine/model.js';

export class WebGpuUnavailableError extends Error {
  constructor(why: string) {
    super(
      `${why} Use a current Chrome, Edge or another browser with WebGPU enabled (Chrome: chrome://gpu shows ` +
        `"WebGPU: Hardware accelerated"; on Linux start it with --enable-unsafe-webgpu), and open the page over ` +
        `https:// or http://localhost, where WebGPU is available.`,
    );
    this.name = 'WebGpuUnavailableError';
  }
}

export async function requestBrowserDevice(model: ModelSpec = VGG16, options: EngineDeviceOptions = {}): Promise<GPUDevice> {
  if (typeof navigator === 'undefined' || !('gpu' in navigator) || !navigator.gpu) {
    throw new WebGpuUnavailableError('This browser does not expose WebGPU (navigator.gpu is missing).');
  }
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new WebGpuUnavailableError('WebGPU is present but no GPU adapter is available.');
  return requestEngineDevice(adapter, model, options);
}

/**
 * Whether `device` is lost, for a caller whose GPU work just failed: device.lost resolves on its own
 * schedule, possibly after the failed call's rejection, so a 4-byte map is raced against it (mapping
 * fails on a lost device and succeeds on a live one, whatever else is queued). Returns the loss, or
 * undefined when the device works.
 */
export async function deviceLoss(device: GPUDevice, failure?: unknown): Promise<GPUDeviceLostInfo | undefined> {
  // The engine has already decided (DeviceLostError carries the loss).
  if (failure instanceof DeviceLostError) return { reason: failure.loss.reason, message: failure.loss.message } as GPUDeviceLostInfo;
  const probe = device.createBuffer({ label: 'gradcam-webgpu device probe', size: 4, usage: GPUBufferUsage.MAP_READ });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // A map that fails on a live device (the probe refused right after an out-of-memory error, an aborted
    // map) would otherwise wait for a loss that never comes: after a second without one, it is not lost.
    const settled = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), LOSS_PROBE_MS)));
    return await Promise.race([device.lost, probe.mapAsync(GPUMapMode.READ).then(() => undefined, () => Promise.race([device.lost, settled]))]);
  } finally {
    clearTimeout(timer);
    probe.destroy();
  }
}

/** How long deviceLoss waits for device.lost after a failed probe map (the engine's confirmLoss waits as long). */
const LOSS_PROBE_MS = 1000;
