// Browser: load a converted weights directory served over HTTP into GPU buffers, keeping the shards in
// Cache Storage so that a reload reads them from disk instead of the network.
//
// Where the time goes (scripts/benchWeights.ts --parts: headless Chromium, SwiftShader, 2 cores, VGG16
// from localhost): a body reads at 150–170 MB/s from the network and 150–240 MB/s from Cache Storage,
// SHA-256 runs at 380–530 MB/s, a Cache Storage write at 110–150 MB/s but 60 MB/s as a tee of the
// network stream, writeBuffer at 500–650 MB/s, buffers mapped at creation at 100–300 MB/s. So each
// shard is read once into one buffer of the manifest's size, hashed in place (crypto.subtle has no
// streaming digest), uploaded with writeBuffer and written to the cache from those same bytes, only
// after its sha256 matched; cached shards are hashed again on every load (see verifyCached).
import { MODELS, type ModelSpec } from '../../engine/model.js';
import { MANIFEST_FILE, parseManifest, type WeightsManifest } from '../../engine/weights/format.js';
import { ShardUploader, type GpuWeights, type LoadProgress } from '../../engine/weights/gpuWeights.js';

// v2: entries are written only after their sha256 matched (v1 wrote them while hashing and deleted
// them on a mismatch, so a tab closed in between could leave a bad one); v1 is deleted on first use.
export const WEIGHTS_CACHE = 'gradcam-webgpu-weights-v2';
const OLD_CACHES = ['gradcam-webgpu-weights-v1'];

export interface BrowserLoadProgress extends LoadProgress {
  /** Shards served from Cache Storage so far. */
  cachedShards: number;
}

export interface BrowserLoadOptions {
  /** Check each shard's sha256 against the manifest (default true); unchecked shards are not cached. */
  verify?: boolean;
  /** Use Cache Storage when the page has it (default true). */
  cache?: boolean;
  /**
   * Hash shards read from Cache Storage too (default true, with `verify`). An entry is only written
   * after its bytes matched the sha256 its key names, and Chromium's Cache Storage checks its own
   * checksum on read (a byte flipped on disk fails the read: test/browser-weights.test.ts), but an
   * entry replaced through the Cache API itself (another script of the origin, an extension, a bug)
   * carries a valid checksum over the wrong bytes, and only the sha256 catches it. A damaged entry is
   * dropped and the shard fetched again (BrowserLoadResult.damaged names it). Costs the SHA-256 of the
   * weights on every reload (BrowserLoadTimings.sha256; see the header for the rate). The length is
   * always checked.
   */
  verifyCached?: boolean;
  /**
   * The manifest as fetchWeightsManifest() returned it, to load without asking the server again
   * (e.g. a page reopening its weights on a new device, offline: every shard from Cache Storage).
   */
  manifest?: FetchedManifest;
  /**
   * Shards fetched at once (default 2). Measured neutral on a 2-core machine loading from localhost
   * (every step there competes for the same CPUs); it hides each request's latency on a real network.
   */
  concurrency?: number;
  onProgress?: (p: BrowserLoadProgress) => void;
  models?: Readonly<Record<string, ModelSpec>>;
}

/** Seconds spent in each step, summed over shards (steps of shards in flight overlap). */
export interface BrowserLoadTimings {
  network: number;
  cacheRead: number;
  sha256: number;
  upload: number;
  cacheWrite: number;
}

export interface BrowserLoadResult {
  weights: GpuWeights;
  seconds: number;
  bytes: number;
  cachedShards: number;
  /** manifest.source, e.g. { synthetic: true, seed } for random weights. */
  source: Record<string, unknown>;
  timings: BrowserLoadTimings;
  /** The manifest's shard count. */
  shards: number;
  /** Cache Storage entries that failed their check, were dropped and fetched again. */
  damaged: DamagedShard[];
}

export interface DamagedShard {
  /** The shard's file name (manifest.shards[i].file). */
  file: string;
  /** What was wrong, e.g. 'sha256 …, expected …'. */
  reason: string;
}

