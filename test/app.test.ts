// The demo page served by `npm start` (vite, root src/app), driven in headless Chromium: it must
// label its random weights, classify a generated image and list five predictions, without errors.
import { mkdirSync } from 'node:fs';
import type { Browser } from 'puppeteer-core';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectErrors, launchChromium, PROJECT_ROOT } from './support/chromium.js';

let server: ViteDevServer;
let browser: Browser;
let url: string;

beforeAll(async () => {
  server = await createServer({ configFile: `${PROJECT_ROOT}vite.config.ts`, root: `${PROJECT_ROOT}src/app`, logLevel: 'error', server: { port: 0, strictPort: false, hmr: false } });
  await server.listen();
  url = server.resolvedUrls!.local[0];
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('demo page', () => {
  it('classifies a generated image with labelled random weights', async () => {
    const page = await browser.newPage();
    // Without converted weights (a fresh clone) the page's manifest request is a 404, by design.
    const errors = collectErrors(page, [/\/weights\/vgg16\/manifest\.json$/]);
    await page.goto(url);
    await page
      .waitForFunction(() => !(document.getElementById('sample') as HTMLButtonElement).disabled, { timeout: 120_000 })
      .catch(async (e) => {
        throw new Error(`page never got ready: status '${await page.$eval('#status', (s) => s.textContent)}', errors ${JSON.stringify(errors)}: ${e}`);
      });
    expect(await page.$eval('#weights-note', (e) => e.textContent)).toMatch(/Random weights/);
    await page.click('#sample');
    await page.waitForFunction(() => document.querySelectorAll('#predictions tr').length === 5, { timeout: 300_000, polling: 500 });
    const rows = await page.$$eval('#predictions tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    expect(rows).toHaveLength(5);
    for (const r of rows) expect(r[2]).toMatch(/^\d+\.\d\d %$/);
    expect(await page.$eval('#status', (e) => e.textContent)).toMatch(/VGG16 forward: \d+ ms/);
    mkdirSync(`${PROJECT_ROOT}/test-artifacts`, { recursive: true });
    await page.screenshot({ path: `${PROJECT_ROOT}/test-artifacts/demo-page.png`, fullPage: true });
    expect(errors).toEqual([]);
  }, 480_000);
});
