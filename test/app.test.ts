// The demo page as `npm start` serves it (vite build + preview, the /weights/ route), in headless
// Chromium with full-size synthetic weights: a file chosen while the model loads is drawn at once and
// runs when ready; the top-5 is the engine's in Node; the overlay and heatmap canvases show the
// engine's result in Node (first class, another class clicked, another layer, another α; within
// test/support/pageMatch.ts's stated tolerance); each control reruns only its stages, asserted by the
// engine's per-stage counters (class and layer: backward + map + overlay; α, blend, colormap: the
// overlay pass); the class box takes a label, a wnid or an index; the exports are what is shown; a
// pixel-level method (saliency) draws the engine's rendering in Node in the second canvas from the kept
// forward (one backward, no forward); nothing is logged as an error.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import type { Browser, Page } from 'puppeteer-core';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GradCam, type GradCamResult, type PixelResult, type RgbaImage } from '../src/engine/gradcam.js';
import { PIXEL_METHODS } from '../src/engine/pixelMethods.js';
import { decodeNpy } from '../src/engine/npy.js';
import { loadWeightsFromDir } from '../src/hosts/node/weights.js';
import { collectErrors, launchChromium, PROJECT_ROOT } from './support/chromium.js';
import { syntheticPhoto } from './support/images.js';
import { testDevice } from './support/nodeDevice.js';
import { cvResizeLinear } from './support/opencv.js';
import { errorStats } from './support/compare.js';
import { CANVAS_TOL, heatmapCanvasMismatches, MAP_TOL, overlayCanvasMismatches, renderingCanvasMismatches, RENDERING_TOL } from './support/pageMatch.js';
import { colormap, jetColormap } from '../src/kernels/colormaps.js';

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
let nodeLayerAlpha: RgbaImage;
let nodeHires: GradCamResult;
/**
 * Node's saliency map for the page's pixel-level step: a backward to the image costs about what a
 * forward does on a CPU rasteriser, so it runs while the page builds, loads and tunes, and the step
 * awaits it (with how long it took).
 */
let nodePixelsRun: Promise<{ result: PixelResult; ms: number }> | undefined;

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
  // What the page does next, on the kept forward (test/gradcam-staged.test.ts: equal to full runs).
  nodeSecond = await cam.explain({ classIndex: node.predictions[1].index });
  // The page keeps the clicked class when the layer changes.
  nodeLayer = await cam.explain({ classIndex: node.predictions[1].index, layer: 'block4_conv3' });
  // Then α moved: the overlay pass alone on that map.
  nodeLayerAlpha = (await cam.overlay({ alpha: 0.7 })).overlay;
  // Then the class box picks 386 and the method becomes HiResCAM.
  nodeHires = await cam.explain({ classIndex: 386, layer: 'block4_conv3', method: 'hirescam' });
  // Then the pixel-level map: saliency of that class (of its logit, as the page asks), at the photo's
  // size, left running (see nodePixelsRun); the engine is closed when it is done. Saliency rather than
  // guided backprop: with these random weights its map spreads over well over a hundred grey levels,
  // where the guided gradient deprocesses to 3 (nearly flat grey), which would compare little.
  const t0 = performance.now();
  nodePixelsRun = cam
    .attribute({ method: 'saliency', classIndex: 386, score: 'logit', size: 'image' })
    .then((result) => ({ result, ms: performance.now() - t0 }))
    .finally(() => {
      cam.dispose();
      device.destroy();
    });
  // Reported where it is awaited; no unhandled rejection meanwhile.
  nodePixelsRun.catch(() => undefined);
  process.env.GRADCAM_WEIGHTS_DIR = dir;
  await build({ configFile: join(PROJECT_ROOT, 'vite.config.ts'), logLevel: 'warn' });
  server = await preview({ configFile: join(PROJECT_ROOT, 'vite.config.ts'), logLevel: 'warn', preview: { port: 0, strictPort: false } });
  url = server.resolvedUrls!.local[0];
  // Chromium's fake camera for the webcam test; the other tests never ask for it. One browser profile,
  // so the webcam test finds the weights in Cache Storage.
  browser = await launchChromium(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream']);
}, 600_000);

