// Browser host: a GPUDevice from navigator.gpu, with messages that say what to do when there is none.
import { requestEngineDevice, type EngineDeviceOptions } from '../../engine/device.js';
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
export async function deviceLoss(device: GPUDevice): Promise<GPUDeviceLostInfo | undefined> {
  const probe = device.createBuffer({ label: 'gradcam-webgpu device probe', size: 4, usage: GPUBufferUsage.MAP_READ });
  try {
    return await Promise.race([device.lost, probe.mapAsync(GPUMapMode.READ).then(() => undefined, () => device.lost)]);
  } finally {
    probe.destroy();
  }
}
