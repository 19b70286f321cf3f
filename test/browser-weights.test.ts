// The browser's weight loading as the demo page gets it, with small models: the weights server
// (scripts/lib/serveWeights.ts, as vite.config.ts installs it) lists what it has at
// /weights/index.json and refuses paths outside its directory; servedWeights() lets a page learn that
// weights are missing without a 404 in the console; a shard that fails its sha256 is refused, named,
// and never cached; a reload comes from Cache Storage, bit for bit, also across shard boundaries that
// cut a float; and a cache entry damaged on disk is caught and fetched again.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'puppeteer-core';
import { createServer, preview, type PreviewServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveWeights } from '../scripts/lib/serveWeights.js';
import { convertKerasH5, type ConvertResult } from '../src/hosts/node/keras/convert.js';
import { writeSyntheticKerasH5 } from '../src/hosts/node/keras/syntheticH5.js';
import type { WeightsIndex } from '../src/hosts/browser/weights.js';
import type { WeightsPageResult } from './browser/weights.page.js';
import { collectErrors, launchChromium, PROJECT_ROOT } from './support/chromium.js';
import { TINY_VGG } from './support/tinyVgg.js';

const dir = mkdtempSync(join(tmpdir(), 'gradcam-browser-weights-'));
const weightsDir = join(dir, 'weights');
const servers: { close(): Promise<void> }[] = [];
let weights: Map<string, Float32Array>;
let tiny: ConvertResult;
let odd: ConvertResult;
let url: string;
let emptyUrl: string;
let browser: Browser;

async function devServer(weightsRoot: string): Promise<string> {
  // The test pages come from the project tree; /weights/ from the plugin the demo page's config uses.
  const server: ViteDevServer = await createServer({
    root: PROJECT_ROOT,
    configFile: false,
    logLevel: 'error',
    plugins: [serveWeights(weightsRoot)],
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null },
  });
  await server.listen();
  servers.push(server);
  return server.resolvedUrls!.local[0];
}

beforeAll(async () => {
  const h5 = join(dir, 'tiny.h5');
  weights = await writeSyntheticKerasH5(h5, TINY_VGG, { seed: 33 });
  tiny = await convertKerasH5(h5, join(weightsDir, 'tinyvgg'), { models: [TINY_VGG], shardBytes: 8192, sourceExtra: { synthetic: true, seed: 33 } });
  // Shard sizes that are not a multiple of 4: boundaries cut floats in two.
  odd = await convertKerasH5(h5, join(weightsDir, 'tinyvgg-odd'), { models: [TINY_VGG], shardBytes: 6001 });
  // The same manifest over a damaged shard (one byte flipped in the middle of shard 2).
  const bad = join(weightsDir, 'tinyvgg-bad');
  mkdirSync(bad);
  for (const f of readdirSync(join(weightsDir, 'tinyvgg'))) copyFileSync(join(weightsDir, 'tinyvgg', f), join(bad, f));
  const shard = join(bad, tiny.manifest.shards[2].file);
  const bytes = readFileSync(shard);
  bytes[bytes.length >> 1] ^= 0x40;
  writeFileSync(shard, bytes);
  // The same shards for a model the loader is not told about, described by the manifest's modelSpec;
  // and with a modelSpec that is wrong in one field.
  for (const [name, spec] of [
    ['tinyvgg-spec', TINY_VGG],
    ['tinyvgg-badspec', { ...TINY_VGG, layers: TINY_VGG.layers.map((l, i) => (i === 2 ? { ...l, filters: 0 } : l)) }],
  ] as const) {
    mkdirSync(join(weightsDir, name));
    for (const f of readdirSync(join(weightsDir, 'tinyvgg'))) copyFileSync(join(weightsDir, 'tinyvgg', f), join(weightsDir, name, f));
    writeFileSync(join(weightsDir, name, 'manifest.json'), JSON.stringify({ ...tiny.manifest, modelSpec: spec }));
  }
  url = await devServer(weightsDir);
  emptyUrl = await devServer(join(dir, 'no-such-dir'));
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function weightsPage(base: string, query: string, b: Browser = browser): Promise<{ r: WeightsPageResult; errors: string[]; warnings: string[] }> {
  const page = await b.newPage();
  const errors = collectErrors(page);
  const warnings: string[] = [];
  page.on('console', (m) => void (m.type() === 'warn' && warnings.push(m.text())));
  await page.goto(new URL(`test/browser/weights.html?${query}`, base).href);
  await page.waitForFunction(() => window.__weightsResult?.done === true, { timeout: 60_000 });
  const r = (await page.evaluate(() => window.__weightsResult)) as WeightsPageResult;
  await page.close();
  return { r, errors, warnings };
}

const bits = (data: Float32Array) => [...new Uint32Array(data.buffer, data.byteOffset, data.length)];

describe('weights server (vite.config.ts)', () => {
  let server: PreviewServer | undefined;
  const get = (path: string) => fetch(new URL(path, server!.resolvedUrls!.local[0]));

  afterAll(() => new Promise<void>((r) => (server ? server.httpServer.close(() => r()) : r())));

  it('lists the models at /weights/index.json, serves their files, refuses paths outside', async () => {
    process.env.GRADCAM_WEIGHTS_DIR = weightsDir;
    // The preview server with the page's own config (no build needed for the /weights/ route).
    server = await preview({ configFile: join(PROJECT_ROOT, 'vite.config.ts'), logLevel: 'warn', build: { outDir: join(dir, 'dist') }, preview: { port: 0, strictPort: false } });
    const r = await get('/weights/index.json');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/json/);
    const index = (await r.json()) as WeightsIndex;
    expect(Object.keys(index.models)).toEqual(['tinyvgg', 'tinyvgg-bad', 'tinyvgg-badspec', 'tinyvgg-odd', 'tinyvgg-spec']);
    expect(index.models.tinyvgg).toEqual({ manifest: 'tinyvgg/manifest.json', model: 'tinyvgg', bytes: tiny.bytes, shards: tiny.manifest.shards.length, synthetic: true });
    expect(index.models['tinyvgg-odd']).toMatchObject({ bytes: odd.bytes, synthetic: false });
    const shard = await get(`/weights/tinyvgg/${tiny.manifest.shards[0].file}`);
    expect(shard.status).toBe(200);
    expect(Buffer.from(await shard.arrayBuffer())).toEqual(readFileSync(join(weightsDir, 'tinyvgg', tiny.manifest.shards[0].file)));
    writeFileSync(join(dir, 'secret.txt'), 'outside');
    for (const p of ['/weights/../secret.txt', '/weights/%2e%2e/secret.txt', '/weights/tinyvgg/%2e%2e/%2e%2e/secret.txt', '/weights/nothing.bin', '/weights/tinyvgg/'])
      expect((await get(p)).status, p).toBe(404);
  });

  it('answers {"models":{}} when the directory is missing', async () => {
    await new Promise<void>((r) => server!.httpServer.close(() => r()));
    process.env.GRADCAM_WEIGHTS_DIR = join(dir, 'no-such-dir');
    server = await preview({ configFile: join(PROJECT_ROOT, 'vite.config.ts'), logLevel: 'warn', build: { outDir: join(dir, 'dist') }, preview: { port: 0, strictPort: false } });
    const r = await get('/weights/index.json');
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ models: {} });
  });
});