/** A parsed, checked manifest with the model it names and the directory it came from. */
export interface FetchedManifest {
  manifest: WeightsManifest;
  model: ModelSpec;
  /** The weights directory, ending in '/'. */
  baseUrl: string;
}

/** A model directory as the weights server's index.json lists it (see scripts/lib/serveWeights.ts). */
export interface ServedModel {
  /** The manifest's URL relative to the index, e.g. 'vgg16/manifest.json'. */
  manifest: string;
  /** manifest.model. */
  model?: string;
  /** Sum of the shards' sizes. */
  bytes?: number;
  shards?: number;
  /** Seeded random weights (`npm run weights -- --synthetic`). */
  synthetic?: boolean;
}

export interface WeightsIndex {
  models: Record<string, ServedModel>;
}

export const WEIGHTS_INDEX_FILE = 'index.json';

const directoryUrl = (url: string) => new URL(url.endsWith('/') ? url : `${url}/`, location.href);

/**
 * Whether the weights directory `baseUrl` (as given to loadWeightsFromUrl, e.g. 'weights/vgg16/') is
 * served, asked of the index one level up ('weights/index.json'), which the demo's server always
 * answers with what it has, so that missing weights cost no failed request (browsers log every 404 as
 * a console error). Returns the directory's entry (with `manifestUrl`) when the index lists it, `null`
 * when the index exists and does not list it, and `undefined` when there is no index (another static
 * server): then only loading the manifest can tell.
 */
export async function servedWeights(baseUrl: string): Promise<(ServedModel & { manifestUrl: string }) | null | undefined> {
  const dir = directoryUrl(baseUrl);
  const name = decodeURIComponent(dir.pathname.split('/').filter(Boolean).pop() ?? '');
  const indexUrl = new URL(`../${WEIGHTS_INDEX_FILE}`, dir);
  let index: Partial<WeightsIndex>;
  try {
    const r = await fetch(indexUrl, { cache: 'no-cache' });
    // A server without the route may answer with its HTML fallback page: not an index.
    if (!r.ok || !/json/.test(r.headers.get('Content-Type') ?? '')) return undefined;
    index = (await r.json()) as Partial<WeightsIndex>;
  } catch {
    return undefined;
  }
  if (typeof index?.models !== 'object' || index.models === null) return undefined;
  const entry = Object.hasOwn(index.models, name) ? index.models[name] : undefined;
  if (!entry) return null;
  return { ...entry, manifestUrl: new URL(entry.manifest ?? `${name}/${MANIFEST_FILE}`, indexUrl).href };
}

const hex = (d: ArrayBuffer) => [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');

/** Reads a body into `into` (the manifest's size for the shard), checking that it is exactly that long. */
async function readInto(
  body: ReadableStream<Uint8Array> | null,
  into: Uint8Array<ArrayBuffer>,
  url: string,
  onChunk: (bytes: number) => void,
  stopped: () => boolean,
): Promise<void> {
  if (!body) throw new Error(`${url}: empty response; the weights directory is incomplete, convert it again`);
  const reader = body.getReader();
  let filled = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (stopped()) throw new Error('stopped');
      if (filled + value.length > into.length)
        throw new Error(`${url}: longer than the ${into.length} bytes manifest.json gives it; convert the weights again`);
      into.set(value, filled);
      filled += value.length;
      onChunk(value.length);
    }
  } catch (e) {
    await reader.cancel().catch(() => undefined);
    throw e;
  }
  if (filled !== into.length)
    throw new Error(`${url}: ${filled} bytes, manifest.json says ${into.length} (truncated?); download or convert the weights again`);
}

async function openCache(): Promise<Cache | undefined> {
  try {
    await Promise.all(OLD_CACHES.map((name) => caches.delete(name)));
    return await caches.open(WEIGHTS_CACHE);
  } catch {
    return undefined; // e.g. storage disabled: load from the network every time
  }
}

