// Keras .h5 → the converted format (src/engine/weights/format.ts). Everything is checked before the
// first byte is written; writes go to a temporary directory beside outDir that is renamed into place,
// so a failed or interrupted conversion leaves nothing behind and never clobbers a good outDir. The
// conversion yields to the event loop between chunks, so a signal handler runs within one chunk's
// work (16 MiB) rather than after the whole file.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { ModelSpec } from '../../../engine/model.js';
import { layoutManifest, MANIFEST_FILE, SHARD_BYTES, type WeightsManifest } from '../../../engine/weights/format.js';
import { openKerasWeights } from './kerasH5.js';

export interface ConvertOptions {
  /** Replace a non-empty outDir. */
  force?: boolean;
  /** Convert even if a tensor holds NaN or ±Inf. */
  allowNonfinite?: boolean;
  /** Models to detect (default VGG16, VGG19). */
  models?: readonly ModelSpec[];
  shardBytes?: number;
  log?: (line: string) => void;
  /** Extra facts for the manifest's `source` (e.g. that the weights are synthetic). */
  sourceExtra?: Record<string, unknown>;
  /** Checked between chunks: once aborted, the conversion stops, removes its temporary directory and throws the signal's reason. */
  signal?: AbortSignal;
  /**
   * Holds the temporary directory while it exists, for a caller that may have to exit before this
   * function's own cleanup runs (a second Ctrl-C): what is left in it is what to remove.
   */
  scratch?: Set<string>;
  /** Bytes written so far, after each chunk. */
  onProgress?: (bytes: number, total: number) => void;
}

export interface ConvertResult {
  manifest: WeightsManifest;
  outDir: string;
  seconds: number;
  bytes: number;
}

/** Refuses an outDir that holds files unless forced; an existing empty directory is fine. */
export function checkOutDir(outDir: string, force: boolean): void {
  if (!existsSync(outDir)) return;
  if (!statSync(outDir).isDirectory()) throw new Error(`${outDir}: exists and is not a directory; choose another output directory`);
  if (readdirSync(outDir).length > 0 && !force)
    throw new Error(`${outDir}: already holds files; pass --force to replace them, or choose an empty or new directory`);
}

/** Writes a byte stream into consecutive shard files, hashing each. */
class ShardWriter {
  private fd = -1;
  private index = -1;
  private written = 0;
  private hash: Hash | undefined;

  constructor(
    private readonly dir: string,
    private readonly manifest: WeightsManifest,
  ) {}

  write(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      if (this.fd < 0 || this.written === this.manifest.shards[this.index].bytes) this.next();
      const n = Math.min(bytes.length - off, this.manifest.shards[this.index].bytes - this.written);
      const part = bytes.subarray(off, off + n);
      writeSync(this.fd, part);
      this.hash!.update(part);
      this.written += n;
      off += n;
    }
  }

  private next(): void {
    this.finishShard();
    this.index++;
    if (this.index >= this.manifest.shards.length) throw new Error('converter wrote more bytes than the manifest lays out');
    this.fd = openSync(join(this.dir, this.manifest.shards[this.index].file), 'w');
    this.written = 0;
    this.hash = createHash('sha256');
  }

  private finishShard(): void {
    if (this.fd < 0) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
    this.manifest.shards[this.index].sha256 = this.hash!.digest('hex');
  }

  close(): void {
    this.finishShard();
    if (this.index !== this.manifest.shards.length - 1) throw new Error('converter wrote fewer bytes than the manifest lays out');
  }

  abort(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

const ROW_CHUNK_BYTES = 16 << 20;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function convertKerasH5(file: string, outDir: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  if (endianness() !== 'LE') throw new Error('the converter writes little-endian float32 and runs on little-endian machines only');
  const log = options.log ?? (() => {});
  outDir = resolve(outDir);
  checkOutDir(outDir, options.force ?? false);
  options.signal?.throwIfAborted();
  const t0 = performance.now();
  const keras = await openKerasWeights(file, options.models);
  let tmp: string | undefined;
  let writer: ShardWriter | undefined;
  try {
    const converted = [...keras.tensors.values()].filter((t) => t.dtype !== 'float32').map((t) => t.name);
    if (converted.length) log(`converting ${converted.length} float64 tensors to float32 (${converted.slice(0, 3).join(', ')}${converted.length > 3 ? ', …' : ''})`);
    const manifest = layoutManifest(
      keras.model,
      { file: basename(file), layout: keras.layout, ...(converted.length ? { convertedFromFloat64: converted } : {}), ...options.sourceExtra },
      options.shardBytes ?? SHARD_BYTES,
    );
    mkdirSync(dirname(outDir), { recursive: true });
    tmp = `${outDir}.tmp-${process.pid}-${Date.now().toString(36)}`;
    options.scratch?.add(tmp);
    mkdirSync(tmp);
    writer = new ShardWriter(tmp, manifest);
    const total = manifest.shards.reduce((n, s) => n + s.bytes, 0);
    let written = 0;
    for (const entry of manifest.tensors) {
      const t = keras.tensors.get(entry.name)!;
      const rows = t.shape[0];
      const rowBytes = entry.bytes / rows;
      const step = Math.max(1, Math.floor(ROW_CHUNK_BYTES / rowBytes));
      for (let r = 0; r < rows; r += step) {
        const data = t.readRows(r, Math.min(rows, r + step));
        if (!options.allowNonfinite) {
          const bad = data.findIndex((v) => !Number.isFinite(v));
          if (bad >= 0) {
            let count = 0;
            for (const v of data) if (!Number.isFinite(v)) count++;
            const index = (r * rowBytes) / 4 + bad;
            throw new Error(
              `${file}: ${t.path} (${entry.name}) holds non-finite values (${count} in rows ${r}..${Math.min(rows, r + step)}, first ${data[bad]} at flat index ${index}); pass --allow-nonfinite to convert anyway`,
            );
          }
        }
        writer.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        written += data.byteLength;
        options.onProgress?.(written, total);
        await nextTurn();
        options.signal?.throwIfAborted();
      }
    }
    writer.close();
    writeFileSync(join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 1)}\n`);
    // Into place: an existing (empty, or forced) outDir is moved aside first and removed last.
    let old: string | undefined;
    if (existsSync(outDir)) {
      old = `${outDir}.old-${process.pid}-${Date.now().toString(36)}`;
      renameSync(outDir, old);
    }
    try {
      renameSync(tmp, outDir);
    } catch (e) {
      if (old) renameSync(old, outDir);
      throw e;
    }
    // From the renames to here nothing yields: no signal handler sees outDir moved aside.
    options.scratch?.delete(tmp);
    tmp = undefined;
    if (old) rmSync(old, { recursive: true, force: true });
    return { manifest, outDir, seconds: (performance.now() - t0) / 1000, bytes: total };
  } finally {
    writer?.abort();
    keras.close();
    if (tmp) {
      rmSync(tmp, { recursive: true, force: true });
      options.scratch?.delete(tmp);
    }
  }
}
