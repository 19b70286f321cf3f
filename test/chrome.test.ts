// The kernel cases of test/kernels.test.ts, run again in headless Chromium's WebGPU, so both hosts
// are proven. The page reports passes and failures; this test fails on any failure.
import type { Browser } from 'puppeteer-core';
import type { ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelCases } from './kernels/cases.js';
import type { BrowserResults } from './browser/kernels.page.js';
import { collectErrors, launchChromium, startDevServer } from './support/chromium.js';

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
    console.log(`Chromium adapter: ${results.adapter}; ${results.passed.length} passed, ${results.failures.length} failed`);
    expect(results.fatal).toBeUndefined();
    expect(results.failures).toEqual([]);
    expect(results.passed).toEqual(kernelCases.map((c) => c.name));
    expect(errors).toEqual([]);
  }, 660_000);
});
