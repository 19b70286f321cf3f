// The kernel cases of test/kernels.test.ts, run again in headless Chromium's WebGPU, so both hosts
// are proven. The page reports passes and failures; this test fails on any failure.
import type { Browser } from 'puppeteer-core';
import type { ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserKernelCases as kernelCases } from './kernels/cases.js';
import type { BrowserResults } from './browser/kernels.page.js';
import type { WeightsPageResult } from './browser/weights.page.js';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { convertKerasH5 } from '../src/hosts/node/keras/convert.js';
import { writeSyntheticKerasH5 } from '../src/hosts/node/keras/syntheticH5.js';
import { TINY_VGG } from './support/tinyVgg.js';
import { collectErrors, launchChromium, PROJECT_ROOT, startDevServer } from './support/chromium.js';

let server: ViteDevServer;
let browser: Browser;
let url: string;

beforeAll(async () => {
  ({ server, url } = await startDevServer());
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('kernels in headless Chromium (WebGPU)', () => {
  it('every kernel case passes in the browser', async () => {
    const page = await browser.newPage();
    const errors = collectErrors(page);
    await page.goto(new URL('test/browser/kernels.html', url).href);
    await page.waitForFunction(() => window.__kernelResults?.done === true, { timeout: 600_000, polling: 500 });
    const results = (await page.evaluate(() => window.__kernelResults)) as BrowserResults;
    console.log(`Chromium adapter: ${results.adapter}; ${results.passed.length} passed, ${results.skipped.length} skipped (device features), ${results.failures.length} failed`);
    expect(results.fatal).toBeUndefined();
    expect(results.failures).toEqual([]);
    // Skipped: only cases whose version needs a feature the adapter lacks (the page checks).
    expect(results.skipped.every((n) => kernelCases.find((c) => c.name === n)?.features?.length)).toBe(true);
    expect(results.passed).toEqual(kernelCases.map((c) => c.name).filter((n) => !results.skipped.includes(n)));
    expect(errors).toEqual([]);
  }, 660_000);
});

describe('weights loader in headless Chromium', () => {
  it('fetches shards with progress, then reloads them from Cache Storage, bit for bit', async () => {
    // Served by the dev server from the project tree (test-artifacts/ is git-ignored).
    const artifacts = join(PROJECT_ROOT, 'test-artifacts');
    mkdirSync(artifacts, { recursive: true });
    const h5 = join(artifacts, 'tiny.h5');
    const outDir = join(artifacts, 'weights-tiny');
    rmSync(outDir, { recursive: true, force: true });
    const weights = await writeSyntheticKerasH5(h5, TINY_VGG, { seed: 21 });
    const converted = await convertKerasH5(h5, outDir, { models: [TINY_VGG], shardBytes: 8192 });
    const page = await browser.newPage();
    const errors = collectErrors(page);
    await page.goto(new URL('test/browser/weights.html?dir=/test-artifacts/weights-tiny/', url).href);
    await page.waitForFunction(() => window.__weightsResult?.done === true, { timeout: 120_000 });
    const r = (await page.evaluate(() => window.__weightsResult)) as WeightsPageResult;
    expect(r.error).toBeUndefined();
    const shards = converted.manifest.shards.length;
    expect(shards).toBeGreaterThan(2);
    expect(r.loads[0]).toMatchObject({ cachedShards: 0, bytes: converted.bytes });
    expect(r.loads[1]).toMatchObject({ cachedShards: shards, bytes: converted.bytes });
    expect(r.loads[0].progressEvents).toBeGreaterThanOrEqual(shards);
    for (const [name, data] of weights) expect(r.tensors[name], name).toEqual([...new Uint32Array(data.buffer, data.byteOffset, data.length)]);
    expect(errors).toEqual([]);
  }, 180_000);
});
