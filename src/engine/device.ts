// Host-independent device set-up: which limits a model needs, asking the adapter for them, and
// saying plainly which one is missing.
import { watchDeviceLoss } from './deviceErrors.js';
import { trackGpuMemory } from './gpuMemory.js';
import { elementCount, inferShapes, type ModelSpec } from './model.js';

/**
 * The largest image accepted, in pixels: the overlay's RGBA buffer and output stay far below binding
 * limits. The image decoders check it from the file header, GradCam.run on the pixels it is given.
 */
export const MAX_IMAGE_PIXELS = 40_000_000;

export interface LimitNeed {
  limit: 'maxStorageBufferBindingSize' | 'maxBufferSize';
  bytes: number;
  /** The tensor that needs it, for the error message. */
  tensor: string;
  shape: number[];
}

/** The largest single buffer the model binds, weights or activations (fc1/kernel for VGG: 411 MB). */
export function largestTensor(model: ModelSpec): { tensor: string; shape: number[]; bytes: number } {
  let best = { tensor: 'input', shape: [...model.inputShape], bytes: 4 * elementCount(model.inputShape) };
  for (const l of inferShapes(model)) {
    for (const t of [{ name: l.layer.name, shape: l.output }, ...l.weights]) {
      const bytes = 4 * elementCount(t.shape);
      if (bytes > best.bytes) best = { tensor: t.name, shape: t.shape, bytes };
    }
  }
  return best;
}

export function limitNeeds(model: ModelSpec): LimitNeed[] {
  const big = largestTensor(model);
  return (['maxStorageBufferBindingSize', 'maxBufferSize'] as const).map((limit) => ({ limit, ...big, bytes: big.bytes }));
}

export class MissingLimitError extends Error {
  constructor(
    readonly need: LimitNeed,
    readonly available: number,
    model: string,
  ) {
    super(
      `This GPU adapter's ${need.limit} is ${available} bytes, but ${model} needs ${need.bytes} bytes for ` +
        `${need.tensor} (${need.shape.join('×')} float32). Use a GPU/browser whose adapter allows ` +
        `${need.limit} ≥ ${need.bytes} (desktop Chrome and Dawn on Vulkan/Metal/D3D12 usually allow ≥ 1 GiB); ` +
        `splitting large tensors across buffers is not implemented yet.`,
    );
    this.name = 'MissingLimitError';
  }
}

/** Throws {@link MissingLimitError} for the first limit the adapter cannot meet. */
export function checkAdapterLimits(limits: GPUSupportedLimits, model: ModelSpec): Record<string, number> {
  const required: Record<string, number> = {};
  for (const need of limitNeeds(model)) {
    const available = limits[need.limit];
    if (available < need.bytes) throw new MissingLimitError(need, available, model.name);
    required[need.limit] = Math.max(required[need.limit] ?? 0, need.bytes);
  }
  return required;
}

export interface EngineDeviceOptions {
  /**
   * Called when the device is lost for any reason other than our own destroy() (default: a console
   * line). The engine's calls in flight or made afterwards reject with DeviceLostError either way.
   */
  onLost?: (info: GPUDeviceLostInfo) => void;
  /** Called for validation/out-of-memory errors nobody captured (they would otherwise be silent). */
  onUncapturedError?: (error: GPUError) => void;
}

/** A CPU rasteriser (SwiftShader, llvmpipe, lavapipe, WARP): minutes where a GPU takes seconds. */
export function isSoftwareAdapter(info: Pick<GPUAdapterInfo, 'vendor' | 'architecture' | 'description'> | undefined): boolean {
  return info !== undefined && /swiftshader|llvmpipe|lavapipe|warp/i.test(`${info.vendor} ${info.architecture} ${info.description}`);
}

export const OPTIONAL_FEATURES: readonly GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups' as GPUFeatureName];

export async function requestEngineDevice(
  adapter: GPUAdapter,
  model: ModelSpec,
  options: EngineDeviceOptions = {},
): Promise<GPUDevice> {
  const requiredLimits = checkAdapterLimits(adapter.limits, model);
  // Optional features, asked for when the adapter has them: per-pass timings, and the kernel versions
  // that need f16 arithmetic or subgroup operations (opKernels offers those only on such devices).
  const features = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ label: `gradcam-webgpu ${model.name}`, requiredLimits, requiredFeatures: features });
  trackGpuMemory(device);
  watchDeviceLoss(device);
  const onLost = options.onLost ?? ((info: GPUDeviceLostInfo) => console.error(`WebGPU device lost (${info.reason}): ${info.message}`));
  void device.lost.then((info) => {
    if (info.reason !== 'destroyed') onLost(info);
  });
  const onError = options.onUncapturedError ?? ((e: GPUError) => console.error(`WebGPU error: ${e.message}`));
  device.addEventListener('uncapturederror', (ev) => onError((ev as GPUUncapturedErrorEvent).error));
  return device;
}
