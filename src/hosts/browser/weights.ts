// Browser: load a converted weights directory served over HTTP into GPU buffers. Shards are kept in
// Cache Storage, so a reload reads them from disk instead of the network; each shard is hashed
// (crypto.subtle has no streaming digest, so one shard, at most 64 MiB, is held at a time).
import type { ModelSpec } from '../../engine/model.js';
import { MANIFEST_FILE, parseManifest, type ShardEntry } from '../../engine/weights/format.js';
import { streamShardsToGpu, type GpuWeights, type LoadProgress, type ShardHasher } from '../../engine/weights/gpuWeights.js';

export const WEIGHTS_CACHE = 'gradcam-webgpu-weights-v1';

export interface BrowserLoadProgress extends LoadProgress {
  /** Shards served from Cache Storage so far. */
  cachedShards: number;
}

export interface BrowserLoadOptions {
  verify?: boolean;
  /** Use Cache Storage when the page has it (default true). */
  cache?: boolean;
  onProgress?: (p: BrowserLoadProgress) => void;
  models?: Readonly<Record<string, ModelSpec>>;
}

export interface BrowserLoadResult {
  weights: GpuWeights;
  seconds: number;
  bytes: number;
  cachedShards: number;
  /** manifest.source, e.g. { synthetic: true, seed } for random weights. */
  source: Record<string, unknown>;
}

function hasher(): ShardHasher {
  const parts: Uint8Array[] = [];
  return {
    update: (c) => parts.push(c),
    async digest() {
      const total = parts.reduce((n, p) => n + p.length, 0);
      const all = new Uint8Array(total);
      let o = 0;
      for (const p of parts) {
        all.set(p, o);
        o += p.length;
      }
      parts.length = 0;
      const d = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
      return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
    },
  };
}

async function* bodyChunks(response: Response, where: string): AsyncIterable<Uint8Array> {
  if (!response.body) throw new Error(`${where}: empty response`);
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value;
  }
}

/** `baseUrl` is the directory holding manifest.json, e.g. '/weights/vgg16/'. */
export async function loadWeightsFromUrl(device: GPUDevice, baseUrl: string, options: BrowserLoadOptions = {}): Promise<BrowserLoadResult> {
  const base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`, location.href);
  const manifestUrl = new URL(MANIFEST_FILE, base).href;
  const response = await fetch(manifestUrl, { cache: 'no-cache' });
  if (!response.ok)
    throw new Error(`${manifestUrl}: HTTP ${response.status}; no converted weights there. Run 'npm run weights' (or 'npm run weights -- --synthetic') and reload`);
  const { manifest, model } = parseManifest(await response.text(), manifestUrl, options.models);
  const cache = options.cache !== false && typeof caches !== 'undefined' ? await caches.open(WEIGHTS_CACHE) : undefined;
  let cachedShards = 0;
  const t0 = performance.now();

  async function* readShard(shard: ShardEntry): AsyncIterable<Uint8Array> {
    // The sha256 in the key makes a re-converted shard a new cache entry, never a stale hit.
    const url = new URL(shard.file, base).href;
    const key = `${url}?sha256=${shard.sha256}`;
    let r = cache ? await cache.match(key) : undefined;
    if (r) {
      cachedShards++;
    } else {
      r = await fetch(url);
      if (!r.ok) throw new Error(`${url}: HTTP ${r.status}; the weights directory is incomplete, convert it again`);
      if (cache) await cache.put(key, r.clone()).catch(() => undefined);
    }
    yield* bodyChunks(r, url);
  }

  let weights: GpuWeights;
  try {
    weights = await streamShardsToGpu(device, manifest, model, base.href.replace(/\/$/, ''), readShard, hasher, {
      verify: options.verify,
      onProgress: (p) => options.onProgress?.({ ...p, cachedShards }),
    });
  } catch (e) {
    // Never keep a shard that failed its check: the next load fetches it afresh.
    if (cache) await Promise.all(manifest.shards.map((s) => cache.delete(`${new URL(s.file, base).href}?sha256=${s.sha256}`)));
    throw e;
  }
  const bytes = manifest.shards.reduce((n, s) => n + s.bytes, 0);
  return { weights, seconds: (performance.now() - t0) / 1000, bytes, cachedShards, source: manifest.source ?? {} };
}