/**
 * Fetches and checks `baseUrl`'s manifest.json (revalidated: a re-conversion changes it). A model
 * outside `models` (default VGG16, VGG19) is taken from the manifest's `modelSpec` (engine/weights/modelSpec.ts).
 */
export async function fetchWeightsManifest(baseUrl: string, models: Readonly<Record<string, ModelSpec>> = MODELS): Promise<FetchedManifest> {
  const base = directoryUrl(baseUrl);
  const manifestUrl = new URL(MANIFEST_FILE, base).href;
  const response = await fetch(manifestUrl, { cache: 'no-cache' });
  if (!response.ok)
    throw new Error(`${manifestUrl}: HTTP ${response.status}; no converted weights there. Run 'npm run weights' (or 'npm run weights -- --synthetic') and reload`);
  return { ...parseManifest(await response.text(), manifestUrl, models), baseUrl: base.href };
}

/** `baseUrl` is the directory holding manifest.json, e.g. '/weights/vgg16/'. */
export async function loadWeightsFromUrl(device: GPUDevice, baseUrl: string, options: BrowserLoadOptions = {}): Promise<BrowserLoadResult> {
  const base = directoryUrl(baseUrl);
  if (options.manifest && options.manifest.baseUrl !== base.href)
    throw new Error(`loadWeightsFromUrl: options.manifest is ${options.manifest.baseUrl}'s, not ${base.href}'s; pass the manifest fetchWeightsManifest() returned for this directory`);
  const { manifest, model } = options.manifest ?? (await fetchWeightsManifest(baseUrl, options.models));
  const cache = options.cache !== false && typeof caches !== 'undefined' ? await openCache() : undefined;
  const t0 = performance.now();
  const uploader = new ShardUploader(device, manifest, model, base.href.replace(/\/$/, ''));
  const loading = new ShardLoads(manifest, base, cache, uploader, options);
  let weights: GpuWeights;
  try {
    await loading.run(Math.max(1, options.concurrency ?? 2));
    weights = uploader.finish();
  } catch (e) {
    await loading.cacheWrites();
    uploader.destroy();
    throw e;
  }
  // Only shards that passed their sha256 were written; waiting for the writes makes a reload right
  // after this resolves find them all (and keeps them from competing with what the page does next).
  await loading.cacheWrites();
  const bytes = manifest.shards.reduce((n, s) => n + s.bytes, 0);
  return {
    weights,
    seconds: (performance.now() - t0) / 1000,
    bytes,
    cachedShards: loading.cachedShards,
    source: manifest.source ?? {},
    timings: loading.timings,
    shards: manifest.shards.length,
    damaged: loading.damaged,
  };
}

/** The shards of one load: each read (cache or network), checked, uploaded and cached once. */
class ShardLoads {
  cachedShards = 0;
  readonly damaged: DamagedShard[] = [];
  readonly timings: BrowserLoadTimings = { network: 0, cacheRead: 0, sha256: 0, upload: 0, cacheWrite: 0 };
  private loadedBytes = 0;
  private readonly totalBytes: number;
  private readonly verify: boolean;
  private readonly abort = new AbortController();
  private failure: unknown;
  private readonly writes: Promise<void>[] = [];

  constructor(
    private readonly manifest: WeightsManifest,
    private readonly base: URL,
    private readonly cache: Cache | undefined,
    private readonly uploader: ShardUploader,
    private readonly options: BrowserLoadOptions,
  ) {
    this.totalBytes = manifest.shards.reduce((n, s) => n + s.bytes, 0);
    this.verify = options.verify ?? true;
  }

