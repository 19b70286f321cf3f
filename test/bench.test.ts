// `npm run bench` in a quick, small configuration (VGG16 at 64×64, a few layers, one run, batch 1 and 2)
// on both hosts in one command: Node (Dawn) and headless Chrome. Each JSON report has the documented
// fields, every number is finite and positive, the TF.js peer ran with heatmaps that agree with ours,
// and the chart is a PNG. (Speed is never asserted: numbers come from the real run.)
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'gradcam-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const positive = (v: unknown, what: string) => {
  expect(typeof v, what).toBe('number');
  expect(Number.isFinite(v as number) && (v as number) > 0, `${what} = ${v}`).toBe(true);
};

let stdout = '';
let stderr = '';
beforeAll(async () => {
  const r = await promisify(execFile)(
    process.execPath,
    [
      '--import', 'tsx', '--import', './scripts/lib/registerRaw.js', 'scripts/bench.ts',
      '--host', 'both', '--quick', '--size', '64', '--runs', '1', '--batch', '1,2',
      '--layers', 'block1_conv1,block2_pool,fc1,predictions', '--all-versions', '--out', dir,
    ],
    { maxBuffer: 1 << 24, env: { ...process.env, GRADCAM_CACHE_DIR: join(dir, 'cache') } },
  );
  ({ stdout, stderr } = r);
}, 900_000);

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
    // The markdown on stdout: one section per host, end to end with the speed-up, batch 2, per layer.
    expect(stdout).toMatch(/## Node \(Dawn\): .*\n[\s\S]*## Chrome: /);
    expect(stdout.match(/\| Grad-CAM \| [\d.]+ \| [\d.]+ \| [\d.]+× \| [\d.]+ \|/g)).toHaveLength(2);
    expect(stdout.match(/\| forward, batch 2 \| [\d.]+ \([\d.]+ per image\) \| [\d.]+ \| [\d.]+× \| – \|/g)).toHaveLength(2);
    expect(stdout.match(/\| block5_conv3 \| [\d.]+ \| [\d.]+ \| [\d.]+× \|/g)).toHaveLength(2);
    expect(stderr).toMatch(/^chrome peaks \(/m);
    // It said what it was about to run and for how long; the weights are said to be random; no banners.
    expect(stderr).toMatch(/^bench: quick run on Node, then Chrome, 64×64, .*: about \d+ min on a CPU rasteriser/m);
    expect(stdout.match(/random weights \(synthetic, seed 1; timings do not depend on the values\)/g)).toHaveLength(2);
    expect(stderr).not.toMatch(/Hi, looks like you are running TensorFlow\.js|vkCreateInstance/);
  });

  it.each(['node', 'chrome'])('%s: a complete report with the peer in the same run', (host) => {
    const report = JSON.parse(readFileSync(join(dir, `latest-${host}.json`), 'utf8'));
    expect(Object.keys(report)).toEqual(expect.arrayContaining(['date', 'host', 'device', 'endToEnd', 'kernels', 'peaks', 'tuning', 'layers', 'coldStartMs', 'gpuMemoryBytes']));
    expect(report.host).toBe(host);
    expect(report.weights).toEqual({ model: 'vgg16@64', synthetic: true, seed: 1 });
    expect(typeof report.device.vendor).toBe('string');
    expect(report.device.features).toContain('timestamp-query');
    for (const k of ['forward', 'gradcam'] as const) for (const f of ['oursMs', 'peerMs', 'ratio', 'wasmMs']) positive(report.endToEnd[k][f], `endToEnd.${k}.${f}`);
    expect(report.endToEnd.batched).toHaveLength(1);
    expect(report.endToEnd.batched[0].batch).toBe(2);
    for (const f of ['oursMs', 'oursPerImageMs', 'peerMs', 'ratio']) positive(report.endToEnd.batched[0][f], `batched.${f}`);
    positive(report.peaks.gflops, 'peaks.gflops');
    positive(report.peaks.gbps, 'peaks.gbps');
    positive(report.coldStartMs, 'coldStartMs');
    positive(report.gpuMemoryBytes, 'gpuMemoryBytes');
    expect(report.heatmapAgreement.agree).toBe(true);
    // Tuned now (fresh cache): a choice for every conv shape and dense layer, both directions.
    expect(report.tuning.source).toBe('tuned');
    expect(Object.keys(report.tuning.choices)).toEqual(expect.arrayContaining(['conv3x3BiasRelu|4×4×512→512', 'denseBiasAct|2048→4096', 'denseBackwardInput|4096→1000']));
    // Per layer forward: every layer of VGG16 with a pass, ours and the peer's.
    expect(report.layers.map((l: { layer: string }) => l.layer)).toEqual(expect.arrayContaining(['block1_conv1', 'block5_pool', 'fc1', 'predictions']));
    expect(report.layers).toHaveLength(21);
    for (const l of report.layers) for (const f of ['oursMs', 'peerMs']) expect(l[f] >= 0 && Number.isFinite(l[f]), `${l.layer} ${f} = ${l[f]}`).toBe(true);
    // Every version of every kernel on the chosen layers, forward and backward.
    const names = new Set(report.kernels.map((k: { name: string; version: string }) => `${k.name}.${k.version}`));
    for (const n of ['conv3x3BiasRelu.unrolled', 'conv3x3BiasRelu.tiled', 'conv3x3BiasRelu.naive', 'conv3x3BackwardInput.naive', 'maxPool2x2.direct', 'maxPool2x2Backward.direct', 'denseBiasAct.vec4', 'denseBiasAct.splitK', 'denseBiasAct.naive', 'denseBackwardInput.vec4', 'denseBackwardInput.splitM', 'denseBackwardInput.naive', 'softmax.workgroupPerRow'])
      expect(names.has(n), n).toBe(true);
    for (const k of report.kernels) {
      for (const f of ['medianMs', 'p10Ms', 'p90Ms', 'gbps', 'pctOfPeak']) positive(k[f], `${k.name}.${k.version} ${k.layer} ${f}`);
      expect(Object.keys(k)).toEqual(expect.arrayContaining(['name', 'layer', 'version', 'medianMs', 'gflops', 'gbps', 'pctOfPeak']));
      if (k.bound === 'compute') positive(k.gflops, `${k.name} gflops`);
    }
  });
});
