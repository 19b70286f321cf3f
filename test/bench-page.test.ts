// The bench page (/bench.html) as `npm start` serves it (vite build + preview), in headless Chromium:
// the demo page's bundle holds no TF.js (the bench page reaches it only by dynamic import); the
// adapter is shown before anything runs; a quick run at 64×64 finishes without console errors, with a
// kernel-table row for every kernel case in the report, the CAM methods asked for in the URL (one,
// Grad-CAM++, with its baseline: the cheapest) and the pixel methods asked for (saliency: one backward
// to the image a run); the downloaded JSON passes the same checks as
// the CLI's reports (checkBenchReport); the markdown copy works through the clipboard and through the
// fallback box; without WebGPU the page says what to do. The build goes to a directory of its own, so
// it never races test/app.test.ts over dist/app.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { build, preview, type PreviewServer, type Rollup } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkBenchReport } from '../src/bench/checkReport.js';
import type { BenchReport } from '../src/bench/run.js';
import { collectErrors, launchChromium, PROJECT_ROOT } from './support/chromium.js';

const dir = mkdtempSync(join(tmpdir(), 'gradcam-bench-page-'));
const outDir = join(dir, 'app');
const downloads = join(dir, 'downloads');
const artifacts = join(PROJECT_ROOT, 'test-artifacts');
const configFile = join(PROJECT_ROOT, 'vite.config.ts');
type OutputChunk = Rollup.OutputChunk;
let chunks: OutputChunk[] = [];
let server: PreviewServer;
let browser: Browser;
let url: string;

