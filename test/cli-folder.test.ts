// `gradcam <image|dir|glob>… --out <dir>` (folder mode), end to end through bin/gradcam.js on full-size
// synthetic VGG16 weights, sized for CI: four images and one damaged file in a nested tree, one image
// whose outputs exist before the first run; three images explained in all, by two runs that open the engine.
//   A: Ctrl-C after the first image's line: the image at work is finished, exit 130, no temporary file,
//      results.jsonl lists what was done;
//   B: the rerun does the rest: the damaged file named in one line, exit 1, outputs (overlays and maps)
//      mirror the tree, the pre-existing output untouched, results.jsonl checked line by line, index.html
//      in headless Chromium (file:// and http://): every image shown, no console error, sorting;
//   C: a third run skips everything done without loading the weights;
//   D: --force with a pattern that matches one done image puts it back to work, and two Ctrl-C in a row
//      stop at once (before its forward: the redo itself is the path A and B ran), nothing partial left.
// Before them, the CPU-only parts (which files, which outputs, the gallery's escaping, the progress line).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignOutputs, findImages, segmentRegExp, splitGlob, type ImageRecord } from '../scripts/lib/folder.js';
import { escapeHtml, galleryHtml, relativeUrl } from '../scripts/lib/gallery.js';
import { batchProgress, formatDuration, progressLine } from '../scripts/lib/progress.js';
import { collectErrors, launchChromium, PROJECT_ROOT } from './support/chromium.js';
import { syntheticPhoto } from './support/images.js';

const PYTHON = '/usr/bin/python3'; // Debian's, with python3-pil (a plain `python3` may be a pyenv shim)
const dir = mkdtempSync(join(tmpdir(), 'gradcam-folder-'));
const weights = join(dir, 'vgg16');
const cacheDir = join(dir, 'cache');
const photos = join(dir, 'photos');
const out = join(dir, 'out');
const BIN = join(PROJECT_ROOT, 'bin/gradcam.js');
// The special characters a gallery must escape and a URL must encode, in one name.
const ODD = 'b/three #1 & <i>.png';
// The inputs below photos/, sorted as the CLI sorts them, and their outputs below --out.
const IMAGES = [
  ['a/deep/one.PNG', 'a/deep/one.png'],
  ['a/two.jpg', 'a/two.png'],
  ['b/four.png', 'b/four.png'],
  [ODD, 'b/three #1 & <i>.png'],
  ['c/broken.png', 'c/broken.png'],
] as const;
const SIZES: Record<string, [number, number]> = { 'a/deep/one.PNG': [120, 90], 'a/two.jpg': [96, 72], 'b/four.png': [80, 64], [ODD]: [70, 100] };
let preExisting: Buffer;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs `gradcam` in `dir` (so inputs are named photos/…); `onStderr` sees stderr as it grows. */
function gradcam(args: string[], onStderr?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, GRADCAM_CACHE_DIR: cacheDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d;
    onStderr?.(stderr, child);
  });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, seconds: (performance.now() - t0) / 1000 })));
}
const common = ['--out', 'out', '--weights', weights, '--tune', 'off', '--heatmap'];

const filesUnder = (root: string): string[] =>
  readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).split('\\').join('/'))
    .sort();
