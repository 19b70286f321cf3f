// The converted weights format (one directory):
//   manifest.json   what is below, format version, model, and a sha256 per shard
//   shard-000.bin…  the float32 little-endian tensors, in manifest order, concatenated and cut into
//                   shards of at most SHARD_BYTES; a tensor may continue into the next shard.
// Why 64 MiB shards: few enough requests (9 for VGG16) to keep per-request overhead negligible, small
// enough to stream with a steady progress bar, to hash one shard in memory in the browser
// (crypto.subtle has no streaming digest), to sit well below static hosts' per-file limits (GitHub
// Pages: 100 MB), and to make Cache Storage entries that survive an interrupted first load.
import { elementCount, MODELS, weightSpecs, type ModelSpec } from '../model.js';

export const WEIGHTS_FORMAT = 'gradcam-webgpu-weights';
export const WEIGHTS_FORMAT_VERSION = 1;
export const SHARD_BYTES = 64 * 1024 * 1024;
export const MANIFEST_FILE = 'manifest.json';

export interface ShardEntry {
  file: string;
  bytes: number;
  sha256: string;
}

export interface TensorEntry {
  /** `${layer}/kernel` or `${layer}/bias`. */
  name: string;
  layer: string;
  shape: number[];
  dtype: 'float32';
  /** Byte offset in the concatenation of all shards. */
  offset: number;
  bytes: number;
}

export interface WeightsManifest {
  format: typeof WEIGHTS_FORMAT;
  formatVersion: number;
  model: string;
  littleEndian: true;
  shards: ShardEntry[];
  tensors: TensorEntry[];
  /** Where the weights came from (file name, layout, conversions); informational. */
  source?: Record<string, unknown>;
}

/** Lays out a model's tensors back to back and cuts the stream into shards (hashes filled in later). */
export function layoutManifest(model: ModelSpec, source?: Record<string, unknown>, shardBytes = SHARD_BYTES): WeightsManifest {
  let offset = 0;
  const tensors: TensorEntry[] = weightSpecs(model).map((s) => {
    const bytes = 4 * elementCount(s.shape);
    const t: TensorEntry = { name: s.name, layer: s.layer, shape: s.shape, dtype: 'float32', offset, bytes };
    offset += bytes;
    return t;
  });
  const shards: ShardEntry[] = [];
  for (let start = 0, i = 0; start < offset; start += shardBytes, i++) {
    shards.push({ file: `shard-${String(i).padStart(3, '0')}.bin`, bytes: Math.min(shardBytes, offset - start), sha256: '' });
  }
  return { format: WEIGHTS_FORMAT, formatVersion: WEIGHTS_FORMAT_VERSION, model: model.name, littleEndian: true, shards, tensors, source };
}

/** What the weights are, from the manifest: every output made with them says so when they are random. */
export interface WeightsInfo {
  model: string;
  /** Seeded He-normal weights (`npm run weights -- --synthetic`): predictions and maps mean nothing. */
  synthetic: boolean;
  seed?: number;
}

export function weightsInfo(manifest: Pick<WeightsManifest, 'model' | 'source'>): WeightsInfo {
  const synthetic = manifest.source?.synthetic === true;
  const seed = manifest.source?.seed;
  return { model: manifest.model, synthetic, ...(synthetic && typeof seed === 'number' ? { seed } : {}) };
}

/** The one line that says the weights are random, and the documented command that replaces them. */
export function randomWeightsNotice(info: WeightsInfo, where: string): string | undefined {
  if (!info.synthetic) return undefined;
  return (
    `${where} holds RANDOM ${info.model} weights (synthetic${info.seed !== undefined ? `, seed ${info.seed}` : ''}): ` +
    `predictions and heatmaps are meaningless; run 'npm run weights -- --force' for Keras' ImageNet weights`
  );
}

/** Parses and checks a manifest against the model it names; errors name the file and the field. */
export function parseManifest(
  text: string,
  where: string,
  models: Readonly<Record<string, ModelSpec>> = MODELS,
): { manifest: WeightsManifest; model: ModelSpec } {
  let m: WeightsManifest;
  try {
    m = JSON.parse(text) as WeightsManifest;
  } catch (e) {
    throw new Error(`${where}: not valid JSON (${e instanceof Error ? e.message : e}); convert the weights again with 'npm run convert'`);
  }
  const bad = (field: string, why: string) => new Error(`${where}: field '${field}' ${why}; convert the weights again with 'npm run convert'`);
  if (m?.format !== WEIGHTS_FORMAT) throw bad('format', `is ${JSON.stringify(m?.format)}, expected "${WEIGHTS_FORMAT}"`);
  if (m.formatVersion !== WEIGHTS_FORMAT_VERSION)
    throw bad('formatVersion', `is ${m.formatVersion}; this version of gradcam-webgpu reads version ${WEIGHTS_FORMAT_VERSION}`);
  const model = models[m.model];
  if (!model) throw bad('model', `is ${JSON.stringify(m.model)}; known models: ${Object.keys(models).join(', ')}`);
  if (!Array.isArray(m.shards) || m.shards.length === 0) throw bad('shards', 'is missing or empty');
  m.shards.forEach((s, i) => {
    if (typeof s.file !== 'string' || !/^[\w.-]+$/.test(s.file)) throw bad(`shards[${i}].file`, 'must be a plain file name');
    if (!Number.isInteger(s.bytes) || s.bytes <= 0) throw bad(`shards[${i}].bytes`, 'must be a positive integer');
    if (typeof s.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(s.sha256)) throw bad(`shards[${i}].sha256`, 'must be 64 hex digits');
  });
  const expected = layoutManifest(model);
  const total = m.shards.reduce((n, s) => n + s.bytes, 0);
  const byName = new Map((m.tensors ?? []).map((t) => [t.name, t]));
  for (const e of expected.tensors) {
    const t = byName.get(e.name);
    if (!t) throw bad('tensors', `has no entry for '${e.name}' (${model.name} needs it)`);
    if (t.dtype !== 'float32') throw bad(`tensors['${e.name}'].dtype`, `is ${JSON.stringify(t.dtype)}, expected "float32"`);
    if (JSON.stringify(t.shape) !== JSON.stringify(e.shape))
      throw bad(`tensors['${e.name}'].shape`, `is [${t.shape}], ${model.name} needs [${e.shape}]`);
    if (t.bytes !== e.bytes || !Number.isInteger(t.offset) || t.offset < 0 || t.offset + t.bytes > total || t.offset % 4 !== 0)
      throw bad(`tensors['${e.name}']`, `has offset ${t.offset} / bytes ${t.bytes} outside the ${total} bytes of its shards`);
  }
  if (byName.size !== expected.tensors.length) throw bad('tensors', `has ${byName.size} entries, ${model.name} has ${expected.tensors.length}`);
  return { manifest: m, model };
}
