// The package as a user gets it: `npm pack`, installed from the tarball into an empty project offline
// (its dependencies from the npm cache that `npm ci` filled), then
//   (a) a Node script imports 'gradcam-webgpu/node' and runs Grad-CAM on small seeded weights;
//   (b) a minimal vite app imports 'gradcam-webgpu', is built by vite, and runs in headless Chromium.
// Both assert results. Also: the packed size and file list, and that the browser bundle holds nothing
// of the Node host (Dawn, node: modules).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, preview } from 'vite';
import { PNG } from 'pngjs';
import { convertKerasH5 } from '../src/hosts/node/keras/convert.js';
import { writeSyntheticKerasH5 } from '../src/hosts/node/keras/syntheticH5.js';
import type { ModelSpec } from '../src/node.js';
import { collectErrors, launchChromium } from './support/chromium.js';
import { syntheticPhoto } from './support/images.js';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'gradcam-package-'));
const consumer = join(dir, 'consumer');
let tarball = '';
let nodeResult: Record<string, number>;
let packed: { files: { path: string }[]; size: number; unpackedSize: number };

// A VGG-shaped model small enough to run in a second on a CPU adapter; its layer names are Keras'.
const MODEL = `{
  name: 'tinyvgg',
  inputShape: [32, 32, 3],
  layers: [
    { name: 'block1_conv1', kind: 'conv3x3', filters: 8, activation: 'relu' },
    { name: 'block1_pool', kind: 'maxpool2x2' },
    { name: 'block2_conv1', kind: 'conv3x3', filters: 8, activation: 'relu' },
    { name: 'block2_pool', kind: 'maxpool2x2' },
    { name: 'flatten', kind: 'flatten' },
    { name: 'predictions', kind: 'dense', units: 10, activation: 'softmax' },
  ],
}`;
// The same program in both hosts: open, run, report what a user would look at.
const PROGRAM = `
const model = ${MODEL};
const { cam, weights, close } = await openGradCam({ weights: { model, tensors: heNormalWeights(model, { seed: 4 }) }, tune: 'off' });
const r = await cam.run(syntheticPhoto(48, 40, 2), { layer: 'block2_conv1', top: 3 });
const result = {
  predictions: r.predictions.length,
  probabilitySum: r.predictions.reduce((s, p) => s + p.probability, 0),
  heatmap: [r.heatmap.height, r.heatmap.width],
  heatmapMax: Math.max(...r.heatmap.data),
  heatmapPositive: r.heatmap.data.filter((v) => v > 0).length,
  heatmapSum: r.heatmap.data.reduce((a, b) => a + b, 0),
  heatmapFinite: r.heatmap.data.every(Number.isFinite),
  warnings: r.warnings,
  top: r.predictions[0].index,
  overlay: [r.overlay.width, r.overlay.height, r.overlay.data.length],
  layer: r.layer,
  weights,
};
close();
`;

type LockEntry = { version: string; resolved?: string; integrity?: string; dependencies?: Record<string, string>; dev?: boolean; [k: string]: unknown };

function consumerLock(spec: string) {
  const repo = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, LockEntry> };
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string; dependencies: Record<string, string>; bin: Record<string, string> };
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', dependencies: { 'gradcam-webgpu': spec } },
    'node_modules/gradcam-webgpu': { version: pkg.version, resolved: spec, integrity, dependencies: pkg.dependencies, bin: pkg.bin },
  };
  const todo = Object.keys(pkg.dependencies);
  while (todo.length) {
    const name = todo.pop()!;
    if (packages[`node_modules/${name}`]) continue;
    const entry = repo.packages[`node_modules/${name}`];
    if (!entry) throw new Error(`package-lock.json has no hoisted entry for ${name}`);
    const { dev: _dev, ...kept } = entry;
    packages[`node_modules/${name}`] = kept;
    todo.push(...Object.keys(entry.dependencies ?? {}));
  }
  return { name: 'consumer', lockfileVersion: 3, requires: true, packages };
}

