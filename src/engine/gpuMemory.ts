// The engine's ledger of GPU memory: every buffer created on a tracked device and every destroy(), so a
// soak can check that what a run allocates it also frees. WebGPU has no query for the memory a device
// holds, and GradCam.memoryBytes sums only the buffers the engine knows it keeps; this counts at the
// source (device.createBuffer), so a buffer someone forgot to list or to destroy shows up as growth.

export interface GpuMemoryLedger {
  /** Buffers alive now (created and not yet destroyed) on this device. */
  buffers: number;
  /** Their bytes. */
  bytes: number;
  /** The most bytes alive at once since tracking began. */
  peakBytes: number;
  /** Buffers created and destroyed since tracking began. */
  created: number;
  destroyed: number;
}

const ledgers = new WeakMap<GPUDevice, GpuMemoryLedger>();

/**
 * Starts counting buffers on `device` (idempotent: the engine calls it wherever it is handed a device;
 * buffers created before the first call are not counted). Returns the live ledger.
 */
export function trackGpuMemory(device: GPUDevice): GpuMemoryLedger {
  const known = ledgers.get(device);
  if (known) return known;
  const ledger: GpuMemoryLedger = { buffers: 0, bytes: 0, peakBytes: 0, created: 0, destroyed: 0 };
  ledgers.set(device, ledger);
  const createBuffer = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor): GPUBuffer => {
    const buffer = createBuffer(descriptor);
    const size = buffer.size;
    ledger.buffers++;
    ledger.created++;
    ledger.bytes += size;
    ledger.peakBytes = Math.max(ledger.peakBytes, ledger.bytes);
    const destroy = buffer.destroy.bind(buffer);
    let alive = true;
    // destroy() may be called twice (WebGPU allows it); the ledger counts the first.
    buffer.destroy = (): undefined => {
      if (alive) {
        alive = false;
        ledger.buffers--;
        ledger.destroyed++;
        ledger.bytes -= size;
      }
      return destroy();
    };
    return buffer;
  };
  return ledger;
}

/** A copy of the ledger of `device` (zeros, and tracking started, if it was not tracked yet). */
export function gpuMemory(device: GPUDevice): GpuMemoryLedger {
  return { ...trackGpuMemory(device) };
}
