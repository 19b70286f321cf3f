// Counts the pipelines, shader modules, layouts and bind groups made on a device, beside the engine's
// buffer ledger (src/engine/gpuMemory.ts): a cache that grows without bound shows up as objects made
// on every frame of a steady stream, whatever the cache itself reports. Counted at the device's own
// methods, so nothing the engine makes is missed.

export interface DeviceObjectCounts {
  shaderModules: number;
  pipelines: number;
  bindGroupLayouts: number;
  pipelineLayouts: number;
  bindGroups: number;
}

const counted = new WeakMap<GPUDevice, DeviceObjectCounts>();

const METHODS: Record<string, keyof DeviceObjectCounts> = {
  createShaderModule: 'shaderModules',
  createComputePipeline: 'pipelines',
  createComputePipelineAsync: 'pipelines',
  createRenderPipeline: 'pipelines',
  createRenderPipelineAsync: 'pipelines',
  createBindGroupLayout: 'bindGroupLayouts',
  createPipelineLayout: 'pipelineLayouts',
  createBindGroup: 'bindGroups',
};

/** Starts counting on `device` (idempotent; objects made before the first call are not counted); returns the live counts. */
export function countDeviceObjects(device: GPUDevice): DeviceObjectCounts {
  const known = counted.get(device);
  if (known) return known;
  const counts: DeviceObjectCounts = { shaderModules: 0, pipelines: 0, bindGroupLayouts: 0, pipelineLayouts: 0, bindGroups: 0 };
  counted.set(device, counts);
  const methods = device as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const [method, kind] of Object.entries(METHODS)) {
    const original = methods[method].bind(device);
    methods[method] = (...args: unknown[]) => {
      counts[kind]++;
      return original(...args);
    };
  }
  return counts;
}
