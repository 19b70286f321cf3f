// Where the browser's weight loading spends its time. Steps (?run=a,b,…):
//   first          the loader with an empty Cache Storage (a first visit)
//   reload         the loader again, from Cache Storage, without hashing cached shards (verifyCached false)
//   reload-verify  the same with verifyCached (the default): what hashing cached shards again costs
//   parts          each step alone over the same shards, the old way and the new: the body read from
//                  the network (with and without the HTTP cache), SHA-256 (after the old concatenation),
//                  Cache Storage writes (the old tee, and from bytes) and reads, GPU upload (the old
//                  buffers mapped at creation, and 8 MiB writeBuffer pieces)
// Driven by scripts/benchWeights.ts, which serves the weights and prints window.__weightsBench.
import { requestBrowserDevice } from '../../src/hosts/browser/device.js';
import { loadWeightsFromUrl, WEIGHTS_CACHE } from '../../src/hosts/browser/weights.js';
import { MANIFEST_FILE, parseManifest, type WeightsManifest } from '../../src/engine/weights/format.js';

export interface BenchStep {
  name: string;
  seconds: number;
  mbPerSecond: number;
  /** Step-specific numbers (chunk counts, per-step loader times). */
  detail?: Record<string, number | string>;
}

export interface WeightsBenchResult {
  done: boolean;
  error?: string;
  bytes: number;
  shards: number;
  steps: BenchStep[];
}

declare global {
  interface Window {
    __weightsBench: WeightsBenchResult;
  }
}

const params = new URLSearchParams(location.search);
const base = new URL(params.get('base') ?? '/weights/vgg16/', location.href);
const run = (params.get('run') ?? 'first,reload').split(',');
const concurrency = params.has('concurrency') ? Number(params.get('concurrency')) : undefined;
const result: WeightsBenchResult = { done: false, bytes: 0, shards: 0, steps: [] };
window.__weightsBench = result;

const now = () => performance.now() / 1000;
function step(name: string, seconds: number, bytes: number, detail?: BenchStep['detail']): void {
  result.steps.push({ name, seconds, mbPerSecond: bytes / 1e6 / seconds, detail });
  document.getElementById('summary')!.textContent = `${name}: ${seconds.toFixed(2)} s`;
}

async function readAll(body: ReadableStream<Uint8Array>, into?: Uint8Array): Promise<number> {
  const reader = body.getReader();
  let chunks = 0;
  for (let filled = 0; ; chunks++) {
    const { done, value } = await reader.read();
    if (done) return chunks;
    into?.set(value, filled);
    filled += value.length;
  }
}