  /** Loads every shard, `concurrency` at a time; the first failure stops the others and is thrown. */
  async run(concurrency: number): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < this.manifest.shards.length && this.failure === undefined) {
        const i = next++;
        try {
          await this.load(i);
        } catch (e) {
          if (this.failure === undefined) this.failure = e;
          this.abort.abort();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, this.manifest.shards.length) }, worker));
    if (this.failure !== undefined) throw this.failure;
  }

  async cacheWrites(): Promise<void> {
    await Promise.all(this.writes);
  }

  private progress(shard: number, bytes: number): void {
    this.loadedBytes += bytes;
    this.options.onProgress?.({ loadedBytes: this.loadedBytes, totalBytes: this.totalBytes, shard, shards: this.manifest.shards.length, cachedShards: this.cachedShards });
  }

  private async sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
    const t = performance.now();
    const sha = hex(await crypto.subtle.digest('SHA-256', bytes));
    this.timings.sha256 += (performance.now() - t) / 1000;
    return sha;
  }

  private async load(i: number): Promise<void> {
    const shard = this.manifest.shards[i];
    const url = new URL(shard.file, this.base).href;
    // The sha256 in the key makes a re-converted shard a new entry, never a stale hit; and an entry is
    // only ever written after its bytes matched that sha256 (below), so the key vouches for it.
    const key = `${url}?sha256=${shard.sha256}`;
    const bytes = new Uint8Array(shard.bytes);
    const stopped = () => this.failure !== undefined;

    // A lookup that fails (storage trouble) is a miss: the network has the shard.
    const hit = this.cache ? await this.cache.match(key).catch(() => undefined) : undefined;
    if (hit) {
      let t = performance.now();
      let read = 0;
      let damaged: string | undefined;
      try {
        await readInto(hit.body, bytes, `${url} (cached)`, (n) => ((read += n), this.progress(i, n)), stopped);
      } catch (e) {
        if (stopped()) throw e;
        damaged = e instanceof Error ? e.message : String(e);
      }
      this.timings.cacheRead += (performance.now() - t) / 1000;
      if (damaged === undefined && this.verify && (this.options.verifyCached ?? true)) {
        const sha = await this.sha256(bytes);
        if (sha !== shard.sha256) damaged = `sha256 ${sha}, expected ${shard.sha256}`;
      }
      if (damaged === undefined) {
        this.cachedShards++;
        t = performance.now();
        this.uploader.write(i, bytes);
        this.timings.upload += (performance.now() - t) / 1000;
        return;
      }
      // A damaged cache entry is dropped and the shard fetched again: the cache is never the only copy.
      console.warn(`${url}: the copy in Cache Storage is damaged (${damaged}); fetching it again`);
      this.damaged.push({ file: shard.file, reason: damaged });
      await this.cache!.delete(key).catch(() => false);
      this.progress(i, -read);
    }

    let t = performance.now();
    // The page's own Cache Storage keeps the shard: the HTTP cache would store a second copy (reading
    // measured 1.4–3× slower with it).
    const r = await fetch(url, { cache: this.cache && this.verify ? 'no-store' : 'default', signal: this.abort.signal }).catch((e: unknown) => {
      if (stopped()) throw e;
      throw new Error(`${url}: ${e instanceof Error ? e.message : String(e)}; check that the server is up and reload`);
    });
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}; the weights directory is incomplete, convert it again`);
    await readInto(r.body, bytes, url, (n) => this.progress(i, n), stopped);
    this.timings.network += (performance.now() - t) / 1000;
    if (this.verify) {
      const sha = await this.sha256(bytes);
      if (sha !== shard.sha256)
        throw new Error(`${url}: sha256 ${sha} does not match manifest.json (${shard.sha256}): the file was altered or damaged; download or convert the weights again`);
    }
    if (stopped()) return;
    t = performance.now();
    this.uploader.write(i, bytes);
    this.timings.upload += (performance.now() - t) / 1000;
    if (this.cache && this.verify) {
      // Written from the bytes just checked, not from a tee of the network stream (which buffered
      // and copied every chunk twice): a shard that failed its sha256 never reaches the cache.
      const cache = this.cache;
      const started = performance.now();
      this.writes.push(
        cache
          .put(key, new Response(bytes, { headers: { 'Content-Type': 'application/octet-stream' } }))
          // The cache is an optimisation: a full quota only costs the next visit a download.
          .catch(() => undefined)
          .finally(() => (this.timings.cacheWrite += (performance.now() - started) / 1000)),
      );
    }
  }
}
