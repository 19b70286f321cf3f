// Node: load a converted weights directory into GPU buffers, streaming each shard from disk in 4 MiB
// chunks straight into buffers mapped at creation, hashing as it goes.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelSpec } from '../../engine/model.js';
import { MANIFEST_FILE, parseManifest, weightsInfo, type WeightsInfo, type WeightsManifest } from '../../engine/weights/format.js';
import { streamShardsToGpu, type GpuWeights, type ShardStreamOptions } from '../../engine/weights/gpuWeights.js';

export const DEFAULT_WEIGHTS_DIR = 'weights/vgg16';
const MAX_MANIFEST_BYTES = 1 << 20;

export function missingWeightsMessage(dir: string): string {
  return (
    `weights directory '${dir}' not found or has no ${MANIFEST_FILE}: run 'npm run weights' (downloads and converts ` +
    `Keras' VGG16 ImageNet weights), 'npm run convert -- <keras.h5> ${dir}' for a local file, or ` +
    `'npm run weights -- --synthetic' for seeded random weights`
  );
}

export interface NodeLoadResult {
  weights: GpuWeights;
  info: WeightsInfo;
  seconds: number;
  bytes: number;
}

export interface NodeLoadOptions extends ShardStreamOptions {
  /** Models the manifest may name (default: VGG16, VGG19). */
  models?: Readonly<Record<string, ModelSpec>>;
}

/**
 * Reads and checks a weights directory's manifest (a few kB): which model and whether the weights are
 * random, known before any device or weight byte is touched, so that arguments can be checked first.
 */
export function readWeightsManifest(
  dir: string,
  models?: NodeLoadOptions['models'],
): { manifest: WeightsManifest; model: ModelSpec; info: WeightsInfo } {
  const manifestPath = join(dir, MANIFEST_FILE);
  if (!existsSync(manifestPath)) throw new Error(missingWeightsMessage(dir));
  // VGG16's is 7 kB: a large file here is something else, not to be read into memory whole.
  const size = statSync(manifestPath).size;
  if (size > MAX_MANIFEST_BYTES)
    throw new Error(`${manifestPath}: ${size} bytes, far too large for a weights manifest (a few kB); convert the weights again with 'npm run convert'`);
  const { manifest, model } = parseManifest(readFileSync(manifestPath, 'utf8'), manifestPath, models);
  return { manifest, model, info: weightsInfo(manifest) };
}

export async function loadWeightsFromDir(device: GPUDevice, dir: string, options: NodeLoadOptions = {}): Promise<NodeLoadResult> {
  const { manifest, model, info } = readWeightsManifest(dir, options.models);
  for (const s of manifest.shards) {
    const path = join(dir, s.file);
    if (!existsSync(path)) throw new Error(`${path}: missing (manifest.json lists it); convert the weights again`);
    const size = statSync(path).size;
    if (size !== s.bytes) throw new Error(`${path}: ${size} bytes, manifest.json says ${s.bytes} (truncated or altered); convert the weights again`);
  }
  const t0 = performance.now();
  const weights = await streamShardsToGpu(
    device,
    manifest,
    model,
    dir,
    (shard) => createReadStream(join(dir, shard.file), { highWaterMark: 4 << 20 }) as AsyncIterable<Buffer>,
    () => {
      const h = createHash('sha256');
      return { update: (c) => h.update(c), digest: async () => h.digest('hex') };
    },
    options,
  );
  return { weights, info, seconds: (performance.now() - t0) / 1000, bytes: weights.bytes };
}
