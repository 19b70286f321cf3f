// Every command answers a mistake at once, before reading weights or opening a GPU: each bad flag of
// `gradcam` gives one line naming the flag (our words, no stack, exit 2) in under 2 s, with a weights
// directory that does not exist (so the answer cannot have come from loading it). And `--help` on every
// command lists each flag with what it does and its default.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { VGG16 } from '../src/engine/model.js';
import { layoutManifest, MANIFEST_FILE } from '../src/engine/weights/format.js';

const dir = mkdtempSync(join(tmpdir(), 'gradcam-args-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nowhere = join(dir, 'no-weights-here');
writeFileSync(join(dir, 'a-file'), '');

async function run(args: string[]) {
  const t0 = performance.now();
  const r = await promisify(execFile)(process.execPath, args, { env: { ...process.env, GRADCAM_CACHE_DIR: join(dir, 'cache') } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
  return { ...r, seconds: (performance.now() - t0) / 1000 };
}
const gradcam = (...args: string[]) => run(['bin/gradcam.js', ...args]);
const script = (name: string, ...args: string[]) => run(['--import', 'tsx', '--import', './scripts/lib/registerRaw.js', `scripts/${name}.ts`, ...args]);

function oneErrorLine(r: { code: number; stdout: string; stderr: string }): string {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).not.toMatch(/\bat .*\.(ts|js):\d+|\[object Object\]|ERR_PARSE_ARGS/);
  return lines[0];
}

describe('gradcam refuses each bad flag before reading anything', () => {
  // Wall time of each refusal, including Node's and tsx's start (about 1 s here): the bound is on the
  // median, so that one run slowed by a busy machine does not fail the suite; each must stay far below
  // the 8–9 s that loading the weights and tuning took before these checks came first.
  const seconds: number[] = [];
  afterAll(() => {
    const sorted = [...seconds].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    console.log(`bad-flag refusals: median ${median.toFixed(2)} s, max ${sorted.at(-1)!.toFixed(2)} s over ${sorted.length}`);
    expect(median).toBeLessThan(2);
  });
  it.each([
    [['--class', '5000'], /^error: --class 5000: must be an integer in 0\.\.999$/],
    [['--class', '-1'], /^error: --class -1: must be an integer in 0\.\.999$/],
    [['--class', 'seven'], /^error: --class seven: must be an integer in 0\.\.999$/],
    [['--layer', 'fc1'], /^error: --layer fc1: not a conv layer of vgg16 or vgg19; choose one of block1_conv1, .*, block5_conv3$/],
    [['--score', 'softmax'], /^error: --score softmax: choose prob or logit$/],
    [['--alpha', '2'], /^error: --alpha 2: must be a number between 0 and 1$/],
    [['--alpha', 'half'], /^error: --alpha half: must be a number between 0 and 1$/],
    [['--blend', 'multiply'], /^error: --blend multiply: choose add or normalized$/],
    [['--colormap', 'rainbow'], /^error: --colormap rainbow: choose jet, viridis, hot or gray$/],
    [['--top', '0'], /^error: --top 0: must be an integer in 1\.\.1000$/],
    [['--tune', 'fast'], /^error: --tune fast: choose auto .*, force .* or off/],
    [['--out', 'overlay.gif'], /^error: --out overlay\.gif: the overlay is written as \.png or \.jpg/],
    [['--out', join(dir, 'missing', 'o.png')], /^error: --out .*o\.png: directory '.*missing' does not exist$/],
    // A directory for --out is folder mode, where every argument must name images that exist.
    [['--out', dir + '/'], /^error: photo\.png: no such file or directory$/],
    [['--heatmap', 'heat.png'], /^error: --heatmap heat\.png: the heatmap is written as a NumPy \.npy file/],
    [['--colour', 'red'], /^error: unknown option --colour; see 'gradcam --help'$/],
    [['--json', 'yes'], /^error: expected 1 argument \(the image file\), got 2: photo\.png yes; for several images give --out <dir> \(folder mode\); see 'gradcam --help'$/],
    [['--out'], /^error: --out needs a value <file\.png\|\.jpg>; see 'gradcam --help'$/],
    [['--method', 'gradcam+'], /^error: --method gradcam\+: choose gradcam, gradcam\+\+, xgradcam, .*, scorecam, ablationcam, saliency, .*, smoothgrad or integrated-gradients$/],
    [['--method', 'saliency', '--samples', '4'], /^error: --samples applies to smoothgrad, not saliency$/],
    [['--method', 'smoothgrad', '--samples', '0'], /^error: --samples 0: must be an integer in 1\.\.1024$/],
    [['--method', 'smoothgrad', '--noise', 'lots'], /^error: --noise lots: must be a number$/],
    [['--method', 'smoothgrad', '--noise', '-0.1'], /^error: --noise -0\.1: a fraction of the image's value range, 0\.\.10/],
    [['--method', 'integrated-gradients', '--baseline', '300'], /^error: --baseline 300: a grey level in 0\.\.255 \(0 = black\)$/],
    [['--method', 'integrated-gradients', '--steps', '2000'], /^error: --steps 2000: must be an integer in 1\.\.1024$/],
    [['--method', 'saliency', '--layer', 'block4_conv3'], /^error: --layer: saliency explains the image's pixels and takes no layer \(guided-gradcam takes one: its Grad-CAM's\)$/],
    [['--method', 'guided-gradcam', '--layer', 'block4_conv3,block5_conv3'], /^error: --layer block4_conv3,block5_conv3: guided-gradcam takes one conv layer \(its Grad-CAM's\)$/],
    [['--method', 'guided-backprop', '--aug-smooth'], /^error: --aug-smooth applies to the CAM methods, not guided-backprop$/],
    [['--method', 'gradcam', '--image-size'], /^error: --image-size applies to the pixel-level methods, not gradcam$/],
    [['--method', 'saliency', '--out', 'map.gif'], /^error: --out map\.gif: the image is written as \.png or \.jpg/],
    [['--target', 'klass:3'], /^error: --target 'klass:3': unknown kind 'klass'; write class:<i>, classes:<i,j,…>, counterfactual:<i> or rank:<k>/],
    [['--target', 'classes:1,x'], /^error: --target 'classes:1,x': 'x' is not a class index/],
    [['--target', 'class:3', '--class', '3'], /^error: --class and --target both name what to explain; give one/],
    [['--layer', 'block5_conv3,fc2'], /^error: --layer fc2: not a conv layer of vgg16 or vgg19/],
    [['--layer', 'block5_conv3,block5_conv3'], /^error: --layer block5_conv3,block5_conv3: a layer is listed twice$/],
    // Folder mode, --methods, --metrics, --force (test/cli-folder.test.ts runs them).
    [['--out', 'cam'], /^error: photo\.png: no such file or directory$/],
    [['--out', 'overlay.gif'], /^error: --out overlay\.gif: .*\(or give a directory, ending in \/, for folder mode\)$/],
    [['--force'], /^error: --force applies to folder mode \(--out <dir>\); one image's outputs are always written$/],
    [['--heatmap'], /^error: --heatmap needs a value <file\.npy>; see 'gradcam --help'$/],
    [['--heatmap', '--json'], /^error: --heatmap needs a value <file\.npy>; see 'gradcam --help'$/],
    [['--out', join(dir, 'outputs'), '--heatmap', 'h.npy'], /^error: --heatmap h\.npy: in folder mode each map is written next to its image \(<out>\/<name>\.npy\); give --heatmap without a file name$/],
    [['--out', join(dir, 'a-file') + '/'], /^error: --out .*a-file\/: exists and is not a directory$/],
    [['--methods', 'gradcam,nope'], /^error: --methods gradcam,nope: 'nope' is not a method; choose from gradcam, gradcam\+\+, .*, integrated-gradients$/],
    [['--methods', 'gradcam,saliency,gradcam'], /^error: --methods gradcam,saliency,gradcam: a method is listed twice$/],
    [['--method', 'saliency', '--methods', 'gradcam,saliency'], /^error: --method and --methods: give one \(--methods a,b compares several in a grid\)$/],
    [['--methods', 'gradcam,saliency', '--heatmap', 'h.npy'], /^error: --heatmap h\.npy: --methods makes one map per method; folder mode \(--out <dir> --heatmap\) writes each as <name>\.<method>\.npy$/],
    [['--methods', 'gradcam,saliency', '--out', 'grid.gif'], /^error: --out grid\.gif: the grid is written as \.png or \.jpg/],
    [['--methods', 'gradcam,saliency', '--image-size'], /^error: --image-size applies to one pixel-level method; --methods' grid has every tile at the image's size$/],
    [['--methods', 'gradcam,eigencam', '--samples', '4'], /^error: --samples applies to smoothgrad, not gradcam, eigencam$/],
    [['--methods', 'saliency,smoothgrad', '--layer', 'block4_conv3'], /^error: --layer: saliency, smoothgrad explain the image's pixels and take no layer/],
    [['--methods', 'gradcam,guided-gradcam', '--layer', 'block4_conv3,block5_conv3'], /^error: --layer block4_conv3,block5_conv3: guided-gradcam takes one conv layer/],
    [['--metrics', 'deletion,auc'], /^error: --metrics deletion,auc: 'auc' is not a metric; choose from deletion, insertion, road, confidence, sanity, default or all$/],
    [['--metrics', 'road,road'], /^error: --metrics road,road: a metric is listed twice$/],
    [['--metrics', 'confidence', '--aug-smooth'], /^error: --metrics judges the plain map; not with --aug-smooth$/],
    [['--metrics', 'confidence', '--target', 'counterfactual:3'], /^error: --metrics judges the map of one class; not with --target counterfactual:3$/],
    [['--metrics', 'confidence', '--layer', 'block5_conv3,block4_conv3'], /^error: --metrics judges one layer's map; give one --layer, not block5_conv3,block4_conv3$/],
  ])('%j', async (flags, pattern) => {
    const r = await gradcam('photo.png', '--weights', nowhere, ...flags);
    expect(oneErrorLine(r)).toMatch(pattern);
    seconds.push(r.seconds);
    expect(r.seconds).toBeLessThan(5);
  });

  it.each([
    // What the arguments name is checked before anything is loaded too (folder mode: test/cli-folder.test.ts).
    [['photo.png', 'other.png'], /^error: expected 1 argument \(the image file\), got 2: photo\.png other\.png; for several images give --out <dir> \(folder mode\)/],
    [[dir], /^error: .*gradcam-args-\w+: is a directory; to explain every image in it give --out <dir> \(folder mode\)$/],
    [['photos/*.jpg'], /^error: photos\/\*\.jpg: a pattern; to explain every image it matches give --out <dir> \(folder mode\)$/],
    [['--out', join(dir, 'o') + '/', join(dir, 'nothing-*.png')], /^error: .*nothing-\*\.png: the pattern matches no \.png, \.jpg or \.jpeg file$/],
    [['--out', join(dir, 'o') + '/', join(dir, 'empty')], /^error: .*empty: no \.png, \.jpg or \.jpeg file in this directory or below it$/],
    [['--out', join(dir, 'o') + '/', join(dir, 'x', 'same.png'), join(dir, 'y', 'same.png')], /^error: .*x\/same\.png and .*y\/same\.png would both be written as same\.png under --out; give the directory that holds them instead/],
  ])('%j', async (args, pattern) => {
    for (const d of ['empty', 'x', 'y']) mkdirSync(join(dir, d), { recursive: true });
    for (const f of ['x/same.png', 'y/same.png']) writeFileSync(join(dir, f), 'not read: the arguments are refused first');
    const r = await gradcam(...args, '--weights', nowhere);
    expect(oneErrorLine(r)).toMatch(pattern);
    seconds.push(r.seconds);
    expect(r.seconds).toBeLessThan(5);
  });

  it('a layer of the other model is checked against the manifest (a few kB), before any shard is read', async () => {
    // A valid manifest and no shards: loading would fail on the missing shard-000.bin.
    const weights = join(dir, 'manifest-only');
    mkdirSync(weights);
    const manifest = layoutManifest(VGG16);
    for (const s of manifest.shards) s.sha256 = '0'.repeat(64);
    writeFileSync(join(weights, MANIFEST_FILE), JSON.stringify(manifest));
    const r = await gradcam('photo.png', '--weights', weights, '--layer', 'block5_conv4');
    expect(oneErrorLine({ ...r, code: r.code === 1 ? 2 : r.code })).toMatch(/^error: layer 'block5_conv4' is not a conv layer of vgg16; choose one of block1_conv1, /);
    seconds.push(r.seconds);
  });

  it('no weights: the one-line hint, before the image is decoded', async () => {
    const r = await gradcam('photo.png', '--weights', nowhere);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^error: weights directory '.*no-weights-here' not found or has no manifest\.json: run 'npm run weights'/);
  });
});

describe('--help on every command: each flag, what it does, its default', () => {
  const flagsOf = (help: string) => [...help.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]);
  it.each([
    ['gradcam', ['--weights', '--method', '--methods', '--class', '--target', '--layer', '--aug-smooth', '--eigen-smooth', '--score', '--samples', '--noise', '--seed', '--steps', '--baseline', '--batch-rows', '--image-size', '--top', '--alpha', '--blend', '--colormap', '--out', '--heatmap', '--force', '--metrics', '--json', '--f16', '--tune', '--verbose', '--help']],
    ['verify', ['--weights', '--reference', '--layer', '--method', '--eigen-smooth', '--class', '--score', '--save-reference', '--json', '--f16', '--tune', '--verbose', '--help']],
    ['bench', ['--quick', '--host', '--runs', '--size', '--layers', '--batch', '--methods', '--pixel', '--pixel-batch', '--weights', '--no-peer', '--all-versions', '--f16', '--out', '--tune', '--help']],
    ['weights', ['--model', '--out', '--force', '--synthetic', '--seed', '--url', '--md5', '--help']],
    ['convert', ['--force', '--allow-nonfinite', '--help']],
    ['evaluate', ['--weights', '--methods', '--metrics', '--class', '--layer', '--score', '--steps', '--deletion-fill', '--percentiles', '--seed', '--batch-rows', '--out', '--json', '--f16', '--tune', '--verbose', '--help']],
    ['benchThroughput', ['--images', '--weights', '--out', '--help']],
  ] as const)('%s --help', async (name, flags) => {
    const r = name === 'gradcam' ? await gradcam('--help') : await script(name, '--help');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^usage: /);
    expect(flagsOf(r.stdout)).toEqual(flags);
    // Every option line says something, and the defaults are shown where there are any.
    for (const line of r.stdout.split('\n').filter((l) => /^ {2}-/.test(l))) expect(line.replace(/^ {2}\S+( \S+)?\s*/, '').length, line).toBeGreaterThan(8);
    if (name === 'gradcam') expect(r.stdout).toMatch(/--layer <name\[,name…\]> +.*\(default: block5_conv3\)/);
    if (name === 'gradcam') expect(r.stdout).toMatch(/^Folder mode \(--out <dir>\): .*results\.jsonl.*index\.html.*Ctrl-C/ms);
    if (name === 'bench') expect(r.stdout).toMatch(/How long: .*--quick takes about \d+ minutes/s);
  });

  it('bench says how long what it is about to run will take, and -- --quick first', async () => {
    // A size that is refused after the estimate would be printed: only the estimate line is wanted.
    const r = await script('bench', '--host', 'nowhere');
    expect(oneErrorLine(r)).toMatch(/^error: --host nowhere: choose node, chrome or both$/);
  });
});
