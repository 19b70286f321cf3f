// OPT-IN (`npm run test:full`; not in `npm test`, which CI runs: this file alone takes 6 of CI's 30
// minutes on 2 cores). test/bench.test.ts is the quick, peer-less smoke run that CI does run.
// `npm run bench` in a quick, small configuration (VGG16 at 64×64, a few layers, one run) on both hosts
// in one command: Node (Dawn) and headless Chrome. Each JSON report passes the checks
// every report must pass (src/bench/checkReport.ts, shared with the bench page's test: documented
// fields, finite and positive numbers, heatmaps that agree with the peer's, real kernel versions, CAM
// percentages and ratios that follow from their times), and has what this command asked for: the
// TF.js peer, batch 2, every version of the chosen layers, a fresh tuning, the CAM methods asked for
// (Grad-CAM and Grad-CAM++ with the top-5, Ablation-CAM from two batches: the cheap ones, to keep
// this test's time), the pixel-level methods asked for (saliency's backward to the image against the
// forward, SmoothGrad per sample from its second batch of one sample); the chart is a PNG. The batched forward comes from a second, peer-less run (Node,
// batch 2): TF.js WebGPU's batch-2 forward alone took 3.7 of this test's 11 minutes on SwiftShader.
// (Speed is never asserted: numbers come from the real run.)
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkBenchReport } from '../src/bench/checkReport.js';