const records = (): ImageRecord[] =>
  readFileSync(join(out, 'results.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ImageRecord);
const pngSize = (path: string) => {
  const p = PNG.sync.read(readFileSync(path));
  return [p.width, p.height];
};

beforeAll(async () => {
  const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--import', './scripts/lib/registerRaw.js', 'scripts/weights.ts', '--synthetic', '--seed', '3', '--out', weights]);
  expect(r.stderr).not.toMatch(/^error/m);
  // PNGs written by PIL, a JPEG by cjpeg (from a PPM), a PNG cut short, and files that are not images.
  for (const d of ['a/deep', 'b', 'c']) mkdirSync(join(photos, d), { recursive: true });
  const pil = `
import json, sys
from PIL import Image
for path, (w, h), seed in json.load(sys.stdin):
    Image.frombytes('RGB', (w, h), bytes((x * 7 + y * 13 + seed * 31 + (x * y) % 17) % 256 for y in range(h) for x in range(w) for _ in range(3))).save(path)
`;
  const jobs = ['a/deep/one.PNG', 'b/four.png', ODD].map((f, i) => [join(photos, f), SIZES[f], i]);
  execFileSync(PYTHON, ['-c', pil], { input: JSON.stringify(jobs) });
  const [w, h] = SIZES['a/two.jpg'];
  const rgba = syntheticPhoto(w, h, 4).data;
  const ppm = Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`), Buffer.from(rgba.filter((_, i) => i % 4 !== 3))]);
  writeFileSync(join(dir, 'two.ppm'), ppm);
  execFileSync('cjpeg', ['-quality', '90', '-outfile', join(photos, 'a/two.jpg'), join(dir, 'two.ppm')]);
  writeFileSync(join(photos, 'c/broken.png'), readFileSync(join(photos, 'b/four.png')).subarray(0, 120));
  writeFileSync(join(photos, 'notes.txt'), 'not an image\n');
  writeFileSync(join(photos, 'b/.hidden.png'), 'dot-files are left out\n');
  // Outputs made before any run (by hand): the runs must leave them as they are.
  mkdirSync(join(out, 'b'), { recursive: true });
  copyFileSync(join(photos, 'b/four.png'), join(out, 'b/four.png'));
  writeFileSync(join(out, 'b/four.npy'), 'made by hand');
  preExisting = readFileSync(join(out, 'b/four.png'));
}, 180_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('folder mode, CPU parts', () => {
  it('finds the images of a tree, a file and a pattern, sorted, with their outputs', () => {
    const tree = findImages([photos], out);
    expect(tree.map((i) => [relative(photos, i.file), i.output])).toEqual(IMAGES.map(([f, o]) => [f, o]));
    // A file argument: its basename; a pattern: the path below the pattern's directory.
    expect(findImages([join(photos, 'a/two.jpg')]).map((i) => i.output)).toEqual(['two.png']);
    expect(findImages([join(photos, '**/t*.*')]).map((i) => i.output)).toEqual(['a/two.png', 'b/three #1 & <i>.png']);
    expect(findImages([join(photos, '*/f?ur.png')]).map((i) => i.output)).toEqual(['b/four.png']);
    expect(findImages([join(photos, 'a/**')]).map((i) => i.output)).toEqual(['deep/one.png', 'two.png']);
    // The output directory inside the input tree is never entered.
    expect(findImages([dir], out).some((i) => i.file.startsWith(out))).toBe(false);
    expect(() => findImages([join(photos, 'nothing-*.png')])).toThrow(/the pattern matches no \.png, \.jpg or \.jpeg file/);
    expect(() => findImages([join(photos, 'absent.png')])).toThrow(/absent\.png: no such file or directory/);
  });

  it('patterns: * and ? stay in one segment and skip dot-files, ** spans directories', () => {
    expect(segmentRegExp('*.png').test('a.png')).toBe(true);
    expect(segmentRegExp('*.png').test('.a.png')).toBe(false);
    expect(segmentRegExp('a?.jpg').test('ab.jpg')).toBe(true);
    expect(segmentRegExp('a?.jpg').test('abc.jpg')).toBe(false);
    expect(segmentRegExp('(x)+[y].png').test('(x)+[y].png')).toBe(true);
    expect(splitGlob('photos/**/*.jpg')).toEqual({ base: 'photos', segments: ['**', '*.jpg'] });
    expect(splitGlob('*.png')).toEqual({ base: '.', segments: ['*.png'] });
    expect(splitGlob('/x/y/*')).toEqual({ base: '/x/y', segments: ['*'] });
  });

  it('outputs: same-stem images keep their extension; two inputs with one output are refused', () => {
    expect(assignOutputs([{ file: 'p/x.jpg', rel: 'x.jpg' }, { file: 'p/x.png', rel: 'x.png' }, { file: 'p/y.jpeg', rel: 'y.jpeg' }]).map((i) => i.output)).toEqual([
      'x.jpg.png',
      'x.png.png',
      'y.png',
    ]);
    expect(() => assignOutputs([{ file: 'p/x.jpg', rel: 'x.jpg' }, { file: 'q/x.jpg', rel: 'x.jpg' }])).toThrow(/p\/x\.jpg and q\/x\.jpg would both be written as x\.png/);
  });

  it('gallery: every name escaped, every link encoded', () => {
    const evil = 'a/<img src=x onerror=alert(1)> & "q" \'s #1%.jpg';
    const html = galleryHtml([
      { file: evil, output: 'a/<img src=x onerror=alert(1)> & "q" \'s #1%.png', outputs: [], predictions: [{ classIndex: 1, wnid: 'n1', name: '<b>fish</b>', probability: 0.5 }] },
      { file: '<script>alert(2)</script>.png', output: 'x.png', outputs: [], error: 'damaged <script>' },
    ]);
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<b>fish');
    expect(html).toContain(escapeHtml(evil));
    expect(relativeUrl('a b/#1 & <i>%.png')).toBe('a%20b/%231%20%26%20%3Ci%3E%25.png');
    expect(html).toContain('href="a/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E%20%26%20%22q%22%20\'s%20%231%25.png"'.replace("'", '&#39;'));
  });

  it('progress: a bar with rate and ETA on a terminal, one line per image elsewhere', () => {
    expect(formatDuration(7.4)).toBe('0:07');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(progressLine(3, 10, 0.5, 'photos/a.jpg', 80)).toBe('3/10 [######--------------] 0.50 img/s ETA 0:14 photos/a.jpg');
    expect(progressLine(0, 4, undefined, undefined)).toBe('0/4 [--------------------] –.– img/s ETA –:––');
    expect(progressLine(1, 2, 1, 'x'.repeat(200), 60)).toHaveLength(60);
    expect(progressLine(1, 3, 0.0183, 'photos/a.jpg', 100)).toBe('1/3 [#######-------------] 0.018 img/s ETA 1:49 photos/a.jpg');
    // Narrow: the bar goes before the numbers or the name.
    expect(progressLine(1, 3, 0.0183, 'photos/a.jpg', 40)).toBe('1/3 0.018 img/s ETA 1:49 photos/a.jpg');
    let written = '';
    let t = 0;
    const tty = batchProgress(2, { isTTY: true, columns: 80, write: (s) => (written += s) }, () => t);
    tty.start('a.png');
    t = 2000;
    tty.finished('[1/2] a.png done', { counted: true });
    expect(written).not.toContain('\n');
    expect(written).toMatch(/\r1\/2 \[#{10}-{10}\] 0\.50 img\/s ETA 0:02\x1b\[K$/);
    tty.finished('[2/2] failed b.png: damaged', { counted: false, keep: true });
    expect(written).toContain('[2/2] failed b.png: damaged\n');
    written = '';
    const plain = batchProgress(2, { isTTY: false, write: (s) => (written += s) });
    plain.start('a.png');
    plain.detail('gradcam 3/10');
    plain.finished('[1/2] a.png done', { counted: true });
    expect(written).toBe('[1/2] a.png done\n');
  });
});

describe('folder mode, end to end', () => {
  const leftoverTemps = () => filesUnder(out).filter((f) => /\.tmp-\d+$/.test(f));

  it('A: Ctrl-C after the first image finishes the one at work, records both, exits 130', async () => {
    let sent = false;
    const r = await gradcam(['photos', ...common], (text, child) => {
      if (!sent && /^\[1\/4\] .* → /m.test(text)) (sent = true), child.kill('SIGINT');
    });
    console.log(`A (interrupted after 2 images): ${r.seconds.toFixed(1)} s`);
    expect(sent, r.stderr).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/^SIGINT: finishing the current image, then stopping \(Ctrl-C again stops at once\)$/m);
    expect(r.stderr).toMatch(/^5 images: 4 to explain, 1 done already in out \(skipped; --force redoes them\) → out$/m);
    expect(r.stderr).toMatch(/^interrupted by SIGINT: explained 2 images, 1 done already; wrote out\/results\.jsonl and out\/index\.html; 2 images left: run the same command again to continue$/m);
    // The image at work when the signal came was finished: both written whole, maps next to them.
    expect(filesUnder(out)).toEqual(['a/deep/one.npy', 'a/deep/one.png', 'a/two.npy', 'a/two.png', 'b/four.npy', 'b/four.png', 'index.html', 'results.jsonl']);
    expect(pngSize(join(out, 'a/deep/one.png'))).toEqual(SIZES['a/deep/one.PNG']);
    expect(pngSize(join(out, 'a/two.png'))).toEqual(SIZES['a/two.jpg']);
    expect(leftoverTemps()).toEqual([]);
    const rs = records();
    expect(rs.map((x) => [x.file, x.predictions ? 'explained' : x.unrecorded ? 'unrecorded' : 'other'])).toEqual([
      ['photos/a/deep/one.PNG', 'explained'],
      ['photos/a/two.jpg', 'explained'],
      ['photos/b/four.png', 'unrecorded'],
    ]);
  }, 400_000);

  it('B: the rerun does the rest: the damaged file in one line, exit 1, the tree mirrored, results.jsonl and the gallery', async () => {
    const before = statSync(join(out, 'a/two.png')).mtimeMs;
    const r = await gradcam(['photos', ...common]);
    console.log(`B (1 image, 1 damaged): ${r.seconds.toFixed(1)} s`);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^5 images: 2 to explain, 3 done already in out/m);
    const broken = r.stderr.split('\n').filter((l) => l.includes('broken'));
    expect(broken).toEqual(['[2/2] failed photos/c/broken.png: truncated PNG: the file ends after 120 bytes, inside the pixel data; download or export it again; skipped']);
    expect(r.stdout).toBe('explained 1 image, 1 failed, 3 done already; wrote out/results.jsonl and out/index.html\n');
    expect(filesUnder(out)).toEqual([
      'a/deep/one.npy',
      'a/deep/one.png',
      'a/two.npy',
      'a/two.png',
      'b/four.npy',
      'b/four.png',
      'b/three #1 & <i>.npy',
      'b/three #1 & <i>.png',
      'index.html',
      'results.jsonl',
    ]);
    expect(statSync(join(out, 'a/two.png')).mtimeMs).toBe(before);
    expect(readFileSync(join(out, 'b/four.png')).equals(preExisting)).toBe(true);
    expect(pngSize(join(out, ODD))).toEqual(SIZES[ODD]);
    // results.jsonl: one JSON object per line, one line per image, in the tree's order.
    const lines = readFileSync(join(out, 'results.jsonl'), 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(5);
    const rs = lines.map((l) => JSON.parse(l) as ImageRecord);
    expect(rs.map((x) => x.file)).toEqual(IMAGES.map(([f]) => `photos/${f}`));
    for (const x of rs.filter((x) => x.predictions)) {
      const [w, h] = SIZES[x.file.slice('photos/'.length)];
      expect(x).toMatchObject({ width: w, height: h, method: 'gradcam', layers: ['block5_conv3'], score: 'prob' });
      expect(x.outputs).toEqual([x.output, x.output.replace(/\.png$/, '.npy')]);
      expect(x.predictions).toHaveLength(5);
      expect(Object.keys(x.predictions![0])).toEqual(['classIndex', 'wnid', 'name', 'probability']);
      expect(x.classIndex).toBe(x.predictions![0].classIndex);
      expect(x.target).toBe(`class:${x.classIndex}`);
      expect(x.timingsMs!.forward).toBeGreaterThan(0);
      expect(x.timingsMs!.total).toBeGreaterThanOrEqual(x.timingsMs!.forward);
      // The heatmap next to the overlay: Grad-CAM at block5_conv3 is 14×14.
      const npy = readFileSync(join(out, x.outputs[1]));
      expect(npy.subarray(10, 10 + npy.readUInt16LE(8)).toString('latin1')).toMatch(/'shape': \(14, 14\)/);
      expect(npy.length).toBe(10 + npy.readUInt16LE(8) + 4 * 14 * 14);
    }
    expect(rs.filter((x) => x.predictions)).toHaveLength(3);
    expect(rs[2]).toEqual({ file: 'photos/b/four.png', output: 'b/four.png', outputs: ['b/four.png', 'b/four.npy'], unrecorded: true });
    expect(readFileSync(join(out, 'b/four.npy'), 'utf8')).toBe('made by hand');
    expect(rs[4]).toEqual({ file: 'photos/c/broken.png', output: 'c/broken.png', outputs: [], error: expect.stringMatching(/^truncated PNG: /) });
    await checkGallery(rs);
  }, 400_000);

  it('C: a third run skips every image done without loading the weights', async () => {
    const r = await gradcam(['photos', ...common]);
    console.log(`C (nothing to explain): ${r.seconds.toFixed(1)} s`);
    // The damaged file is tried again (it has no output), and fails again: exit 1.
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^5 images: 1 to explain, 4 done already in out/m);
    expect(r.stderr).not.toMatch(/loaded vgg16 weights|tuning/);
    expect(r.seconds).toBeLessThan(15);
    expect(records()).toHaveLength(5);
    // Without the damaged file: nothing to do at all.
    const clean = await gradcam(['photos/**/*.jpg', ...common]);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stderr).toMatch(/^nothing to do: the image is done in out \(--force redoes them\); weights not loaded/m);
  }, 60_000);

  it('D: --force puts a done image back to work; a second Ctrl-C stops at once, records written, nothing partial', async () => {
    const mtimes = () => Object.fromEntries(filesUnder(out).map((f) => [f, statSync(join(out, f)).mtimeMs]));
    const before = mtimes();
    const earlier = readFileSync(join(out, 'results.jsonl'), 'utf8');
    let sent = false;
    // Quoted: the pattern is gradcam's, not the shell's.
    const r = await gradcam(['photos/**/tw?.jpg', ...common, '--force'], (text, child) => {
      if (!sent && /to explain/.test(text)) {
        sent = true;
        child.kill('SIGINT');
        setTimeout(() => child.kill('SIGINT'), 300);
      }
    });
    console.log(`D (--force, stopped at once): ${r.seconds.toFixed(1)} s`);
    expect(r.code, r.stderr).toBe(130);
    // Done, and still put back to work: --force.
    expect(r.stderr).toMatch(/^1 image: 1 to explain → out$/m);
    expect(r.stderr).toMatch(/^SIGINT again: stopped at once; out\/results\.jsonl and out\/index\.html list the 0 images explained$/m);
    expect(r.seconds).toBeLessThan(30);
    // Nothing else touched, nothing partial: the records as they were (rewritten), no temporary file.
    const after = mtimes();
    expect(Object.keys(after).filter((f) => after[f] !== before[f]).sort()).toEqual(['index.html', 'results.jsonl']);
    expect(readFileSync(join(out, 'results.jsonl'), 'utf8')).toBe(earlier);
    expect(leftoverTemps()).toEqual([]);
  }, 60_000);
});

/** index.html from file:// and from http://: no console error, every image loaded, the sort buttons. */
async function checkGallery(rs: ImageRecord[]): Promise<void> {
  const shown = rs.filter((x) => !x.error);
  const server: Server = createServer((req, res) => {
    const path = join(out, decodeURIComponent(new URL(req.url!, 'http://x').pathname));
    if (!path.startsWith(out) || !existsSync(path) || statSync(path).isDirectory()) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': { '.html': 'text/html; charset=utf-8', '.png': 'image/png' }[extname(path)] ?? 'application/octet-stream' }).end(readFileSync(path));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const browser: Browser = await launchChromium();
  try {
    for (const url of [pathToFileURL(join(out, 'index.html')).href, `http://127.0.0.1:${port}/index.html`]) {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 2000 });
      const errors = collectErrors(page);
      await page.goto(url, { waitUntil: 'load' });
      await page.waitForFunction(() => [...document.images].filter((i) => i.closest('#cards')).every((i) => i.complete), { timeout: 20_000 });
      const names = () => page.$$eval('#cards .card .name', (els) => els.map((e) => e.textContent));
      const loaded = await page.$$eval('#cards img', (imgs) => imgs.map((i) => [(i as HTMLImageElement).alt, (i as HTMLImageElement).naturalWidth] as const));
      expect(loaded.map(([alt]) => alt)).toEqual(shown.map((x) => x.file));
      for (const [alt, w] of loaded) expect(w, `${alt} from ${url}`).toBeGreaterThan(0);
      // The names as they were, escaped once: the odd one reads as itself.
      expect(await names()).toEqual(shown.map((x) => x.file));
      expect(await page.$eval('.failed', (e) => e.textContent)).toContain('photos/c/broken.png: truncated PNG');
      // Probability: highest first (the one without a record last); again: the other way; name: back.
      const byProbability = shown.filter((x) => x.predictions).sort((a, b) => b.predictions![0].probability - a.predictions![0].probability);
      await page.click('button[data-key="probability"]');
      expect(await names()).toEqual([...byProbability.map((x) => x.file), 'photos/b/four.png']);
      await page.click('button[data-key="probability"]');
      expect(await names()).toEqual([...byProbability.reverse().map((x) => x.file), 'photos/b/four.png']);
      await page.click('button[data-key="name"]');
      expect(await names()).toEqual(shown.map((x) => x.file));
      // A thumbnail opens the image at full size in the page.
      await page.click(`#cards a.thumb[href="${relativeUrl(shown[3].output)}"]`);
      await page.waitForFunction(() => (document.querySelector('#full img') as HTMLImageElement).naturalWidth > 0, { timeout: 10_000 });
      expect(await page.$eval('#full p', (e) => e.textContent)).toBe(`photos/${ODD}`);
      expect(errors, url).toEqual([]);
      await page.close();
    }
  } finally {
    await browser.close();
    server.close();
  }
}
