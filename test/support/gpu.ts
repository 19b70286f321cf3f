// GPU buffer helpers for kernel tests. Output buffers get GUARD extra floats, and every float starts
// as a sentinel: after the kernel, the tail must still hold sentinels (no stray writes) and the body
// must hold none (every element written).
import { encodeDispatch, destroyDispatch, type Dispatch } from '../../src/kernels/kernel.js';
import { packHalfVersions, packedHalfBytes } from '../../src/kernels/packHalf.js';
import { unpackHalves } from '../../src/kernels/packHalf.ref.js';

export const GUARD = 16;
export const SENTINEL = -7777.25;

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export function upload(device: GPUDevice, data: Float32Array | Uint32Array, label = 'input'): GPUBuffer {
  const size = Math.max(4, data.byteLength);
  const buffer = device.createBuffer({ label, size, usage: USAGE(), mappedAtCreation: true });
  const view = data instanceof Float32Array ? new Float32Array(buffer.getMappedRange()) : new Uint32Array(buffer.getMappedRange());
  view.set(data);
  buffer.unmap();
  return buffer;
}

export function guardedOutput(device: GPUDevice, elements: number, label = 'output'): GPUBuffer {
  return upload(device, new Float32Array(elements + GUARD).fill(SENTINEL), label);
}

export async function readBack(device: GPUDevice, buffer: GPUBuffer): Promise<Float32Array> {
  const staging = device.createBuffer({ size: buffer.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, buffer.size);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

/** Submits a dispatch and waits; destroys it unless `keep` (for re-runs with new parameters). */
export async function run(device: GPUDevice, dispatch: Dispatch, keep = false): Promise<void> {
  device.pushErrorScope('validation');
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  encodeDispatch(pass, dispatch);
  pass.end();
  device.queue.submit([encoder.finish()]);
  const error = await device.popErrorScope();
  if (!keep) destroyDispatch(dispatch);
  if (error) throw new Error(`${dispatch.label}: validation error: ${error.message}`);
}

/** Reads a guarded output, checks its guards, returns the body. */
export async function readGuarded(device: GPUDevice, buffer: GPUBuffer, elements: number, name: string): Promise<Float32Array> {
  const all = await readBack(device, buffer);
  for (let i = elements; i < elements + GUARD; i++) {
    if (all[i] !== SENTINEL) throw new Error(`${name}: guard float ${i - elements} after the output was overwritten (${all[i]})`);
  }
  const body = all.subarray(0, elements);
  const unwritten = body.indexOf(SENTINEL);
  if (unwritten >= 0) throw new Error(`${name}: output element ${unwritten} was never written`);
  return body;
}

/**
 * Packs float32 weights into float16 words on the GPU (the engine's packHalf) and returns the packed
 * buffer with the values it holds, unpacked on the CPU: the reference of an f16-weight kernel is
 * computed from exactly the weights the kernel reads.
 */
export async function packHalvesOnGpu(device: GPUDevice, data: Float32Array): Promise<{ buffer: GPUBuffer; values: Float32Array }> {
  const src = upload(device, data, 'float32 weights');
  const buffer = device.createBuffer({ label: 'float16 weights', size: Math.max(8, packedHalfBytes(data.length)), usage: USAGE() });
  await run(device, await packHalfVersions[0].prepare(device, { count: data.length }, { x: src, y: buffer }));
  src.destroy();
  const words = new Uint32Array((await readBack(device, buffer)).buffer);
  return { buffer, values: unpackHalves(words, data.length) };
}
