// Model weights living in GPU buffers, one per tensor. Made from Float32Arrays in memory, by streaming
// shards of the converted format straight into buffers mapped at creation (Node: never more than one
// chunk of the file in JS memory), or from whole shards in any order with queue.writeBuffer (browser:
// a shard is held once anyway, to hash it, and Chromium's mapped-at-creation buffers are slow there).
import { trackGpuMemory } from '../gpuMemory.js';
import { elementCount, weightSpecs, type ModelSpec } from '../model.js';
import type { ShardEntry, WeightsManifest } from './format.js';
import { Readback } from '../gpuTimer.js';

export type WeightMap = ReadonlyMap<string, Float32Array>;

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export class GpuWeights {
  private destroyed = false;
  private readonly map: Map<string, GPUBuffer>;
  /** Tensors stored as packed float16 (see Network's f16 option), by name. */
  readonly halves = new Set<string>();

  constructor(
    readonly model: ModelSpec,
    buffers: ReadonlyMap<string, GPUBuffer>,
    /** The buffers belong to someone else: destroy() leaves them alone (a view, e.g. for other weights mixed in). */
    readonly borrowed = false,
  ) {
    this.map = new Map(buffers);
  }

  get buffers(): ReadonlyMap<string, GPUBuffer> {
    return this.map;
  }

  /** Swaps a tensor's buffer for its packed float16 copy; the float32 buffer is destroyed. */
  replaceWithHalves(name: string, packed: GPUBuffer): void {
    if (this.borrowed) throw new Error(`${this.model.name} weights: '${name}' is borrowed; pack it where it is owned`);
    this.get(name).destroy();
    this.map.set(name, packed);
    this.halves.add(name);
  }

  /** Copies every tensor back to the CPU (as float32; packed float16 tensors come back packed). */
  async readToCpu(device: GPUDevice): Promise<Map<string, Float32Array>> {
    const readback = new Readback(device);
    const encoder = device.createCommandEncoder();
    for (const [name, buffer] of this.buffers) readback.copy(encoder, name, buffer);
    device.queue.submit([encoder.finish()]);
    try {
      return new Map([...(await readback.read())].map(([name, bytes]) => [name, new Float32Array(bytes)]));
    } finally {
      readback.destroy();
    }
  }

  get(name: string): GPUBuffer {
    const b = this.buffers.get(name);
    if (!b) throw new Error(`${this.model.name} weights: no tensor '${name}'`);
    if (this.destroyed) throw new Error(`${this.model.name} weights: used after destroy()`);
    return b;
  }

  get bytes(): number {
    let n = 0;
    for (const b of this.buffers.values()) n += b.size;
    return n;
  }

  destroy(): void {
    this.destroyed = true;
    if (!this.borrowed) for (const b of this.buffers.values()) b.destroy();
  }
}

/** Checks every tensor the model needs and rejects extras, naming the tensor and the fix. */
export function validateWeights(model: ModelSpec, weights: WeightMap): void {
  const specs = weightSpecs(model);
  const expected = new Set(specs.map((s) => s.name));
  for (const s of specs) {
    const t = weights.get(s.name);
    const want = `float32 ${s.shape.join('×')} (${elementCount(s.shape)} values)`;
    if (!t) throw new Error(`weights: missing tensor '${s.name}'; ${model.name} needs ${want}`);
    if (!(t instanceof Float32Array)) throw new Error(`weights: tensor '${s.name}' must be a Float32Array; ${model.name} needs ${want}`);
    if (t.length !== elementCount(s.shape))
      throw new Error(`weights: tensor '${s.name}' has ${t.length} values; ${model.name} needs ${want}`);
  }
  for (const name of weights.keys()) {
    if (!expected.has(name)) throw new Error(`weights: unexpected tensor '${name}', not part of ${model.name} (is this the right model?)`);
  }
}

export function uploadWeights(device: GPUDevice, model: ModelSpec, weights: WeightMap): GpuWeights {
  validateWeights(model, weights);
  trackGpuMemory(device);
  const buffers = new Map<string, GPUBuffer>();
  try {
    for (const s of weightSpecs(model)) {
      const data = weights.get(s.name)!;
      // Mapped at creation, an allocation the GPU refuses throws (RangeError) instead of giving an invalid buffer.
      const buffer = device.createBuffer({ label: s.name, size: data.byteLength, usage: USAGE(), mappedAtCreation: true });
      buffers.set(s.name, buffer);
      new Float32Array(buffer.getMappedRange()).set(data);
      buffer.unmap();
    }
  } catch (e) {
    for (const b of buffers.values()) b.destroy();
    throw e;
  }
  return new GpuWeights(model, buffers);
}