beforeAll(async () => {
  const t = performance.now();
  const out = await build({ configFile, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  chunks = (Array.isArray(out) ? out : [out as Rollup.RollupOutput]).flatMap((o) => o.output.filter((c): c is OutputChunk => c.type === 'chunk'));
  server = await preview({ configFile, logLevel: 'warn', build: { outDir }, preview: { port: 0, strictPort: false } });
  url = server.resolvedUrls!.local[0];
  browser = await launchChromium();
  console.log(`bench page: build and preview in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (server ? server.httpServer.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

/** Every module a chunk loads before it runs: its own and its static imports', transitively. */
function staticModules(entry: OutputChunk): string[] {
  const byFile = new Map(chunks.map((c) => [c.fileName, c]));
  const seen = new Set<string>();
  const visit = (c: OutputChunk) => {
    if (seen.has(c.fileName)) return;
    seen.add(c.fileName);
    for (const f of c.imports) visit(byFile.get(f)!);
  };
  visit(entry);
  return [...seen].flatMap((f) => Object.keys(byFile.get(f)!.modules));
}

const entry = (html: string) => chunks.find((c) => c.isEntry && c.facadeModuleId?.endsWith(`src/app/${html}`))!;
const state = (page: Page) => page.$eval('body', (b) => b.dataset.state);

describe('bench page (npm start) in headless Chromium', () => {
  it('TF.js is in neither page’s bundle; the bench page loads it by dynamic import', () => {
    const tfjs = (modules: string[]) => modules.filter((m) => m.includes('/@tensorflow/'));
    expect(tfjs(staticModules(entry('index.html')))).toEqual([]);
    expect(tfjs(staticModules(entry('bench.html')))).toEqual([]);
    expect(staticModules(entry('bench.html'))).toEqual(expect.arrayContaining([expect.stringMatching(/src\/bench\/run\.ts$/)]));
    expect(staticModules(entry('index.html')).filter((m) => m.includes('/src/bench/'))).toEqual([]);
    const dynamic = chunks.filter((c) => !c.isEntry && Object.keys(c.modules).some((m) => m.includes('/@tensorflow/tfjs-backend-webgpu/')));
    expect(dynamic.length).toBeGreaterThan(0);
    // The WASM peer's binaries are part of the build.
    expect(readdirSync(join(outDir, 'assets')).filter((f) => f.endsWith('.wasm'))).toHaveLength(3);
  });

  it('shows the adapter before anything runs', async () => {
    const page = await browser.newPage();
    const errors = collectErrors(page);
    await page.goto(`${url}bench.html`);
    await page.waitForFunction(() => document.body.dataset.state === 'ready', { timeout: 60_000 });
    const adapter = Object.fromEntries(await page.$$eval('#adapter tr', (trs) => trs.map((tr) => [(tr as HTMLElement).dataset.key, tr.cells[1].textContent])));
    expect(Object.keys(adapter)).toEqual(expect.arrayContaining(['vendor', 'architecture', 'description', 'kind', 'max storage binding']));
    expect(adapter.kind).toMatch(/^software/); // SwiftShader here
    expect(await page.$eval('#features', (e) => e.textContent)).toMatch(/^Features: .*timestamp-query/);
    expect(await page.$eval('#mode-note', (e) => e.textContent)).toMatch(/^quick: 3 runs, 7 representative layers.*About \d+ min on this software adapter/);
    expect(await page.$eval('#start', (b) => (b as HTMLButtonElement).disabled)).toBe(false);
    expect(errors).toEqual([]);
    // A method list the page cannot use is said, not silently dropped; a bad one typed in blocks Start.
    await page.goto(`${url}bench.html?methods=gradcam,fastcam&pixel=saliency,edges`);
    await page.waitForFunction(() => document.body.dataset.state === 'ready', { timeout: 60_000 });
    expect(await page.$eval('#status', (e) => e.textContent)).toMatch(/^Ready\. Ignored from the URL: methods=gradcam,fastcam \(unknown method 'fastcam'; list some of gradcam, gradcam\+\+, /);
    expect(await page.$eval('#status', (e) => e.textContent)).toMatch(/; pixel=saliency,edges \(unknown pixel method 'edges'; list some of saliency, guided-backprop, /);
    expect(await page.$eval('#mode-note', (e) => e.textContent)).toMatch(/, CAM methods: all, pixel methods: all\b/);
    await page.type('#methods', 'layercam,nope');
    expect(await page.$eval('#methods', (e) => (e as HTMLInputElement).validationMessage)).toMatch(/^unknown method 'nope'/);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a quick run at 64×64: table, chart, JSON download that passes the report checks, markdown copy', async () => {
    const page = await browser.newPage();
    const errors = collectErrors(page);
    await page.setViewport({ width: 1280, height: 900 });
    // The clipboard, stubbed: records what the page copies, or refuses when told to (headless Chromium
    // has no user gesture or permission prompt to rely on).
    await page.evaluateOnNewDocument(() => {
      const w = window as unknown as { __copied: string[]; __clipboardRefuses: boolean };
      w.__copied = [];
      w.__clipboardRefuses = false;
      Object.defineProperty(navigator, 'clipboard', {
        value: {
          writeText: async (text: string) => {
            if (w.__clipboardRefuses) throw new DOMException('Write permission denied.', 'NotAllowedError');
            w.__copied.push(text);
          },
        },
      });
    });
    mkdirSync(downloads, { recursive: true });
    const cdp = await browser.target().createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads, eventsEnabled: true });

    const t = performance.now();
    await page.goto(`${url}bench.html?mode=quick&size=64&runs=1&methods=gradcam%2B%2B&pixel=saliency`);
    await page.waitForFunction(() => document.body.dataset.state === 'ready', { timeout: 60_000 });
    expect(await page.$eval('#size', (s) => (s as HTMLSelectElement).value)).toBe('64');
    expect(await page.$eval('#methods', (s) => (s as HTMLInputElement).value)).toBe('gradcam++');
    expect(await page.$eval('#pixel', (s) => (s as HTMLInputElement).value)).toBe('saliency');
    await page.click('#start');
    // Progress: the bar and the current step are shown while it runs, and kernel rows arrive one by one.
    await page.waitForFunction(() => /^step \d+ of \d+ · kernels · /.test(document.getElementById('stage')!.textContent ?? ''), { timeout: 120_000, polling: 100 });
    await page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error', { timeout: 600_000, polling: 1000 });
    const seconds = (performance.now() - t) / 1000;
    const pageLog = await page.$eval('#log', (e) => e.textContent ?? '');
    const camSeconds = /^ours: CAM methods timed in ([\d.]+) s$/m.exec(pageLog)?.[1];
    const pixelSeconds = /^ours: pixel methods timed in ([\d.]+) s$/m.exec(pageLog)?.[1];
    console.log(`bench page: quick run at 64×64 with the TF.js peer in ${seconds.toFixed(0)} s (the CAM methods: ${camSeconds} s, the pixel methods: ${pixelSeconds} s)`);
    expect(await page.$eval('#status', (e) => e.textContent)).toMatch(/^Finished in \d+ s: /);
    expect(await state(page)).toBe('done');
    expect(await page.$eval('#stage', (e) => e.textContent)).toMatch(/^step (\d+) of \1 · done/);

    // The JSON, as the button saves it.
    const saved = new Promise<string>((resolve) =>
      cdp.on('Browser.downloadProgress', (e) => {
        if (e.state === 'completed') resolve(e.filePath ?? '');
      }),
    );
    await page.click('#download-json');
    const file = await saved;
    expect(file).toMatch(/\d{4}-\d\d-\d\dT.*-chrome\.json$/);
    expect(existsSync(file)).toBe(true);
    const report = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
    expect(checkBenchReport(report)).toEqual([]);
    expect(report).toMatchObject({ host: 'chrome', model: 'vgg16@64', quick: true, runs: 1, f16: false, weights: { model: 'vgg16@64', synthetic: true, seed: 1 } });
    expect(Object.keys(report.peer).sort()).toEqual(['wasm', 'webgpu']);
    expect(report.tuning.source).toBe('tuned');
    expect(report.device.userAgent).toMatch(/Chrome\//);

    // The kernel table: one row per kernel case of the report, in order.
    const rows = await page.$$eval('#kernels tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.key));
    expect(rows).toEqual(report.kernels.map((k) => `${k.name}.${k.version}|${k.layer}|${k.direction}`));
    expect(rows.length).toBeGreaterThanOrEqual(10);
    // End to end, ours and the peer's with the ratio; the per-layer chart with both bars per layer.
    const e2e = await page.$$eval('#end-to-end tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    expect(e2e.map((r) => r[0])).toEqual(['forward (image → probabilities)', 'Grad-CAM (image → overlay)']);
    for (const r of e2e) expect(r.slice(1)).toEqual([expect.stringMatching(/^[\d.]+$/), expect.stringMatching(/^[\d.]+$/), expect.stringMatching(/^[\d.]+×$/), expect.stringMatching(/^[\d.]+$/)]);
    expect(await page.$eval('#end-to-end-note', (e) => e.textContent)).toMatch(/Cold start .* GPU memory: \d+ MB\. Heatmaps, ours vs TF\.js WebGPU: max \|Δ\|/);
    expect(await page.$$eval('#layer-chart svg rect[fill="#1f77b4"]', (r) => r.length)).toBe(report.layers.length + 1); // + legend
    expect(await page.$$eval('#layer-chart svg rect[fill="#ff7f0e"]', (r) => r.length)).toBe(report.layers.length + 1);
    // The CAM methods asked for: Grad-CAM++ and its baseline, on GPU time; no top-5 (Grad-CAM was not asked for), no perturbation method.
    expect(report.methods.timings.map((t) => t.method)).toEqual(['gradcam', 'gradcam++']);
    expect(report.methods.topMaps).toBeUndefined();
    expect(report.methods.perturbation).toEqual([]);
    const methodRows = await page.$$eval('#methods-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    expect(methodRows).toEqual([
      ['gradcam', expect.stringMatching(/^[\d.]+$/), expect.stringMatching(/^[\d.]+$/), 'baseline'],
      ['gradcam++', expect.stringMatching(/^[\d.]+$/), expect.stringMatching(/^[\d.]+$/), expect.stringMatching(/^[+-][\d.]+% \(GPU\)$/)],
    ]);
    // The pixel method asked for: saliency's backward to the image over the forward, on GPU time; no sampled method.
    expect(report.pixel).toMatchObject({ basis: 'gpu', backward: [{ method: 'saliency' }], sampled: [] });
    const pixelRows = await page.$$eval('#pixel-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    expect(pixelRows).toEqual([['Saliency', expect.stringMatching(/^[\d.]+$/), expect.stringMatching(/^[\d.]+$/), expect.stringMatching(/^[\d.]+×$/), '–']]);
    expect(await page.$eval('#pixel-note', (e) => e.textContent)).toMatch(/^Backward to the image \(GPU time, from the score through the preprocessing\): saliency [\d.]+× the forward /);

    // Markdown: through the clipboard, then through the box when the clipboard refuses.
    await page.click('#copy-markdown');
    await page.waitForFunction(() => (window as unknown as { __copied: string[] }).__copied.length === 1, { timeout: 10_000 });
    const copied = await page.evaluate(() => (window as unknown as { __copied: string[] }).__copied[0]);
    expect(copied).toMatch(/^# Benchmark, \d{4}-\d\d-\d\d\n\n## Chrome: /);
    expect(copied).toContain('Bench page: `/bench.html?mode=quick&size=64&runs=1&methods=gradcam%2B%2B&pixel=saliency&peer=1&tune=auto&f16=0`');
    expect(copied).toMatch(/\| Saliency \| [\d.]+ \| [\d.]+ \| [\d.]+× \| – \|/);
    expect(copied).toMatch(/\| Grad-CAM\+\+ \| [\d.]+ \| [\d.]+ \| [+-][\d.]+% \(GPU\) \|/);
    expect(copied).toMatch(/\| Grad-CAM \| [\d.]+ \| [\d.]+ \| [\d.]+× \| [\d.]+ \|/);
    expect(await page.$eval('#share-status', (e) => e.textContent)).toMatch(/^Copied the markdown summary/);
    await page.evaluate(() => ((window as unknown as { __clipboardRefuses: boolean }).__clipboardRefuses = true));
    await page.click('#copy-markdown');
    await page.waitForFunction(() => !(document.getElementById('markdown-fallback') as HTMLTextAreaElement).hidden, { timeout: 10_000 });
    expect(await page.$eval('#markdown-fallback', (e) => (e as HTMLTextAreaElement).value)).toBe(copied);

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'bench-page.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 660_000);

  it('without WebGPU the page says so, and what to do', async () => {
    const page = await browser.newPage();
    await page.evaluateOnNewDocument(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
    await page.goto(`${url}bench.html`);
    await page.waitForFunction(() => document.body.dataset.state === 'unavailable', { timeout: 30_000 });
    expect(await page.$eval('#status', (e) => e.textContent)).toMatch(/This browser does not expose WebGPU \(navigator\.gpu is missing\)\. Use a current Chrome, Edge/);
    expect(await page.$eval('#status', (e) => e.className)).toBe('error');
    expect(await page.$eval('#start', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
    await page.close();
  });
});
