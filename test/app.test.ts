// The demo page as `npm start` serves it (vite build + preview, the /weights/ route), in headless
// Chromium with full-size synthetic weights: an uploaded image gives the same top-5 as the engine in
// Node, the overlay changes the image where the heatmap is high and only by the blend where it is 0,
// the overlay and heatmap canvases show the engine's result in Node (for the first class, another
// class clicked and another layer picked; within test/support/pageMatch.ts's stated tolerance), and
// nothing is logged as an error.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import type { Browser, Page } from 'puppeteer-core';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GradCam, type GradCamResult } from '../src/engine/gradcam.js';
import { loadWeightsFromDir } from '../src/hosts/node/weights.js';
import { collectErrors, launchChromium, PROJECT_ROOT } from './support/chromium.js';
import { syntheticPhoto } from './support/images.js';
import { testDevice } from './support/nodeDevice.js';
import { cvResizeLinear } from './support/opencv.js';
import { errorStats } from './support/compare.js';
import { CANVAS_TOL, heatmapCanvasMismatches, MAP_TOL, overlayCanvasMismatches } from './support/pageMatch.js';
import { jetColormap } from '../src/kernels/gradcam.js';

const dir = mkdtempSync(join(tmpdir(), 'gradcam-app-'));
const artifacts = join(PROJECT_ROOT, 'test-artifacts');
const imageFile = join(dir, 'photo.png');
const photo = syntheticPhoto(200, 150, 12);
let server: PreviewServer;
let browser: Browser;
let url: string;
let node: GradCamResult;
let nodeSecond: GradCamResult;
let nodeLayer: GradCamResult;