export interface ShardHasher {
  update(chunk: Uint8Array): void;
  /** Lower-case hex sha256 of everything passed to update(). */
  digest(): Promise<string>;
}

export interface LoadProgress {
  loadedBytes: number;
  totalBytes: number;
  shard: number;
  shards: number;
}

export interface ShardStreamOptions {
  /** Verify each shard's sha256 against the manifest (default true). */
  verify?: boolean;
  onProgress?: (p: LoadProgress) => void;
}

/**
 * Streams shards into GPU buffers mapped at creation. `readShard` yields a shard's bytes in order;
 * `where` names the weights (a directory or URL) in errors. Buffers are released on any failure.
 */
export async function streamShardsToGpu(
  device: GPUDevice,
  manifest: WeightsManifest,
  model: ModelSpec,
  where: string,
  readShard: (shard: ShardEntry, index: number) => AsyncIterable<Uint8Array>,
  createHasher: () => ShardHasher,
  options: ShardStreamOptions = {},
): Promise<GpuWeights> {
  trackGpuMemory(device);
  const verify = options.verify ?? true;
  const tensors = [...manifest.tensors].sort((a, b) => a.offset - b.offset);
  const buffers = new Map<string, GPUBuffer>();
  const totalBytes = manifest.shards.reduce((n, s) => n + s.bytes, 0);
  // Buffers are created (mapped) when the stream reaches their tensor and unmapped as soon as it is
  // complete, so at most one tensor's mapping is alive at a time: Dawn backs a mapping with a staging
  // allocation of the buffer's size, and mapping all 528 MB at once would double the peak.
  let current: { index: number; bytes: Uint8Array; buffer: GPUBuffer } | undefined;
  const tensorAt = (index: number) => {
    if (current?.index === index) return current;
    const t = tensors[index];
    const buffer = device.createBuffer({ label: t.name, size: t.bytes, usage: USAGE(), mappedAtCreation: true });
    buffers.set(t.name, buffer);
    current = { index, bytes: new Uint8Array(buffer.getMappedRange()), buffer };
    return current;
  };
  try {
    let position = 0;
    let v = 0;
    for (const [i, shard] of manifest.shards.entries()) {
      const hasher = verify ? createHasher() : undefined;
      const shardStart = position;
      for await (const chunk of readShard(shard, i)) {
        if (position + chunk.length > shardStart + shard.bytes)
          throw new Error(`${where}/${shard.file}: longer than the ${shard.bytes} bytes manifest.json gives it; convert the weights again`);
        hasher?.update(chunk);
        // Copy the chunk into every tensor it overlaps (tensors are sorted by offset).
        let p = position;
        let off = 0;
        while (off < chunk.length) {
          while (v < tensors.length && tensors[v].offset + tensors[v].bytes <= p) v++;
          if (v === tensors.length) break; // bytes after the last tensor: nothing to copy
          const t = tensors[v];
          const n = p < t.offset ? Math.min(t.offset - p, chunk.length - off) : Math.min(t.offset + t.bytes - p, chunk.length - off);
          if (p >= t.offset) {
            const target = tensorAt(v);
            target.bytes.set(chunk.subarray(off, off + n), p - t.offset);
            if (p + n === t.offset + t.bytes) {
              target.buffer.unmap();
              current = undefined;
            }
          }
          off += n;
          p += n;
        }
        position += chunk.length;
        options.onProgress?.({ loadedBytes: position, totalBytes, shard: i, shards: manifest.shards.length });
      }
      if (position - shardStart !== shard.bytes)
        throw new Error(`${where}/${shard.file}: ${position - shardStart} bytes, manifest.json says ${shard.bytes} (truncated?); download or convert the weights again`);
      if (hasher) {
        const sha = await hasher.digest();
        if (sha !== shard.sha256)
          throw new Error(`${where}/${shard.file}: sha256 ${sha} does not match manifest.json (${shard.sha256}): the file was altered or damaged; download or convert the weights again`);
      }
    }
    if (buffers.size !== tensors.length) throw new Error(`${where}: the shards end before the last tensor; convert the weights again`);
    return new GpuWeights(model, buffers);
  } catch (err) {
    for (const b of buffers.values()) b.destroy();
    throw err;
  }
}