afterAll(async () => {
  await nodePixelsRun?.catch(() => undefined);
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

/** Waits for the status line to match; a timeout says what the line showed instead. */
const waitForStatus = async (page: Page, pattern: string, timeout = 240_000) => {
  try {
    await page.waitForFunction((p) => new RegExp(p).test(document.getElementById('status')!.textContent ?? ''), { timeout, polling: 500 }, pattern);
  } catch (e) {
    const shown = await page.$eval('#status', (el) => el.textContent).catch(() => '(unreadable)');
    throw new Error(`status never matched /${pattern}/ in ${timeout / 1000} s; it shows: ${shown}`, { cause: e });
  }
};

type Counts = { preprocess: number; forward: number; backward: number; cam: number; overlay: number };
const stageCounts = async (page: Page): Promise<Counts> => JSON.parse((await page.$eval('#stage-counts', (e) => (e as HTMLElement).dataset.counts)) ?? '{}') as Counts;
/** Waits until `stage` has run more than `than` times. */
const waitForCount = (page: Page, stage: keyof Counts, than: number) =>
  page.waitForFunction(
    (st, n) => (JSON.parse((document.getElementById('stage-counts') as HTMLElement).dataset.counts ?? '{}') as Record<string, number>)[st] > n,
    { timeout: 240_000, polling: 200 },
    stage,
    than,
  );
const diff = (a: Counts, b: Counts) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - a[k as keyof Counts]]));
const setValue = (page: Page, selector: string, value: string, event: 'input' | 'change') =>
  page.$eval(
    selector,
    (el, v, ev) => {
      (el as HTMLInputElement).value = v;
      el.dispatchEvent(new Event(ev, { bubbles: true }));
    },
    value,
    event,
  );