beforeAll(async () => {
  // npm pack runs the prepack build (dist/lib, dist/types) first.
  const { stdout } = await exec('npm', ['pack', '--json', '--pack-destination', dir], { maxBuffer: 1 << 24 });
  [packed] = JSON.parse(stdout.slice(stdout.indexOf('[')));
  tarball = join(dir, (packed as unknown as { filename: string }).filename);
  mkdirSync(consumer);
  const spec = `file:../${basename(tarball)}`;
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { 'gradcam-webgpu': spec } }));
  // Offline, npm can install only what a lockfile pins (the npm cache that `npm ci` filled holds the
  // tarballs, not the registry's metadata): pin the package's dependencies to the versions, URLs and
  // hashes of this repository's lockfile, as a user's `npm install` would have resolved them today.
  writeFileSync(join(consumer, 'package-lock.json'), JSON.stringify(consumerLock(spec)));
  await exec('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: consumer, maxBuffer: 1 << 24 });
}, 600_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the packed package', () => {
  it('is small and holds only the built files', () => {
    const size = statSync(tarball).size;
    console.log(`npm pack: ${(size / 1e3).toFixed(0)} kB packed, ${(packed.unpackedSize / 1e6).toFixed(2)} MB unpacked, ${packed.files.length} files`);
    expect(size).toBeLessThan(2e6);
    const paths = packed.files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['package.json', 'README.md', 'bin/gradcam.js', 'dist/lib/browser/index.js', 'dist/lib/node/node.js', 'dist/lib/node/gradcam.js', 'dist/types/src/index.d.ts', 'dist/types/src/node.d.ts']));
    expect(paths.filter((p) => !/^(dist\/(lib|types)\/|bin\/|package\.json$|README\.md$)/.test(p))).toEqual([]);
    // No TypeScript sources, WGSL files or tsx at run time: the shaders are inlined.
    expect(paths.some((p) => /\.(wgsl|tmpl)$/.test(p) || (p.endsWith('.ts') && !p.endsWith('.d.ts')))).toBe(false);
    const pkg = JSON.parse(readFileSync(join(consumer, 'node_modules/gradcam-webgpu/package.json'), 'utf8'));
    expect(Object.keys(pkg.dependencies)).not.toContain('tsx');
  });

  it('(a) Node: imports gradcam-webgpu/node and runs Grad-CAM', async () => {
    writeFileSync(join(consumer, 'run.mjs'), `import { openGradCam, heNormalWeights, syntheticPhoto } from 'gradcam-webgpu/node';\n${PROGRAM}\nconsole.log(JSON.stringify(result));\n`);
    const { stdout, stderr } = await exec(process.execPath, ['run.mjs'], { cwd: consumer });
    expect(stderr).toBe('');
    const result = JSON.parse(stdout.trim());
    expect(result).toMatchObject({ predictions: 3, heatmap: [16, 16], heatmapFinite: true, overlay: [48, 40, 48 * 40 * 4], layer: 'block2_conv1', weights: { model: 'tinyvgg', synthetic: false } });
    // A real map: normalised to 1, positive over part of the 16×16 grid (this seed: ~100 cells), no warning.
    expect(result.heatmapMax).toBe(1);
    expect(result.heatmapPositive).toBeGreaterThan(20);
    expect(result.warnings).toEqual([]);
    expect(result.probabilitySum).toBeGreaterThan(0);
    nodeResult = result;
    // The bare name gives the Node build in Node too; the CLI runs from the built JavaScript.
    const bare = await exec(process.execPath, ['--input-type=module', '-e', "import('gradcam-webgpu').then((m) => console.log(typeof m.openGradCam, typeof m.readImage))"], { cwd: consumer });
    expect(bare.stdout.trim()).toBe('function function');
    const help = await exec(join(consumer, 'node_modules/.bin/gradcam'), ['--help'], { cwd: consumer });
    expect(help.stdout).toMatch(/^usage: gradcam /);
  }, 120_000);

  it('(b) browser: a vite app imports gradcam-webgpu, builds without the Node host, and runs in Chromium', async () => {
    const web = join(consumer, 'web');
    mkdirSync(web);
    writeFileSync(join(web, 'index.html'), '<!doctype html><meta charset="utf-8"><title>consumer</title><script type="module" src="./main.js"></script>');
    writeFileSync(
      join(web, 'main.js'),
      `import { openGradCam, heNormalWeights, syntheticPhoto } from 'gradcam-webgpu';\n` +
        `try {\n${PROGRAM}\nwindow.__result = result;\n} catch (e) { window.__result = { error: String(e) }; }\n`,
    );
    await build({ root: web, configFile: false, logLevel: 'error', build: { outDir: join(web, 'dist'), target: 'es2022' } });
    const js = readdirSync(join(web, 'dist/assets')).filter((f) => f.endsWith('.js'));
    const bundle = js.map((f) => readFileSync(join(web, 'dist/assets', f), 'utf8')).join('\n');
    expect(bundle).toContain('@compute'); // the WGSL, inlined
    expect(bundle).not.toMatch(/node:(fs|path|zlib|child_process)|dawn\.node|requestNodeAdapter|vk_swiftshader/);
    console.log(`consumer bundle: ${(bundle.length / 1e3).toFixed(0)} kB`);
    const server = await preview({ root: web, configFile: false, logLevel: 'error', preview: { host: '127.0.0.1', port: 0 }, build: { outDir: join(web, 'dist') } });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors = collectErrors(page, [/favicon\.ico/]);
      await page.goto(server.resolvedUrls!.local[0]);
      await page.waitForFunction(() => (window as { __result?: unknown }).__result !== undefined, { timeout: 120_000 });
      const result = await page.evaluate(() => (window as unknown as { __result: Record<string, unknown> }).__result);
      expect(result.error).toBeUndefined();
      expect(result).toMatchObject({ predictions: 3, heatmap: [16, 16], heatmapFinite: true, overlay: [48, 40, 48 * 40 * 4], layer: 'block2_conv1' });
      expect(result.heatmapMax).toBe(1);
      expect(result.warnings).toEqual([]);
      // The same program on Chromium's WebGPU gives the same map as on Dawn in Node (float32 sums in
      // possibly other orders: 1e-4 on a sum of ~100 values in [0, 1]).
      expect(result.top).toBe(nodeResult.top);
      expect(result.heatmapPositive).toBe(nodeResult.heatmapPositive);
      expect(Math.abs((result.heatmapSum as number) - nodeResult.heatmapSum)).toBeLessThan(1e-4);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      await new Promise<void>((r) => server.httpServer.close(() => r()));
    }
  }, 240_000);

  it("(c) the README's browser example, as written, from the installed package", async () => {
    const readme = readFileSync('README.md', 'utf8');
    const block = /In a page \(`test\/package\.test\.ts` runs this block[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toContain("from 'gradcam-webgpu'");
    const options = "{ weights: '/weights/vgg16/' }";
    expect(block).toContain(options);
    // Weights converted from a Keras-layout file for the small model, served at the example's URL.
    const model = new Function(`return ${MODEL}`)() as ModelSpec;
    const web = join(consumer, 'readme');
    mkdirSync(join(web, 'public/weights'), { recursive: true });
    const h5 = join(dir, 'tiny.h5');
    await writeSyntheticKerasH5(h5, model, { seed: 4 });
    await convertKerasH5(h5, join(web, 'public/weights/vgg16'), { models: [model] });
    const photo = syntheticPhoto(48, 40, 2);
    const png = new PNG({ width: photo.width, height: photo.height });
    png.data = Buffer.from(photo.data);
    writeFileSync(join(web, 'public/photo.png'), PNG.sync.write(png));
    writeFileSync(join(web, 'index.html'), '<!doctype html><meta charset="utf-8"><title>readme</title><img src="/photo.png"><canvas></canvas><script type="module" src="./main.js"></script>');
    writeFileSync(join(web, 'main.js'), block!.replace(options, `{ weights: '/weights/vgg16/', models: { tinyvgg: ${MODEL} } }`));
    await build({ root: web, configFile: false, logLevel: 'error', build: { outDir: join(web, 'dist'), target: 'es2022' } });
    const server = await preview({ root: web, configFile: false, logLevel: 'error', preview: { host: '127.0.0.1', port: 0 }, build: { outDir: join(web, 'dist') } });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors = collectErrors(page, [/favicon\.ico/]);
      const logged = new Promise<string>((resolve) => page.on('console', (m) => m.type() === 'log' && resolve(m.text())));
      await page.goto(server.resolvedUrls!.local[0]);
      const line = await Promise.race([logged, new Promise<string>((_, reject) => setTimeout(() => reject(new Error(`no prediction logged; page errors: ${errors.join('; ')}`)), 120_000))]);
      // A 10-class model has no ImageNet labels: the engine names its classes 'class <i>'.
      expect(line).toMatch(/^class \d: (0|1)\.\d{3}$/);
      const canvas = await page.$eval('canvas', (c) => {
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let lit = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 0) lit++;
        return { width: c.width, height: c.height, lit };
      });
      // The overlay at the image's size, drawn: every pixel of the photo plus the blend is non-black.
      expect(canvas).toEqual({ width: 48, height: 40, lit: 48 * 40 });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      await new Promise<void>((r) => server.httpServer.close(() => r()));
    }
  }, 240_000);
});