async function parts(device: GPUDevice, manifest: WeightsManifest, urls: string[], total: number): Promise<void> {
  let t0 = now();
  let chunks = 0;
  for (const url of urls) chunks += await readAll((await fetch(url, { cache: 'no-store' })).body!);
  step('network: read body (no HTTP cache), drop chunks', now() - t0, total, { kBPerChunk: Math.round(total / chunks / 1024) });
  t0 = now();
  for (const url of urls) await readAll((await fetch(url, { cache: 'reload' })).body!);
  step('network: read body, storing into the HTTP cache', now() - t0, total);
  const shards: Uint8Array<ArrayBuffer>[] = [];
  t0 = now();
  for (const [i, url] of urls.entries()) {
    const into = new Uint8Array(manifest.shards[i].bytes);
    await readAll((await fetch(url, { cache: 'no-store' })).body!, into);
    shards.push(into);
  }
  step('network: read body into one buffer per shard', now() - t0, total);

  let concat = 0;
  let hash = 0;
  for (const b of shards) {
    const pieces: Uint8Array[] = [];
    for (let o = 0; o < b.length; o += 512 << 10) pieces.push(b.slice(o, o + (512 << 10)));
    const t1 = now();
    const all = new Uint8Array(b.length);
    let o = 0;
    for (const p of pieces) {
      all.set(p, o);
      o += p.length;
    }
    const t2 = now();
    await crypto.subtle.digest('SHA-256', all);
    concat += t2 - t1;
    hash += now() - t2;
  }
  step('old: concatenate chunks before hashing', concat, total);
  step('crypto.subtle.digest SHA-256', hash, total);

  await caches.delete('weights-bench');
  let cache = await caches.open('weights-bench');
  t0 = now();
  for (const url of urls) {
    const r = await fetch(url, { cache: 'no-store' });
    const put = cache.put(url, r.clone());
    await readAll(r.body!);
    await put;
  }
  step('old: network + cache.put(r.clone()) (a tee)', now() - t0, total);
  await caches.delete('weights-bench');
  cache = await caches.open('weights-bench');
  t0 = now();
  for (const [i, url] of urls.entries()) await cache.put(url, new Response(shards[i]));
  step('cache.put(new Response(bytes))', now() - t0, total);
  t0 = now();
  chunks = 0;
  for (const [i, url] of urls.entries()) chunks += await readAll((await cache.match(url))!.body!, new Uint8Array(manifest.shards[i].bytes));
  step('cache.match: read body into one buffer per shard', now() - t0, total, { kBPerChunk: Math.round(total / chunks / 1024) });
  await caches.delete('weights-bench');

  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const starts = manifest.shards.map((_, i) => manifest.shards.slice(0, i).reduce((n, s) => n + s.bytes, 0));
  const slices = (t: WeightsManifest['tensors'][number]) =>
    shards.flatMap((b, i) => {
      const from = Math.max(starts[i], t.offset);
      const to = Math.min(starts[i] + b.length, t.offset + t.bytes);
      return from < to ? [{ at: from - t.offset, bytes: b.subarray(from - starts[i], to - starts[i]) }] : [];
    });
  t0 = now();
  let buffers = manifest.tensors.map((t) => {
    const buffer = device.createBuffer({ size: t.bytes, usage, mappedAtCreation: true });
    const mapped = new Uint8Array(buffer.getMappedRange());
    for (const s of slices(t)) mapped.set(s.bytes, s.at);
    buffer.unmap();
    return buffer;
  });
  await device.queue.onSubmittedWorkDone();
  step('old: GPU buffers mapped at creation', now() - t0, total);
  for (const b of buffers) b.destroy();
  t0 = now();
  buffers = manifest.tensors.map((t) => {
    const buffer = device.createBuffer({ size: t.bytes, usage });
    for (const s of slices(t)) {
      for (let o = 0; o < s.bytes.length; o += 8 << 20) device.queue.writeBuffer(buffer, s.at + o, s.bytes, o, Math.min(8 << 20, s.bytes.length - o));
    }
    return buffer;
  });
  await device.queue.onSubmittedWorkDone();
  step('GPU: queue.writeBuffer, 8 MiB pieces', now() - t0, total);
  for (const b of buffers) b.destroy();
}

try {
  const manifestUrl = new URL(MANIFEST_FILE, base).href;
  const { manifest, model } = parseManifest(await (await fetch(manifestUrl, { cache: 'no-store' })).text(), manifestUrl);
  const total = manifest.shards.reduce((n, s) => n + s.bytes, 0);
  result.bytes = total;
  result.shards = manifest.shards.length;
  const device = await requestBrowserDevice(model);
  for (const what of run) {
    if (what === 'parts') {
      await parts(device, manifest, manifest.shards.map((s) => new URL(s.file, base).href), total);
      continue;
    }
    if (!['first', 'reload', 'reload-verify'].includes(what)) throw new Error(`unknown step '${what}'`);
    if (what === 'first') await caches.delete(WEIGHTS_CACHE);
    let progressEvents = 0;
    const t0 = now();
    const r = await loadWeightsFromUrl(device, base.href, { onProgress: () => progressEvents++, concurrency, verifyCached: what !== 'reload' });
    // The uploads are queued: the weights are usable once the GPU has them.
    await device.queue.onSubmittedWorkDone();
    const detail: Record<string, number | string> = { cachedShards: r.cachedShards, progressEvents };
    for (const [k, v] of Object.entries(r.timings)) detail[k] = Number(v.toFixed(2));
    step(`loader: ${what}`, now() - t0, total, detail);
    r.weights.destroy();
  }
  device.destroy();
} catch (e) {
  result.error = e instanceof Error ? (e.stack ?? e.message) : String(e);
} finally {
  document.getElementById('summary')!.textContent = result.error ?? 'done';
  result.done = true;
}
