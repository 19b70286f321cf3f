// The `gradcam` CLI end to end (through bin/gradcam.js, as `npx gradcam` runs it) on full-size
// synthetic VGG16 weights made by `npm run weights -- --synthetic`: JSON on stdout only, the .npy and
// the overlay; then bad input, each a one-line error, exit code ≠ 0, and no output files.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticPhoto } from './support/images.js';

const dir = mkdtempSync(join(tmpdir(), 'gradcam-cli-'));
const weights = join(dir, 'vgg16');
const image = join(dir, 'photo.png');
// The tuning cache of this test run (not the user's ~/.cache).
const cacheDir = join(dir, 'cache');

function run(cmd: string[], args: string[]) {
  return promisify(execFile)(process.execPath, [...cmd, ...args], { maxBuffer: 1 << 24, env: { ...process.env, GRADCAM_CACHE_DIR: cacheDir } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}
const gradcam = (...args: string[]) => run(['bin/gradcam.js'], args);

beforeAll(async () => {
  const r = await run(['--import', 'tsx', '--import', './scripts/lib/registerRaw.js', 'scripts/weights.ts'], ['--synthetic', '--seed', '3', '--out', weights]);
  expect(r.stderr).not.toMatch(/^error/m);
  const img = syntheticPhoto(123, 77, 5);
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data);
  writeFileSync(image, PNG.sync.write(png));
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gradcam CLI', () => {
  it('--json: one JSON object on stdout; .npy and overlay written with the stated shapes (a method, a class set, two layers)', async () => {
    const out = join(dir, 'overlay.png');
    const npy = join(dir, 'heat.npy');
    // gradcam++ of the sum of two classes at two layers: the 224×224 average of the layers' maps.
    const r = await gradcam(image, '--weights', weights, '--json', '--out', out, '--heatmap', npy, '--top', '4', '--method', 'gradcam++', '--target', 'classes:1,2', '--layer', 'block5_conv3,block4_conv3');
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(Object.keys(json)).toEqual(['predictions', 'method', 'target', 'class', 'layer', 'layers', 'score', 'augSmooth', 'eigenSmooth', 'weights', 'heatmapShape', 'timingsMs']);
    // Random weights are said: in the JSON, and in one warning line on stderr.
    expect(json.weights).toEqual({ model: 'vgg16', synthetic: true, seed: 3 });
    expect(r.stderr.split('\n').filter((l) => l.startsWith('warning:'))).toEqual([
      `warning: ${weights} holds RANDOM vgg16 weights (synthetic, seed 3): predictions and heatmaps are meaningless; run 'npm run weights -- --force' for Keras' ImageNet weights`,
    ]);
    // Quiet: no Vulkan-probe warning from Dawn, no stack locations, nothing but our own lines.
    expect(r.stderr).not.toMatch(/vkCreateInstance|CheckVkSuccessImpl|VK_ERROR|Warning:/);
    for (const line of r.stderr.trim().split('\n')) expect(line).toMatch(/^(warning: |loaded |tuning kernels |kernel choice|tuned )/);
    expect(json.predictions).toHaveLength(4);
    expect(Object.keys(json.predictions[0])).toEqual(['index', 'wnid', 'label', 'probability']);
    expect(json).toMatchObject({ method: 'gradcam++', target: 'classes:1,2', class: 1, layer: 'block5_conv3', layers: ['block5_conv3', 'block4_conv3'], score: 'prob', heatmapShape: [224, 224] });
    expect(json.timingsMs.total).toBeGreaterThan(0);
    const bytes = readFileSync(npy);
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x93, ...Buffer.from('NUMPY'), 1, 0]));
    const headerLength = bytes.readUInt16LE(8);
    expect((10 + headerLength) % 64).toBe(0);
    expect(bytes.subarray(10, 10 + headerLength).toString('latin1')).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(224, 224\), \} *\n$/);
    const heat = new Float32Array(Uint8Array.from(bytes.subarray(10 + headerLength)).buffer);
    expect(heat).toHaveLength(224 * 224);
    expect(Math.max(...heat)).toBeLessThanOrEqual(1);
    expect(heat.every((v) => v >= 0)).toBe(true);
    const overlay = PNG.sync.read(readFileSync(out));
    expect([overlay.width, overlay.height]).toEqual([123, 77]);
  }, 180_000);

  it('a pixel-level method: guided backprop as JSON, its 224×224×3 gradient as .npy and its image as PNG', async () => {
    const out = join(dir, 'guided.png');
    const npy = join(dir, 'guided.npy');
    const r = await gradcam(image, '--weights', weights, '--json', '--method', 'guided-backprop', '--class', '7', '--out', out, '--heatmap', npy);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(Object.keys(json)).toEqual(['predictions', 'method', 'target', 'class', 'score', 'weights', 'heatmapShape', 'timingsMs']);
    expect(json).toMatchObject({ method: 'guided-backprop', target: 'class:7', class: 7, score: 'logit', heatmapShape: [224, 224, 3] });
    const bytes = readFileSync(npy);
    const header = bytes.subarray(10, 10 + bytes.readUInt16LE(8)).toString('latin1');
    expect(header).toMatch(/'descr': '<f4'.*'shape': \(224, 224, 3\)/);
    expect(bytes.length).toBe(10 + bytes.readUInt16LE(8) + 4 * 224 * 224 * 3);
    const png = PNG.sync.read(readFileSync(out));
    expect([png.width, png.height]).toEqual([224, 224]);
    // The deprocessed gradient: grey (128) where it is zero, so not one flat colour.
    expect(new Set(png.data.filter((_, i) => i % 4 === 0)).size).toBeGreaterThan(10);
  }, 300_000);

  let defaultRun: { code: number; stdout: string; stderr: string } | undefined;
  it("the README's Node library example runs and explains the same class as the CLI", async () => {
    // The block under "Use it as a library", as written, with the package name pointed at this checkout's
    // entry point and the paths at this test's synthetic weights and image.
    const readme = readFileSync('README.md', 'utf8');
    const block = /## Use it as a library[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toContain("from 'gradcam-webgpu/node'");
    const script = join(dir, 'example.mts');
    writeFileSync(
      script,
      block!
        .replace("'gradcam-webgpu/node'", JSON.stringify(join(process.cwd(), 'src/node.ts')))
        .replace("'weights/vgg16'", JSON.stringify(weights))
        .replace("'photo.jpg'", JSON.stringify(image)),
    );
    const r = await run(['--import', 'tsx', '--import', './scripts/lib/registerRaw.js', script], []);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    // --verbose too: the next test reads this run's log (one full-size run fewer in CI).
    defaultRun = await gradcam(image, '--weights', weights, '--json', '--verbose');
    const cli = JSON.parse(defaultRun.stdout);
    // The defaults: the recipe's Grad-CAM of the top-1 class at block5_conv3.
    expect(cli).toMatchObject({ method: 'gradcam', target: `class:${cli.predictions[0].index}`, class: cli.predictions[0].index, layers: ['block5_conv3'], heatmapShape: [14, 14] });
    expect(out).toEqual({ class: cli.class, label: cli.predictions[0].label, heatmap: [14, 14], weights: { model: 'vgg16', synthetic: true, seed: 3 } });
  }, 180_000);

  it('tunes kernels once per GPU (the first run above), then reads the cache; --verbose prints the choices and kernels', () => {
    const cache = JSON.parse(readFileSync(join(cacheDir, 'tuning.json'), 'utf8'));
    const tables = Object.values(cache.tables) as { model: string; choices: Record<string, string> }[];
    expect(tables).toHaveLength(1);
    expect(tables[0].model).toBe('vgg16');
    // Every conv shape with several candidates and every dense layer, both directions of the dense ones.
    expect(Object.keys(tables[0].choices)).toEqual(expect.arrayContaining(['conv3x3BiasRelu|14×14×512→512', 'denseBiasAct|25088→4096', 'denseBackwardInput|4096→1000']));
    // The default run of the test above, after the first run's tuning: --json --verbose.
    const r = defaultRun!;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/tuning kernels/);
    expect(r.stderr).toContain(`kernel choices from ${join(cacheDir, 'tuning.json')}`);
    for (const [key, version] of Object.entries(tables[0].choices)) expect(r.stderr).toContain(`${key} → ${version}`);
    const kernels = /^kernels: (.*)$/m.exec(r.stderr)?.[1] ?? '';
    expect(kernels).toContain(`block5_conv3 ${tables[0].choices['conv3x3BiasRelu|14×14×512→512']}`);
    expect(kernels).toContain(`fc1 ${tables[0].choices['denseBiasAct|25088→4096']}`);
    expect(r.stderr).toMatch(new RegExp(`^backward kernels: .*fc1 denseBackwardInput\\.${tables[0].choices['denseBackwardInput|25088→4096']}`, 'm'));
  });

  const failsCleanly = async (args: string[], pattern: RegExp) => {
    const out = join(dir, 'never.png');
    const npy = join(dir, 'never.npy');
    const r = await gradcam(...args, '--out', out, '--heatmap', npy);
    expect(r.code).not.toBe(0);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(pattern);
    expect(r.stdout).toBe('');
    expect(existsSync(out) || existsSync(npy)).toBe(false);
  };

  it('unknown --tune mode', () => failsCleanly([image, '--weights', weights, '--tune', 'fast'], /--tune fast: choose auto/));
  it('unknown layer', () => failsCleanly([image, '--weights', weights, '--layer', 'block6_conv1'], /--layer block6_conv1: not a conv layer of vgg16 or vgg19; choose one of block1_conv1/), 120_000);
  it('a VGG19 layer with VGG16 weights', () => failsCleanly([image, '--weights', weights, '--layer', 'block5_conv4'], /layer 'block5_conv4' is not a conv layer of vgg16; choose one of block1_conv1/), 120_000);
  it('class out of range', () => failsCleanly([image, '--weights', weights, '--class', '1000'], /class 1000: must be an integer in 0\.\.999/), 120_000);
  it('missing weights directory', () => failsCleanly([image, '--weights', join(dir, 'nope')], /weights directory '.*nope' not found .* run 'npm run weights'/));
  it('unreadable image', async () => {
    const bad = join(dir, 'bad.jpg');
    writeFileSync(bad, 'not an image');
    await failsCleanly([bad, '--weights', weights], /bad\.jpg: not an image: it is plain text; pass a PNG or JPEG file/);
    await failsCleanly([join(dir, 'absent.png'), '--weights', weights], /absent\.png: no such file/);
  });
  it('bad options', async () => {
    await failsCleanly([image, '--score', 'softmax'], /--score softmax: choose prob or logit/);
    await failsCleanly([image, '--alpha', '2'], /--alpha 2: must be a number between 0 and 1/);
    await failsCleanly([image, '--class', 'seven'], /--class seven: must be an integer in 0\.\.999/);
    const r = await gradcam(image, '--out', join(dir, 'x.gif'));
    expect(r.stderr).toMatch(/error: --out .*x\.gif: the overlay is written as \.png or \.jpg/);
  });
});