beforeAll(async () => {
  await promisify(execFile)(process.execPath, ['--import', 'tsx', '--import', './scripts/lib/registerRaw.js', 'scripts/weights.ts', '--synthetic', '--seed', '5', '--out', join(dir, 'vgg16')]);
  const png = new PNG({ width: photo.width, height: photo.height });
  png.data = Buffer.from(photo.data);
  writeFileSync(imageFile, PNG.sync.write(png));
  // The engine in Node on the same pixels and weights: what the page must show.
  const device = await testDevice();
  const loaded = await loadWeightsFromDir(device, join(dir, 'vgg16'));
  const cam = await GradCam.create(device, loaded.weights.model, loaded.weights);
  node = await cam.run(photo);
  nodeSecond = await cam.run(photo, { classIndex: node.predictions[1].index });
  // The page keeps the clicked class when the layer changes.
  nodeLayer = await cam.run(photo, { classIndex: node.predictions[1].index, layer: 'block4_conv3' });
  cam.dispose();
  device.destroy();
  process.env.GRADCAM_WEIGHTS_DIR = dir;
  await build({ configFile: join(PROJECT_ROOT, 'vite.config.ts'), logLevel: 'warn' });
  server = await preview({ configFile: join(PROJECT_ROOT, 'vite.config.ts'), logLevel: 'warn', preview: { port: 0, strictPort: false } });
  url = server.resolvedUrls!.local[0];
  browser = await launchChromium();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (server ? server.httpServer.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

const canvasPixels = (page: Page, id: string) =>
  page.$eval(`#${id}`, (c) => {
    const canvas = c as HTMLCanvasElement;
    const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    return { width: d.width, height: d.height, data: [...d.data] };
  });

const waitForStatus = (page: Page, pattern: string, timeout = 240_000) =>
  page.waitForFunction((p) => new RegExp(p).test(document.getElementById('status')!.textContent ?? ''), { timeout, polling: 500 }, pattern);

describe('demo page (npm start) in headless Chromium', () => {
  it('upload → predictions, overlay and heatmap like the engine in Node; class and layer switches change the map', async () => {
    const page = await browser.newPage();
    const errors = collectErrors(page);
    await page.goto(url);
    await page.waitForFunction(() => !(document.getElementById('sample') as HTMLButtonElement).disabled, { timeout: 120_000 });
    expect(await page.$eval('#weights-note', (e) => e.textContent)).toMatch(/Random weights: weights\/vgg16 holds synthetic weights \(seed 5\)/);
    // First visit: the kernels were tuned on this adapter and the choice is shown.
    expect(await page.$eval('#kernels-source', (e) => e.textContent)).toMatch(/^kernel choices tuned now in [\d.]+ s, saved to localStorage/);
    const choices = await page.$$eval('#kernel-choices tr', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.key));
    expect(choices).toEqual(expect.arrayContaining(['conv3x3BiasRelu|14×14×512→512', 'denseBiasAct|25088→4096', 'denseBackwardInput|25088→4096']));
    const input = await page.$('#file');
    await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(imageFile);
    await waitForStatus(page, '^Grad-CAM of');

    // Predictions: the same five classes, in order, as the engine in Node.
    const rows = await page.$$eval('#predictions tr', (trs) => trs.map((tr) => Number((tr as HTMLElement).dataset.index)));
    expect(rows).toEqual(node.predictions.map((p) => p.index));
    const status = await page.$eval('#status', (e) => e.textContent);
    expect(status).toMatch(new RegExp(`\\(${node.classIndex}\\) at block5_conv3`));
    expect(status).toMatch(/Time to first heatmap: [\d.]+ s/);

    // Overlay vs original, using the Node heatmap upsampled as OpenCV does.
    const overlay = await canvasPixels(page, 'overlay');
    const original = await canvasPixels(page, 'original');
    expect([overlay.width, overlay.height]).toEqual([photo.width, photo.height]);
    const up = cvResizeLinear(node.heatmap.data, 14, 14, photo.width, photo.height);
    let cold = 0;
    let hot = 0;
    for (let p = 0; p < up.length; p++) {
      const d = [0, 1, 2].map((c) => overlay.data[4 * p + c] - original.data[4 * p + c]);
      if (Math.floor(255 * up[p]) === 0) {
        cold++;
        // JET(0) is (0, 0, 128): only blue moves, by round(0.4 · 128) = 51 unless it saturates.
        expect(Math.abs(d[0]) + Math.abs(d[1])).toBe(0);
        expect(d[2]).toBe(Math.min(51, 255 - original.data[4 * p + 2]));
      } else if (up[p] > 0.8) {
        hot++;
        expect(Math.abs(d[0]) + Math.abs(d[1]) + Math.abs(d[2])).toBeGreaterThan(20);
      }
    }
    expect(cold).toBeGreaterThan(0);
    expect(hot).toBeGreaterThan(0);

    // The canvases show the engine's result in Node for the same image and weights: the original is the
    // PNG's pixels, the overlay Node's overlay and the heatmap JET of Node's map, within the tolerance
    // of test/support/pageMatch.ts (the page's kernels may sum in another order: maps within MAP_TOL,
    // compared at the recipe's uint8 level; canvas colour handling: 1 level).
    const jet = jetColormap();
    const seesNode = async (what: string, r: GradCamResult) => {
      const heat = await canvasPixels(page, 'heatmap');
      expect(heatmapCanvasMismatches(heat, r.heatmap, jet).slice(0, 5), `${what}: heatmap canvas vs Node's map`).toEqual([]);
      const ov = await canvasPixels(page, 'overlay');
      const m = overlayCanvasMismatches(ov, r.overlay!, r.heatmap, original, jet, 0.4);
      console.log(`${what}: overlay max |page − Node| ${m.maxAbs}, ${m.boundary} of ${photo.width * photo.height} pixels on a uint8 level boundary (±${MAP_TOL})`);
      expect(m.mismatches.slice(0, 5), `${what}: overlay canvas vs Node's overlay (${m.mismatches.length} pixels off)`).toEqual([]);
      return { heat, ov };
    };
    expect(errorStats(original.data, photo.data).maxAbs, 'original canvas vs the PNG').toBeLessThanOrEqual(CANVAS_TOL);
    const first = await seesNode('first class', node);
    expect([first.heat.width, first.heat.height]).toEqual([14, 14]);

    // Another class: the map changes, and is the engine's map for that class.
    await page.click('#predictions tr:nth-child(2)');
    await waitForStatus(page, `\\(${node.predictions[1].index}\\) at block5_conv3`);
    const second = await seesNode('second class', nodeSecond);
    expect(second.heat.data).not.toEqual(first.heat.data);
    expect(nodeSecond.heatmap.data).not.toEqual(node.heatmap.data);
    // The comparison tells the two classes apart (it would fail had the page kept the first map).
    expect(heatmapCanvasMismatches(second.heat, node.heatmap, jet).length, 'second-class canvas vs first-class map').toBeGreaterThan(0);
    expect(overlayCanvasMismatches(second.ov, node.overlay!, node.heatmap, original, jet, 0.4).mismatches.length).toBeGreaterThan(0);

    // Another layer: a 28×28 map, the engine's for that layer.
    await page.select('#layer', 'block4_conv3');
    await waitForStatus(page, 'at block4_conv3');
    const third = await seesNode('block4_conv3', nodeLayer);
    expect([third.heat.width, third.heat.height]).toEqual([28, 28]);
    const timings = await page.$$eval('#timings tr td:first-child', (tds) => tds.map((t) => t.textContent));
    expect(timings).toEqual(expect.arrayContaining(['forward', 'backward', 'cam', 'overlay', 'total (wall clock)']));

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'demo-page.png'), fullPage: true });

    // Next visit: the same choices, from localStorage, without tuning again.
    await page.reload();
    await page.waitForFunction(() => !(document.getElementById('sample') as HTMLButtonElement).disabled, { timeout: 120_000 });
    expect(await page.$eval('#kernels-source', (e) => e.textContent)).toMatch(/^kernel choices from localStorage \(tuned /);
    expect(await page.$$eval('#kernel-choices tr', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.key))).toEqual(choices);
    expect(errors).toEqual([]);
  }, 600_000);

  it('webcam: a frame, then live mode with frames per second (Chromium’s fake camera)', async () => {
    const camBrowser = await launchChromium(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream']);
    try {
      const page = await camBrowser.newPage();
      const errors = collectErrors(page);
      // A fresh browser profile would tune again; ?tune=off runs the default versions instead.
      await page.goto(`${url}?tune=off`);
      await page.waitForFunction(() => !(document.getElementById('webcam') as HTMLButtonElement).disabled, { timeout: 120_000 });
      expect(await page.$eval('#kernels-source', (e) => e.textContent)).toMatch(/kernel tuning off/);
      // Before the frame: the page's 224×224 placeholder, fully transparent (nothing drawn yet).
      const blank = await canvasPixels(page, 'original');
      expect([blank.width, blank.height]).toEqual([224, 224]);
      expect(blank.data.every((v) => v === 0)).toBe(true);
      await page.click('#webcam');
      await waitForStatus(page, '^Grad-CAM of');
      // A camera frame was drawn: the fake camera's 640×480, opaque, not one flat colour; and its overlay.
      const original = await canvasPixels(page, 'original');
      expect([original.width, original.height]).toEqual([640, 480]);
      expect(original.data.filter((_, i) => i % 4 === 3).every((a) => a === 255)).toBe(true);
      expect(new Set(original.data.filter((_, i) => i % 4 === 0)).size).toBeGreaterThan(10);
      const overlay = await canvasPixels(page, 'overlay');
      expect([overlay.width, overlay.height]).toEqual([640, 480]);
      expect(overlay.data).not.toEqual(original.data);
      await page.click('#live');
      await page.waitForFunction(() => /frames\/s/.test(document.getElementById('fps')!.textContent ?? ''), { timeout: 240_000, polling: 500 });
      await page.click('#live');
      expect(await page.$eval('#fps', (e) => e.textContent)).toMatch(/^[\d.]+ frames\/s$/);
      expect(errors).toEqual([]);
    } finally {
      await camBrowser.close();
    }
  }, 600_000);

  it('without WebGPU the page says so, and what to do', async () => {
    const page = await browser.newPage();
    await page.evaluateOnNewDocument(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
    await page.goto(url);
    await waitForStatus(page, 'WebGPU', 30_000);
    const status = await page.$eval('#status', (e) => e.textContent);
    expect(status).toMatch(/This browser does not expose WebGPU \(navigator\.gpu is missing\)\. Use a current Chrome, Edge/);
    expect(await page.$eval('#status', (e) => e.className)).toBe('error');
  });
});