describe('demo page (npm start) in headless Chromium', () => {
  it('a file chosen while loading runs when ready; predictions, overlay and heatmap like the engine in Node; each control reruns only its stages', async () => {
    const page = await browser.newPage();
    const errors = collectErrors(page);
    await page.goto(url);
    // Chosen before Ready: drawn at once, queued, run when the model is ready.
    const input = await page.$('#file');
    await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(imageFile);
    await page.waitForFunction(() => /^'photo\.png' is queued: it runs as soon as the model is ready\.$/.test(document.getElementById('queued')!.textContent ?? ''), { timeout: 60_000, polling: 100 });
    expect(await page.$eval('#sample', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
    const early = await canvasPixels(page, 'original');
    expect([early.width, early.height]).toEqual([photo.width, photo.height]);
    mkdirSync(artifacts, { recursive: true });
    await page.waitForFunction(() => /Loading weights|Optimising kernels/.test(document.getElementById('status')!.textContent ?? ''), { timeout: 120_000, polling: 100 });
    await page.screenshot({ path: join(artifacts, 'demo-loading.png'), fullPage: true });
    await page.waitForFunction(() => /Optimising kernels for this GPU, once \(\d+\/\d+\)/.test(document.getElementById('status')!.textContent ?? ''), { timeout: 240_000, polling: 50 });
    await waitForStatus(page, '^Grad-CAM of');
    expect(await page.$eval('#weights-note', (e) => e.textContent)).toMatch(/Random weights: weights\/vgg16 holds synthetic weights \(seed 5\)/);
    // First visit: the kernels were tuned on this adapter and the choice is shown, under column headers.
    expect(await page.$eval('#kernels-source', (e) => e.textContent)).toMatch(/^kernel choices tuned now in [\d.]+ s, saved to localStorage/);
    expect(await page.$$eval('#kernel-choices th', (ths) => ths.map((t) => t.textContent))).toEqual(['kernel', 'shape', 'chosen', 'measured (ms per version)']);
    const choices = await page.$$eval('#kernel-choices tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.key));
    expect(choices).toEqual(expect.arrayContaining(['conv3x3BiasRelu|14×14×512→512', 'denseBiasAct|25088→4096', 'denseBackwardInput|25088→4096']));
    expect(await stageCounts(page)).toEqual({ preprocess: 1, forward: 1, backward: 1, cam: 1, overlay: 1 });

    // Predictions: the same five classes, in order, as the engine in Node.
    const rows = await page.$$eval('#predictions tbody tr', (trs) => trs.map((tr) => Number((tr as HTMLElement).dataset.index)));
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
    // PNG's pixels, the overlay Node's overlay and the heatmap JET of Node's map upsampled to the photo,
    // within the tolerance of test/support/pageMatch.ts (the page's kernels may sum in another order:
    // maps within MAP_TOL, compared at the recipe's uint8 level; canvas colour handling: 1 level).
    const jet = jetColormap();
    const seesNode = async (what: string, r: GradCamResult, alpha = 0.4) => {
      const heat = await canvasPixels(page, 'heatmap');
      expect(heatmapCanvasMismatches(heat, r.heatmap, jet).slice(0, 5), `${what}: heatmap canvas vs Node's map`).toEqual([]);
      const ov = await canvasPixels(page, 'overlay');
      const m = overlayCanvasMismatches(ov, r.overlay!, r.heatmap, original, jet, alpha);
      console.log(`${what}: overlay max |page − Node| ${m.maxAbs}, ${m.boundary} of ${photo.width * photo.height} pixels on a uint8 level boundary (±${MAP_TOL})`);
      expect(m.mismatches.slice(0, 5), `${what}: overlay canvas vs Node's overlay (${m.mismatches.length} pixels off)`).toEqual([]);
      return { heat, ov };
    };
    expect(errorStats(original.data, photo.data).maxAbs, 'original canvas vs the PNG').toBeLessThanOrEqual(CANVAS_TOL);
    const first = await seesNode('first class', node);
    // The heatmap at the photo's aspect, its native size in the caption; the colour bar; what it means.
    expect([first.heat.width, first.heat.height]).toEqual([photo.width, photo.height]);
    expect(await page.$eval('#heatmap-caption', (e) => e.textContent)).toBe(`heatmap: 14×14 cells at block5_conv3, upsampled to ${photo.width}×${photo.height}`);
    const legend = await canvasPixels(page, 'legend');
    expect([legend.width, legend.height]).toEqual([1, 256]);
    expect([...legend.data.slice(0, 3)]).toEqual([...jet.subarray(765, 768)]);
    expect([...legend.data.slice(4 * 255, 4 * 255 + 3)]).toEqual([...jet.subarray(0, 3)]);
    expect(await page.$eval('#meaning', (e) => e.textContent)).toMatch(/^Where VGG16 found evidence for '.+' at block5_conv3, by Grad-CAM: 1 \(top of the colour bar\) is the strongest, 0 none\. Each of the 14×14 cells covers about 16×16 pixels/);

    // Another class: backward + map + overlay only; the engine's map for that class.
    let before = await stageCounts(page);
    await page.click('#predictions tbody tr:nth-child(2)');
    await waitForStatus(page, `\\(${node.predictions[1].index}\\) at block5_conv3`);
    expect(diff(before, await stageCounts(page))).toEqual({ preprocess: 0, forward: 0, backward: 1, cam: 1, overlay: 1 });
    const second = await seesNode('second class', nodeSecond);
    expect(second.heat.data).not.toEqual(first.heat.data);
    expect(nodeSecond.heatmap.data).not.toEqual(node.heatmap.data);
    // The comparison tells the two classes apart (it would fail had the page kept the first map).
    expect(heatmapCanvasMismatches(second.heat, node.heatmap, jet).length, 'second-class canvas vs first-class map').toBeGreaterThan(0);
    expect(overlayCanvasMismatches(second.ov, node.overlay!, node.heatmap, original, jet, 0.4).mismatches.length).toBeGreaterThan(0);

    // Another layer: a 28×28 map, the engine's for that layer, still without a forward.
    before = await stageCounts(page);
    await page.select('#layer', 'block4_conv3');
    await waitForStatus(page, 'at block4_conv3');
    expect(diff(before, await stageCounts(page))).toEqual({ preprocess: 0, forward: 0, backward: 1, cam: 1, overlay: 1 });
    await seesNode('block4_conv3', nodeLayer);
    expect(await page.$eval('#heatmap-caption', (e) => e.textContent)).toMatch(/^heatmap: 28×28 cells at block4_conv3/);

    // α: the overlay pass only, and the engine's overlay at that α.
    before = await stageCounts(page);
    await setValue(page, '#alpha', '0.7', 'input');
    await waitForStatus(page, '^Overlay redrawn in [\\d.]+ ms \\(overlay pass only\\)');
    expect(diff(before, await stageCounts(page))).toEqual({ preprocess: 0, forward: 0, backward: 0, cam: 0, overlay: 1 });
    await seesNode('α 0.7', { ...nodeLayer, overlay: nodeLayerAlpha }, 0.7);
    // Blend and colormap: the overlay pass only; the legend follows the colormap.
    before = await stageCounts(page);
    await page.select('#blend', 'normalized');
    await waitForCount(page, 'overlay', before.overlay);
    await page.select('#colormap', 'viridis');
    await waitForCount(page, 'overlay', before.overlay + 1);
    const after = await stageCounts(page);
    expect(after.forward - before.forward + after.backward - before.backward).toBe(0);
    expect(await page.$eval('#overlay-caption', (e) => e.textContent)).toBe('overlay: viridis, α 0.70, (1 − α)·image + α·colour');
    const viridisLegend = await canvasPixels(page, 'legend');
    expect([...viridisLegend.data.slice(0, 3)]).toEqual([...colormap('viridis').subarray(765, 768)]);

    // GPU stage times and wall-clock times in separate, labelled groups.
    expect(await page.$$eval('#gpu-times tr[data-stage]', (trs) => trs.map((t) => (t as HTMLElement).dataset.stage))).toEqual(['preprocess', 'forward', 'backward', 'cam', 'overlay']);
    expect(await page.$$eval('#wall-times tr[data-wall] td:first-child', (tds) => tds.map((t) => t.textContent))).toEqual([
      'new image: forward + map + overlay',
      'new class, method, layer or score: backward + map + overlay',
      'new α, blend or colormap: overlay only',
    ]);
    const wall = await page.$$eval('#wall-times tr[data-wall] td:last-child', (tds) => tds.map((t) => Number(t.textContent)));
    console.log(`page wall times (ms): new image ${wall[0]}, new class/layer ${wall[1]}, new α/blend/colormap ${wall[2]}`);
    await page.screenshot({ path: join(artifacts, 'demo-page.png'), fullPage: true });

    // The class box: a label in any case, a wnid, an index; an unknown name says what to type.
    for (const [i, q] of ['african elephant', 'n02504458', '386'].entries()) {
      const n = (await stageCounts(page)).backward;
      await setValue(page, '#class-search', q, 'change');
      await waitForCount(page, 'backward', n);
      await waitForStatus(page, '\\(386\\) at block4_conv3');
      expect(await page.$eval('#class-search', (e) => (e as HTMLInputElement).value), q).toBe('African_elephant (386)');
      expect((await stageCounts(page)).forward, `${q} (#${i})`).toBe(1);
    }
    await setValue(page, '#class-search', 'eleph', 'input');
    expect(await page.$$eval('#classes option', (os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(expect.arrayContaining(['Indian_elephant (385)', 'African_elephant (386)']));
    await setValue(page, '#class-search', 'no such thing', 'change');
    expect(await page.$eval('#status', (e) => e.textContent)).toMatch(/^'no such thing' matches no ImageNet class: type a label \(African elephant\), a wnid \(n02504458\) or an index/);
    expect(await page.$eval('#status', (e) => e.className)).toBe('error');

    // Exports: the overlay as PNG and the heatmap as .npy, of what is shown.
    const downloads = mkdtempSync(join(tmpdir(), 'gradcam-downloads-'));
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    await page.click('#save-heatmap');
    await page.click('#save-overlay');
    const waitFile = async (pattern: RegExp) => {
      for (let i = 0; i < 100; i++) {
        const f = readdirSync(downloads).find((n) => pattern.test(n));
        if (f) return join(downloads, f);
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no download matching ${pattern} in ${downloads}`);
    };
    const npy = decodeNpy(readFileSync(await waitFile(/^gradcam-block4_conv3-386\.npy$/)), 'heatmap.npy');
    expect(npy.shape).toEqual([28, 28]);
    const shownMap = await page.evaluate(() => document.getElementById('heatmap-caption')!.textContent);
    expect(shownMap).toMatch(/28×28 cells at block4_conv3/);
    expect(Math.max(...npy.data)).toBeCloseTo(1, 6);
    const png = PNG.sync.read(readFileSync(await waitFile(/^gradcam-African_elephant\.png$/)));
    expect([png.width, png.height]).toEqual([photo.width, photo.height]);
    const ovNow = await canvasPixels(page, 'overlay');
    expect(errorStats(png.data, ovNow.data).maxAbs).toBe(0);
    rmSync(downloads, { recursive: true, force: true });

    // Another method: backward + map + overlay on the kept forward; the engine's HiResCAM map in Node.
    before = await stageCounts(page);
    await page.select('#method', 'hirescam');
    await waitForStatus(page, "^HiResCAM of 'African_elephant' \\(386\\) at block4_conv3");
    expect(diff(before, await stageCounts(page))).toEqual({ preprocess: 0, forward: 0, backward: 1, cam: 1, overlay: 1 });
    const hires = await canvasPixels(page, 'heatmap');
    expect(heatmapCanvasMismatches(hires, nodeHires.heatmap, colormap('viridis')).slice(0, 5), "HiResCAM canvas vs Node's map").toEqual([]);
    expect(heatmapCanvasMismatches(hires, nodeLayer.heatmap, colormap('viridis')).length, 'HiResCAM canvas vs the Grad-CAM map').toBeGreaterThan(0);

    // A pixel-level map in the second canvas: saliency of the same class on the kept forward (one
    // backward to the image, no forward), the engine's rendering in Node at the photo's size within
    // RENDERING_TOL (float order may move a value across a uint8 level; a few pixels do).
    expect(await page.$$eval('#pixel-method option', (os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(['', ...PIXEL_METHODS]);
    expect(await page.$eval('#pixels-figure', (e) => (e as HTMLElement).hidden)).toBe(true);
    before = await stageCounts(page);
    const tPixels = performance.now();
    await page.select('#pixel-method', 'saliency');
    await waitForStatus(page, "^Saliency of 'African_elephant' \\(386\\), score logit: \\d+ ms on the kept forward\\.$");
    const pixelsMs = performance.now() - tPixels;
    const { result: nodePixels, ms: nodePixelsMs } = await nodePixelsRun!;
    expect(diff(before, await stageCounts(page))).toEqual({ preprocess: 0, forward: 0, backward: 1, cam: 0, overlay: 0 });
    const saliency = await canvasPixels(page, 'pixels');
    expect([saliency.width, saliency.height]).toEqual([photo.width, photo.height]);
    const gm = renderingCanvasMismatches(saliency, nodePixels.rendering);
    console.log(`saliency: page step ${pixelsMs.toFixed(0)} ms (Node's, run while the page loaded: ${nodePixelsMs.toFixed(0)} ms); canvas max |page − Node| ${gm.maxAbs}, ${gm.differing} of ${photo.width * photo.height} pixels differ (±${RENDERING_TOL} allowed)`);
    expect(gm.mismatches.slice(0, 5), `saliency canvas vs Node's rendering (${gm.mismatches.length} pixels off)`).toEqual([]);
    // Off by a level here and there, not everywhere (which would be a bias, not float order).
    expect(gm.differing, 'pixels off by a float-order level').toBeLessThan(0.05 * photo.width * photo.height);
    // A picture, not a flat grey: the comparison has something to compare.
    expect(new Set(saliency.data.filter((_, i) => i % 4 === 0)).size).toBeGreaterThan(100);
    expect(await page.$eval('#pixels-caption', (e) => e.textContent)).toMatch(
      new RegExp(`^Saliency of 'African_elephant' \\(386\\), score logit\\. Bright: .* Computed at 224×224, resized to ${photo.width}×${photo.height}\\.$`),
    );

    // Next visit: the same choices, from localStorage, without tuning again.
    await page.reload();
    await page.waitForFunction(() => !(document.getElementById('sample') as HTMLButtonElement).disabled, { timeout: 120_000 });
    expect(await page.$eval('#kernels-source', (e) => e.textContent)).toMatch(/^kernel choices from localStorage \(tuned /);
    expect(await page.$$eval('#kernel-choices tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.key))).toEqual(choices);
    expect(errors).toEqual([]);
  }, 900_000);

  it('webcam: a frame, then live mode with frames per second (Chromium’s fake camera)', async () => {
    const page = await browser.newPage();
    const errors = collectErrors(page);
    // ?tune=off runs the default versions (the kernel choice of the first test stays untouched).
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
  }, 600_000);

  it('without converted weights: random weights, said plainly, and nothing logged as an error (no 404)', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'gradcam-no-weights-'));
    process.env.GRADCAM_WEIGHTS_DIR = empty;
    const bare = await preview({ configFile: join(PROJECT_ROOT, 'vite.config.ts'), logLevel: 'warn', preview: { port: 0, strictPort: false } });
    process.env.GRADCAM_WEIGHTS_DIR = dir;
    try {
      const page = await browser.newPage();
      const errors = collectErrors(page);
      await page.goto(`${bare.resolvedUrls!.local[0]}?tune=off`);
      await page.waitForFunction(() => !(document.getElementById('sample') as HTMLButtonElement).disabled, { timeout: 300_000 });
      expect(await page.$eval('#weights-note', (e) => e.textContent)).toMatch(
        /^Random weights: no converted weights are served at weights\/vgg16\/ \(weights\/index\.json does not list them\)\. Run 'npm run weights'.*so predictions and maps are meaningless\.$/,
      );
      expect(await page.$eval('#status', (e) => e.textContent)).toMatch(/^Ready \([\d.]+ s\)\. Choose an image\.$/);
      expect(errors).toEqual([]);
    } finally {
      await new Promise<void>((r) => bare.httpServer.close(() => r()));
      rmSync(empty, { recursive: true, force: true });
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
