// The converted weights format (one directory):
//   manifest.json   what is below, format version, model, and a sha256 per shard
//   shard-000.bin…  the float32 little-endian tensors, in manifest order, concatenated and cut into
//                   shards of at most SHARD_BYTES; a tensor may continue into the next shard.
// Why 64 MiB shards: few enough requests (9 for VGG16) to keep per-request overhead negligible, small
// enough to stream with a steady progress bar, to hash one shard in memory in the browser
// (crypto.subtle has no streaming digest), to sit well below static hosts' per-file limits (GitHub
// Pages: 100 MB), and to make Cache Storage entries that survive an interrupted first load.
import { manifestModel, MODEL_SPEC_FIELD } from './modelSpec.js';
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
  /** The layer list of a model that is not built in (modelSpec.ts), for loaders not told about it. */
  modelSpec?: ModelSpec;
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

/** A value read from a file, for a one-line error message: as JSON, line breaks escaped, at most `max` characters. */
export function quoteValue(v: unknown, max = 60): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  s = s.replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses and checks a manifest against the model it names; errors name the file and the field. What
 * the loaders rely on is checked here: shard sizes that add up exactly, and one entry per tensor of the
 * model, of its size, inside the shards, none overlapping another.
 */
export function parseManifest(
  text: string,
  where: string,
  models: Readonly<Record<string, ModelSpec>> = MODELS,
): { manifest: WeightsManifest; model: ModelSpec } {
  const again = "convert the weights again with 'npm run convert'";
  let m: WeightsManifest;
  try {
    m = JSON.parse(text) as WeightsManifest;
  } catch (e) {
    // V8 quotes the text around the error, line breaks and control characters included.
    const why = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
    throw new Error(`${where}: not valid JSON (${why.length > 160 ? `${why.slice(0, 159)}…` : why}); ${again}`);
  }
  const bad = (field: string, why: string) => new Error(`${where}: field '${field}' ${why}; ${again}`);
  if (!isRecord(m)) throw new Error(`${where}: holds ${quoteValue(m, 30)}, not a manifest object; ${again}`);
  if (m.format !== WEIGHTS_FORMAT) throw bad('format', `is ${quoteValue(m.format)}, expected "${WEIGHTS_FORMAT}"`);
  if (m.formatVersion !== WEIGHTS_FORMAT_VERSION)
    throw bad('formatVersion', `is ${quoteValue(m.formatVersion)}; this version of gradcam-webgpu reads version ${WEIGHTS_FORMAT_VERSION}`);
  const model = manifestModel(m, where, models);
  if (!model)
    throw bad('model', `is ${quoteValue(m.model)}; known models: ${Object.keys(models).join(', ')} (or give the model's layer list as '${MODEL_SPEC_FIELD}')`);
  if (!Array.isArray(m.shards) || m.shards.length === 0) throw bad('shards', 'is missing or empty');
  let total = 0;
  m.shards.forEach((s: unknown, i) => {
    if (!isRecord(s)) throw bad(`shards[${i}]`, `is ${quoteValue(s)}, not an object`);
    if (typeof s.file !== 'string' || !/^[\w.-]+$/.test(s.file) || /^\.+$/.test(s.file)) throw bad(`shards[${i}].file`, 'must be a plain file name');
    if (!Number.isSafeInteger(s.bytes) || (s.bytes as number) <= 0) throw bad(`shards[${i}].bytes`, 'must be a positive integer');
    if (typeof s.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(s.sha256)) throw bad(`shards[${i}].sha256`, 'must be 64 hex digits');
    total += s.bytes as number;
  });
  if (!Number.isSafeInteger(total)) throw bad('shards', `add up to ${total} bytes, more than any model`);
  if (new Set(m.shards.map((s) => s.file)).size !== m.shards.length) throw bad('shards', 'name the same file twice');
  const expected = layoutManifest(model);
  if (!Array.isArray(m.tensors)) throw bad('tensors', 'is missing or not a list');
  const byName = new Map<string, TensorEntry>();
  m.tensors.forEach((t: unknown, i) => {
    if (!isRecord(t) || typeof t.name !== 'string') throw bad(`tensors[${i}]`, `is ${quoteValue(t)}, not an object with a name`);
    if (byName.has(t.name)) throw bad(`tensors[${i}]`, `names ${quoteValue(t.name)} a second time`);
    byName.set(t.name, t as unknown as TensorEntry);
  });
  for (const e of expected.tensors) {
    const t = byName.get(e.name);
    const field = `tensors['${e.name}']`;
    if (!t) throw bad('tensors', `has no entry for '${e.name}' (${model.name} needs it)`);
    if (t.dtype !== 'float32') throw bad(`${field}.dtype`, `is ${quoteValue(t.dtype)}, expected "float32"`);
    if (JSON.stringify(t.shape) !== JSON.stringify(e.shape)) throw bad(`${field}.shape`, `is ${quoteValue(t.shape)}, ${model.name} needs [${e.shape}]`);
    if (t.bytes !== e.bytes || !Number.isSafeInteger(t.offset) || t.offset < 0 || t.offset + t.bytes > total || t.offset % 4 !== 0)
      throw bad(field, `has offset ${quoteValue(t.offset)} / bytes ${quoteValue(t.bytes)} outside the ${total} bytes of its shards`);
  }
  if (byName.size !== expected.tensors.length) {
    const extra = [...byName.keys()].find((n) => !expected.tensors.some((e) => e.name === n));
    throw bad('tensors', `has ${byName.size} entries, ${model.name} has ${expected.tensors.length}${extra !== undefined ? ` (${quoteValue(extra)} is not one of its tensors)` : ''}`);
  }
  const sorted = [...m.tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i].offset < sorted[i - 1].offset + sorted[i - 1].bytes)
      throw bad(`tensors['${sorted[i].name}']`, `overlaps '${sorted[i - 1].name}' (offset ${sorted[i].offset} < ${sorted[i - 1].offset} + ${sorted[i - 1].bytes})`);
  return { manifest: m, model };
}