describe('browser weights loader in headless Chromium', () => {
  it('servedWeights finds a listed model; a load fetches, a reload comes from Cache Storage, bit for bit', async () => {
    const { r, errors } = await weightsPage(url, 'dir=/weights/tinyvgg/&served=1');
    expect(r.error).toBeUndefined();
    expect(JSON.parse(r.served!)).toMatchObject({ manifest: 'tinyvgg/manifest.json', bytes: tiny.bytes, synthetic: true, manifestUrl: new URL('/weights/tinyvgg/manifest.json', url).href });
    const shards = tiny.manifest.shards.length;
    expect(r.loads).toEqual([
      { cachedShards: 0, bytes: tiny.bytes, progressEvents: expect.any(Number), damaged: [] },
      { cachedShards: shards, bytes: tiny.bytes, progressEvents: expect.any(Number), damaged: [] },
    ]);
    expect(r.loads[0].progressEvents).toBeGreaterThanOrEqual(shards);
    expect(r.cacheKeys).toHaveLength(shards);
    for (const [name, data] of weights) expect(r.tensors[name], name).toEqual(bits(data));
    expect(errors).toEqual([]);
  });

  it('shard boundaries that cut a float (shards of 6001 bytes) load bit for bit', async () => {
    const { r, errors } = await weightsPage(url, 'dir=/weights/tinyvgg-odd/&loads=1');
    expect(r.error).toBeUndefined();
    for (const [name, data] of weights) expect(r.tensors[name], name).toEqual(bits(data));
    expect(errors).toEqual([]);
  });

  it("a model the loader is not told about loads from the manifest's modelSpec; a wrong field there, or no modelSpec, is refused naming the field", async () => {
    const { r, errors } = await weightsPage(url, 'dir=/weights/tinyvgg-spec/&loads=1&models=0');
    expect(r.error).toBeUndefined();
    for (const [name, data] of weights) expect(r.tensors[name], name).toEqual(bits(data));
    expect(errors).toEqual([]);
    const bad = await weightsPage(url, 'dir=/weights/tinyvgg-badspec/&loads=1&models=0');
    expect(bad.r.error).toMatch(/\/weights\/tinyvgg-badspec\/manifest\.json: field 'modelSpec\.layers\[2\]\.filters' is 0, expected an integer 1–65536; fix the manifest's modelSpec/);
    const none = await weightsPage(url, 'dir=/weights/tinyvgg/&loads=1&models=0');
    expect(none.r.error).toMatch(/\/weights\/tinyvgg\/manifest\.json: field 'model' is "tinyvgg"; known models: vgg16, vgg19/);
  });

  it('a shard that fails its sha256 is refused, named with what to do, and never cached', async () => {
    const { r } = await weightsPage(url, 'dir=/weights/tinyvgg-bad/&loads=1');
    const bad = tiny.manifest.shards[2];
    expect(r.error).toMatch(
      new RegExp(`/weights/tinyvgg-bad/${bad.file}: sha256 [0-9a-f]{64} does not match manifest\\.json \\(${bad.sha256}\\).*download or convert the weights again`),
    );
    expect(r.loads).toEqual([]);
    // Shards that passed may stay cached (they were checked); the bad one is not there.
    expect(r.cacheKeys.some((k) => k.includes(bad.file))).toBe(false);
  });

  it('missing weights: servedWeights says so without a request for the manifest, and nothing is logged as an error', async () => {
    // A model the index does not list, and a server whose weights directory does not exist at all.
    for (const [base, query] of [
      [url, 'dir=/weights/vgg16/&served=1'],
      [emptyUrl, 'dir=/weights/tinyvgg/&served=1'],
    ]) {
      const { r, errors } = await weightsPage(base, query);
      expect(r.error).toBeUndefined();
      expect(r.served).toBe('null');
      expect(r.loads).toEqual([]);
      expect(errors).toEqual([]);
    }
  });

  it('without an index.json (another static server) servedWeights returns undefined', async () => {
    // The dev server has no /test-artifacts/index.json: its 404 is the one expected here.
    const page = await browser.newPage();
    const errors = collectErrors(page, [/\/index\.json$/]);
    await page.goto(new URL('test/browser/weights.html?dir=/test-artifacts/nothing-here/&served=1&loads=0', url).href);
    await page.waitForFunction(() => window.__weightsResult?.done === true, { timeout: 60_000 });
    const r = (await page.evaluate(() => window.__weightsResult)) as WeightsPageResult;
    await page.close();
    expect(r.error).toBeUndefined();
    expect(r.served).toBe('undefined');
    expect(errors).toEqual([]);
  });

  it('a cache entry damaged on disk is caught (Chromium\'s checksum, then the sha256) and the shard fetched again', async () => {
    // Damage on disk, below the Cache API: Chromium's own checksum fails the read, and the loader's
    // sha256 of every cached shard (verifyCached, src/hosts/browser/weights.ts) would catch what got
    // past it. A profile on disk, one load, the browser closed, a byte flipped in the body of every
    // cached entry, the browser reopened. (An entry replaced through the Cache API itself, with a
    // valid checksum: test/page-reliability.test.ts.)
    const profile = join(dir, 'profile');
    let b = await launchChromium([`--user-data-dir=${profile}`]);
    try {
      const first = await weightsPage(url, 'dir=/weights/tinyvgg/&loads=1', b);
      expect(first.r.loads).toEqual([expect.objectContaining({ cachedShards: 0 })]);
    } finally {
      await b.close();
    }
    const files: string[] = [];
    const walk = (d: string): void => readdirSync(d).forEach((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : files.push(join(d, n))));
    walk(join(profile, 'Default', 'Service Worker', 'CacheStorage'));
    // Chromium's simple-cache entry files (<hash>_0) hold the key, the body and the headers.
    const entries = files.filter((f) => /_0$/.test(f) && statSync(f).size > 4096);
    expect(entries).toHaveLength(tiny.manifest.shards.length);
    for (const f of entries) {
      const bytes = readFileSync(f);
      bytes[bytes.length >> 1] ^= 0x40;
      writeFileSync(f, bytes);
    }
    b = await launchChromium([`--user-data-dir=${profile}`]);
    try {
      const { r, errors, warnings } = await weightsPage(url, 'dir=/weights/tinyvgg/&loads=1&keep=1', b);
      expect(r.error).toBeUndefined();
      expect(r.loads[0].cachedShards).toBe(tiny.manifest.shards.length - entries.length);
      expect(r.loads[0].damaged).toHaveLength(entries.length);
      expect(warnings.filter((w) => /damaged.*fetching it again/.test(w))).toHaveLength(entries.length);
      for (const [name, data] of weights) expect(r.tensors[name], name).toEqual(bits(data));
      expect(errors).toEqual([]);
    } finally {
      await b.close();
    }
  });
});