/**
 * Writes whole shards into GPU buffers with queue.writeBuffer, in any order (shards fetched in
 * parallel finish out of order). Why not buffers mapped at creation, as streamShardsToGpu: in
 * Chromium a mapping is a shared-memory copy of the whole buffer (411 MB for VGG16's fc1) that unmap
 * copies again: 100–300 MB/s on SwiftShader against 500–650 MB/s for 8 MiB writeBuffer pieces
 * (scripts/benchWeights.ts --parts). All buffers are created up front; destroy() frees them on failure.
 */
export class ShardUploader {
  /** writeBuffer piece size: bounds the staging copy Chromium makes per call. */
  static readonly PIECE_BYTES = 8 << 20;
  private readonly tensors: WeightsManifest['tensors'];
  private readonly buffers = new Map<string, GPUBuffer>();
  private readonly starts: number[];
  private readonly written: number[];
  private readonly done = new Set<number>();
  /** Bytes of 4-byte words split across two shards (only when a shard size is not a multiple of 4). */
  private readonly partialWords = new Map<string, { bytes: Uint8Array<ArrayBuffer>; filled: number }>();
  private destroyed = false;

  constructor(
    private readonly device: GPUDevice,
    private readonly manifest: WeightsManifest,
    private readonly model: ModelSpec,
    private readonly where: string,
  ) {
    this.tensors = [...manifest.tensors].sort((a, b) => a.offset - b.offset);
    this.written = this.tensors.map(() => 0);
    let start = 0;
    this.starts = manifest.shards.map((s) => ((start += s.bytes), start - s.bytes));
    try {
      for (const t of this.tensors) this.buffers.set(t.name, device.createBuffer({ label: t.name, size: t.bytes, usage: USAGE() }));
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** Queues shard `index`'s bytes (exactly the manifest's size) for upload; `bytes` may be reused once this returns. */
  write(index: number, bytes: Uint8Array<ArrayBuffer>): void {
    const shard = this.manifest.shards[index];
    if (this.destroyed) throw new Error(`${this.where}: weights upload used after destroy()`);
    if (bytes.length !== shard.bytes) throw new Error(`${this.where}/${shard.file}: ${bytes.length} bytes, manifest.json says ${shard.bytes}; convert the weights again`);
    if (this.done.has(index)) throw new Error(`${this.where}/${shard.file}: written twice`);
    this.done.add(index);
    const start = this.starts[index];
    const end = start + bytes.length;
    for (const [v, t] of this.tensors.entries()) {
      const from = Math.max(start, t.offset);
      const to = Math.min(end, t.offset + t.bytes);
      if (from >= to) continue;
      const buffer = this.buffers.get(t.name)!;
      const dst = from - t.offset;
      const n = to - from;
      this.written[v] += n;
      // writeBuffer needs 4-byte aligned offsets and sizes: the aligned middle goes straight in; the
      // ends (only when a shard boundary cuts a float) are assembled word by word.
      const a = Math.min(Math.ceil(dst / 4) * 4, dst + n);
      const b = Math.max(Math.floor((dst + n) / 4) * 4, a);
      for (let p = a; p < b; p += ShardUploader.PIECE_BYTES) {
        this.device.queue.writeBuffer(buffer, p, bytes, from - start + (p - dst), Math.min(ShardUploader.PIECE_BYTES, b - p));
      }
      for (const [lo, hi] of [[dst, a], [b, dst + n]]) {
        for (let p = lo; p < hi; p++) this.partialByte(t.name, buffer, p, bytes[from - start + (p - dst)]);
      }
    }
  }

  private partialByte(name: string, buffer: GPUBuffer, position: number, value: number): void {
    const word = position - (position % 4);
    const key = `${name}@${word}`;
    let w = this.partialWords.get(key);
    if (!w) this.partialWords.set(key, (w = { bytes: new Uint8Array(4), filled: 0 }));
    w.bytes[position % 4] = value;
    if (++w.filled === 4) {
      this.device.queue.writeBuffer(buffer, word, w.bytes);
      this.partialWords.delete(key);
    }
  }

  /** The weights, once every shard was written; the writes are queued, so later GPU work sees them. */
  finish(): GpuWeights {
    const missing = this.manifest.shards.filter((_, i) => !this.done.has(i)).map((s) => s.file);
    if (missing.length > 0) throw new Error(`${this.where}: shards not loaded: ${missing.join(', ')}`);
    if (this.written.some((n, v) => n !== this.tensors[v].bytes) || this.partialWords.size > 0)
      throw new Error(`${this.where}: the shards end before the last tensor; convert the weights again`);
    return new GpuWeights(this.model, this.buffers);
  }

  destroy(): void {
    this.destroyed = true;
    for (const b of this.buffers.values()) b.destroy();
  }
}
