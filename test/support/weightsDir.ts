// A converted weights directory written straight from tensors in memory, laid out by the format's own
// layoutManifest (what the converter uses), for tests that need one in a second and no Keras file.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelSpec } from '../../src/engine/model.js';
import { layoutManifest, MANIFEST_FILE, type WeightsManifest } from '../../src/engine/weights/format.js';

/** Writes `dir`/manifest.json and its shards; `extra` adds top-level manifest fields (e.g. modelSpec). */
export function writeWeightsDir(
  dir: string,
  model: ModelSpec,
  weights: ReadonlyMap<string, Float32Array>,
  options: { shardBytes: number; source?: Record<string, unknown>; extra?: Record<string, unknown> },
): WeightsManifest {
  const manifest = layoutManifest(model, options.source, options.shardBytes);
  const all = new Uint8Array(manifest.tensors.reduce((n, t) => n + t.bytes, 0));
  for (const t of manifest.tensors) {
    const data = weights.get(t.name);
    if (!data || 4 * data.length !== t.bytes) throw new Error(`writeWeightsDir: tensor '${t.name}' needs ${t.bytes / 4} floats, got ${data?.length ?? 'none'}`);
    all.set(new Uint8Array(data.buffer, data.byteOffset, t.bytes), t.offset);
  }
  mkdirSync(dir, { recursive: true });
  let at = 0;
  for (const s of manifest.shards) {
    const bytes = all.subarray(at, at + s.bytes);
    s.sha256 = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(dir, s.file), bytes);
    at += s.bytes;
  }
  writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify({ ...manifest, ...options.extra }, null, 1));
  return manifest;
}