const dir = mkdtempSync(join(tmpdir(), 'gradcam-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let stdout = '';
let stderr = '';
let batchedStdout = '';
const batchedDir = join(dir, 'batched');
const bench = (args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', '--import', './scripts/lib/registerRaw.js', 'scripts/bench.ts', ...args], {
    maxBuffer: 1 << 24,
    env: { ...process.env, GRADCAM_CACHE_DIR: join(dir, 'cache') },
  });
beforeAll(async () => {
  const r = await bench([
    '--host', 'both', '--quick', '--size', '64', '--runs', '1',
    '--layers', 'block1_conv1,block2_pool,fc1,predictions', '--all-versions', '--methods', 'gradcam,gradcam++,ablationcam',
    '--pixel', 'saliency', '--out', dir,
  ]);
  ({ stdout, stderr } = r);
  batchedStdout = (await bench(['--host', 'node', '--quick', '--size', '64', '--runs', '1', '--batch', '2', '--no-peer', '--methods', 'none', '--pixel', 'smoothgrad', '--pixel-batch', '1', '--layers', 'fc1', '--out', batchedDir])).stdout;
  // What the CAM and pixel methods add to this test (it must stay short: CI's whole run has a time budget).
  for (const what of ['CAM', 'pixel'])
    console.log(`bench: ${[...stderr.matchAll(new RegExp(`^(chrome )?ours: ${what} methods timed in ([\\d.]+ s)$`, 'gm'))].map((m) => `${m[1] ? 'chrome' : 'node'} ${m[2]}`).join(', ')} for the ${what} methods`);
}, 1_200_000);

describe('npm run bench --host both (quick)', () => {
  it('writes the files: dated JSON per host, latest*.json, latest.md, a chart per host', () => {
    const files = readdirSync(dir);
    expect(files).toEqual(expect.arrayContaining(['latest.json', 'latest.md', 'latest-node.json', 'latest-chrome.json', 'latest-node-layers.png', 'latest-chrome-layers.png']));
    for (const host of ['node', 'chrome']) expect(files.some((f) => new RegExp(`^\\d{4}-\\d\\d-\\d\\dT.*-${host}\\.json$`).test(f)), host).toBe(true);
    expect(files.some((f) => f.endsWith('.tmp'))).toBe(false);
    expect(JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')).host).toBe('chrome');
    for (const host of ['node', 'chrome']) {
      const png = PNG.sync.read(readFileSync(join(dir, `latest-${host}-layers.png`)));
      expect(png.width, host).toBeGreaterThan(600);
      expect(png.height, host).toBeGreaterThan(400);
    }
    // The markdown on stdout: one section per host, end to end with the speed-up, per layer.
    expect(stdout).toMatch(/## Node \(Dawn\): .*\n[\s\S]*## Chrome: /);
    expect(stdout.match(/\| Grad-CAM \| [\d.]+ \| [\d.]+ \| [\d.]+× \| [\d.]+ \|/g)).toHaveLength(2);
    expect(stdout).not.toMatch(/forward, batch/);
    expect(stdout.match(/\| block5_conv3 \| [\d.]+ \| [\d.]+ \| [\d.]+× \|/g)).toHaveLength(2);
    // The CAM methods: the table, the top-5 line, Ablation-CAM per row and per image (extrapolated).
    expect(stdout.match(/\| CAM method \(block5_conv3, kept forward\) \| ms \| GPU ms \| extra over Grad-CAM \|\n.*\n\| Grad-CAM \| [\d.]+ \| [\d.]+ \| – \(baseline\) \|\n\| Grad-CAM\+\+ \| [\d.]+ \| [\d.]+ \| [+-][\d.]+% \(GPU\) \|\n/g)).toHaveLength(2);
    expect(stdout.match(/^Top-5 Grad-CAM maps \(GPU time\): in one pass [\d.]+ ms, [\d.]+× one map \([\d.]+ ms; target ≤ 1\.5×\); in five passes [\d.]+ ms, [\d.]+×\.$/gm)).toHaveLength(2);
    expect(stdout.match(/^Ablation-CAM \(wall clock\): [\d.]+ ms per batch row \(batches of 16\); about [\d.]+ s per image of 512 rows, extrapolated from the second batch\.$/gm)).toHaveLength(2);
    expect(stderr).toMatch(/, CAM methods gradcam,gradcam\+\+,ablationcam: about \d+ min/);
    // The pixel-level methods: saliency's row and the ratio stated (SmoothGrad: in the second, Node-only run).
    expect(stderr).toMatch(/, pixel methods saliency, CAM methods /);
    expect(stdout.match(/\| pixel method \(kept forward\) \| ms \| backward GPU ms \| backward \/ forward \| extra over guided backprop \|\n.*\n\| Saliency \| [\d.]+ \| [\d.]+ \| [\d.]+× \| – \|\n/g)).toHaveLength(2);
    expect(stdout.match(/^Backward to the image \(GPU time, from the score through the preprocessing\): saliency [\d.]+× the forward \([\d.]+ ms GPU, preprocessing included, run before each timed backward\); a well-built backward costs about 2× its forward\.$/gm)).toHaveLength(2);
    expect(stderr).toMatch(/^chrome peaks \(/m);
    // It said what it was about to run and for how long; the weights are said to be random; no banners.
    expect(stderr).toMatch(/^bench: quick run on Node, then Chrome, 64×64, .*: about \d+ min on a CPU rasteriser/m);
    expect(stdout.match(/random weights \(synthetic, seed 1; timings do not depend on the values\)/g)).toHaveLength(2);
    expect(stderr).not.toMatch(/Hi, looks like you are running TensorFlow\.js|vkCreateInstance/);
  });

  it.each(['node', 'chrome'])('%s: a complete report with the peer in the same run', (host) => {
    const report = JSON.parse(readFileSync(join(dir, `latest-${host}.json`), 'utf8'));
    expect(checkBenchReport(report)).toEqual([]);
    expect(report.host).toBe(host);
    expect(report.weights).toEqual({ model: 'vgg16@64', synthetic: true, seed: 1 });
    expect(report.device.features).toContain('timestamp-query');
    // Both peers ran (the checks then require their times, the ratios and agreeing heatmaps).
    expect(Object.keys(report.peer).sort()).toEqual(['wasm', 'webgpu']);
    expect(report.endToEnd.batched).toEqual([]);
    // Tuned now (fresh cache): a choice for every conv shape and dense layer, both directions.
    expect(report.tuning.source).toBe('tuned');
    expect(Object.keys(report.tuning.choices)).toEqual(expect.arrayContaining(['conv3x3BiasRelu|4×4×512→512', 'denseBiasAct|2048→4096', 'denseBackwardInput|4096→1000']));
    // Per layer forward: every layer of VGG16 with a pass, ours and the peer's (the checks say which).
    expect(report.layers).toHaveLength(21);
    // Every version of every kernel on the chosen layers, forward and backward.
    const names = new Set(report.kernels.map((k: { name: string; version: string }) => `${k.name}.${k.version}`));
    for (const n of ['conv3x3BiasRelu.unrolled', 'conv3x3BiasRelu.tiled', 'conv3x3BiasRelu.naive', 'conv3x3BackwardInput.naive', 'maxPool2x2.direct', 'maxPool2x2Backward.direct', 'denseBiasAct.vec4', 'denseBiasAct.splitK', 'denseBiasAct.naive', 'denseBackwardInput.vec4', 'denseBackwardInput.splitM', 'denseBackwardInput.naive', 'softmax.workgroupPerRow'])
      expect(names.has(n), n).toBe(true);
    // Only the layers asked for.
    expect(new Set(report.kernels.map((k: { layer: string }) => k.layer))).toEqual(new Set(['block1_conv1', 'block2_pool', 'fc1', 'predictions']));
    // The CAM methods asked for, on GPU time (timestamp queries); Ablation-CAM from two batches (software adapter).
    const m = report.methods;
    expect(m.layer).toBe('block5_conv3');
    expect(m.timings.map((t: { method: string }) => t.method)).toEqual(['gradcam', 'gradcam++']);
    expect(m.timings[0]).toMatchObject({ extraPct: 0, basis: 'gpu', gpuMs: expect.any(Number) });
    expect(m.timings[1]).toMatchObject({ basis: 'gpu', gpuMs: expect.any(Number) });
    expect(m.topMaps).toMatchObject({ k: 5, basis: 'gpu', oneMs: m.timings[0].gpuMs });
    expect(m.perturbation).toEqual([{ method: 'ablationcam', perRowMs: expect.any(Number), perImageMs: expect.any(Number), rows: 512, extrapolated: true, batchRows: 16 }]);
    // The pixel methods asked for, on GPU time: saliency's backward over the forward.
    const p = report.pixel;
    expect(p).toMatchObject({ basis: 'gpu', forwardMs: expect.any(Number), forwardWallMs: expect.any(Number) });
    expect(p.backward).toEqual([{ method: 'saliency', oursMs: expect.any(Number), gpuMs: expect.any(Number), backwardOverForward: expect.any(Number) }]);
    expect(p.sampled).toEqual([]);
  });
});

describe('npm run bench --batch 2 --no-peer', () => {
  it('times the batched forward, without a peer, and SmoothGrad per sample (the second of two batches of one)', () => {
    const report = JSON.parse(readFileSync(join(batchedDir, 'latest-node.json'), 'utf8'));
    expect(checkBenchReport(report)).toEqual([]);
    expect(report.peer).toEqual({});
    expect(report.endToEnd.batched).toEqual([{ batch: 2, oursMs: expect.any(Number), oursPerImageMs: expect.any(Number) }]);
    expect(report.pixel.backward).toEqual([]);
    expect(report.pixel.sampled).toEqual([
      { method: 'smoothgrad', perSampleMs: expect.any(Number), fromSamples: 1, samples: 2, batchRows: 1, submissions: 2, partial: true, perSampleOverForward: expect.any(Number) },
    ]);
    expect(batchedStdout).toMatch(/^SmoothGrad \(wall clock\): [\d.]+ ms per sample in batches of 1, [\d.]+× a forward; from the second batch's 1 sample \(the first also built the batched network\)\.$/m);
    expect(batchedStdout).toMatch(/^\| forward, batch 2 \| [\d.]+ \([\d.]+ per image\) \| – \| – \| – \|$/m);
  });
});

describe('checkBenchReport', () => {
  it('names what is wrong in a damaged report', () => {
    const good = JSON.parse(readFileSync(join(dir, 'latest-node.json'), 'utf8'));
    const damagedCopy = (report: typeof good) => (damage: (r: typeof good) => void) => {
      const r = structuredClone(report);
      damage(r);
      return checkBenchReport(r);
    };
    const damaged = damagedCopy(good);
    // SmoothGrad's row comes from the second (batch 2, Node-only) run.
    const damagedSampled = damagedCopy(JSON.parse(readFileSync(join(batchedDir, 'latest-node.json'), 'utf8')));
    expect(damaged(() => {})).toEqual([]);
    expect(checkBenchReport('not a report')[0]).toMatch(/^report: expected an object/);
    expect(damaged((r) => (r.kernels[0].medianMs = -1))).toEqual(expect.arrayContaining([expect.stringMatching(/^kernels\[0\] .*\.medianMs: expected a finite number > 0, got -1/)]));
    expect(damaged((r) => (r.kernels[0].version = 'fastest'))).toEqual([expect.stringMatching(/^kernels\[0\] .*: no such kernel version at that layer and shape in vgg16@64/)]);
    expect(damaged((r) => delete r.endToEnd.forward.peerMs)).toEqual(expect.arrayContaining(['endToEnd.forward.peerMs: expected a finite number > 0, got undefined']));
    expect(damaged((r) => (r.heatmapAgreement.agree = false))).toEqual([expect.stringMatching(/^heatmapAgreement\.agree: our heatmap and TF\.js WebGPU's differ/)]);
    expect(damaged((r) => r.layers.pop())).toEqual([expect.stringMatching(/^layers: expected block1_conv1, .*, predictions; got block1_conv1, .*, fc2$/)]);
    expect(damaged((r) => (r.model = 'resnet50'))).toEqual(expect.arrayContaining(["model: 'resnet50' is not a model this project runs"]));
    expect(damaged((r) => (r.endToEnd.gradcam.ratio = 2 * r.endToEnd.gradcam.ratio))).toEqual([expect.stringMatching(/^endToEnd\.gradcam\.ratio: .* does not match /)]);
    // The CAM methods: percentages and ratios that do not follow from the times, unknown methods, a missing baseline, K.
    expect(damaged((r) => (r.methods.timings[1].extraPct += 10))).toEqual([expect.stringMatching(/^methods\.timings\[1\] \(gradcam\+\+\)\.extraPct: .* does not match /)]);
    expect(damaged((r) => (r.methods.timings[1].method = 'fastcam'))).toEqual(expect.arrayContaining([expect.stringMatching(/^methods\.timings\[1\] \(fastcam\)\.method: expected one of "gradcam", /)]));
    expect(damaged((r) => r.methods.timings.shift())).toEqual(expect.arrayContaining(['methods.timings: no gradcam row: Grad-CAM is the baseline of the others']));
    expect(damaged((r) => (r.methods.topMaps.ratio = 1))).toEqual([expect.stringMatching(/^methods\.topMaps\.ratio: 1 does not match /)]);
    expect(damaged((r) => (r.methods.perturbation[0].rows = 100))).toEqual(expect.arrayContaining(['methods.perturbation[0] (ablationcam).rows: expected 512, the channels of block5_conv3, got 100']));
    expect(damaged((r) => (r.methods.perturbation[0].perImageMs *= 2))).toEqual([expect.stringMatching(/^methods\.perturbation\[0\] \(ablationcam\)\.perImageMs: .* does not match /)]);
    expect(damaged((r) => delete r.methods)).toEqual(expect.arrayContaining(['methods: expected an object, got undefined']));
    // The pixel methods: ratios that do not follow from the times, batches that do not add up, a missing section.
    expect(damaged((r) => (r.pixel.backward[0].backwardOverForward *= 2))).toEqual([expect.stringMatching(/^pixel\.backward\[0\] \(saliency\)\.backwardOverForward: .* does not match /)]);
    expect(damaged((r) => (r.pixel.forwardMs *= 2))).toEqual([expect.stringMatching(/^pixel\.backward\[0\] \(saliency\)\.backwardOverForward: .* does not match /)]);
    expect(damagedSampled((r) => (r.pixel.sampled[0].perSampleOverForward = 1e-3))).toEqual([expect.stringMatching(/^pixel\.sampled\[0\] \(smoothgrad\)\.perSampleOverForward: .* does not match /)]);
    expect(damagedSampled((r) => (r.pixel.sampled[0].submissions = 3))).toEqual(['pixel.sampled[0] (smoothgrad).submissions: expected 2 batches of 1 for 2 samples, got 3']);
    expect(damagedSampled((r) => (r.pixel.sampled[0].partial = false))).toEqual(['pixel.sampled[0] (smoothgrad).fromSamples: expected 2, the whole call, got 1']);
    expect(damaged((r) => (r.pixel.backward[0].method = 'guided-gradcam'))).toEqual(['pixel.backward[0] (guided-gradcam): no guided-backprop row: guided backprop is the baseline of its extra']);
    expect(damaged((r) => delete r.pixel)).toEqual(expect.arrayContaining(['pixel: expected an object, got undefined']));
  });
});
