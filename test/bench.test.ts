// `npm run bench` in a quick, small configuration (VGG16 at 64×64, a few layers, one run): the JSON
// report has the documented fields, every number is finite and positive, and the TF.js peer ran with
// heatmaps that agree with ours. (Speed is never asserted: numbers come from the real run.)
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'gradcam-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const positive = (v: unknown, what: string) => {
  expect(typeof v, what).toBe('number');
  expect(Number.isFinite(v as number) && (v as number) > 0, `${what} = ${v}`).toBe(true);
};

describe('npm run bench (node host, quick)', () => {
  it('writes a complete report with the peer in the same run', async () => {
    const r = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--import', './scripts/lib/registerRaw.js', 'scripts/bench.ts', '--quick', '--size', '64', '--runs', '1', '--layers', 'block1_conv1,block2_pool,fc1,predictions', '--all-versions', '--out', dir],
      { maxBuffer: 1 << 24 },
    );
    expect(r.stdout).toMatch(/\| Grad-CAM \| [\d.]+ \| [\d.]+ \| [\d.]+× \| [\d.]+ \|/);
    const files = readdirSync(dir);
    expect(files).toEqual(expect.arrayContaining(['latest.json', 'latest.md']));
    expect(files.some((f) => /-node\.json$/.test(f))).toBe(true);
    const report = JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8'));
    expect(Object.keys(report)).toEqual(expect.arrayContaining(['date', 'host', 'device', 'endToEnd', 'kernels', 'peaks', 'coldStartMs', 'gpuMemoryBytes']));
    expect(report.host).toBe('node');
    expect(typeof report.device.vendor).toBe('string');
    for (const k of ['forward', 'gradcam'] as const) for (const f of ['oursMs', 'peerMs', 'ratio', 'wasmMs']) positive(report.endToEnd[k][f], `endToEnd.${k}.${f}`);
    positive(report.peaks.gflops, 'peaks.gflops');
    positive(report.peaks.gbps, 'peaks.gbps');
    positive(report.coldStartMs, 'coldStartMs');
    positive(report.gpuMemoryBytes, 'gpuMemoryBytes');
    expect(report.heatmapAgreement.agree).toBe(true);
    // Every version of every kernel on the chosen layers, forward and backward.
    const names = new Set(report.kernels.map((k: { name: string; version: string }) => `${k.name}.${k.version}`));
    for (const n of ['conv3x3BiasRelu.unrolled', 'conv3x3BiasRelu.tiled', 'conv3x3BiasRelu.naive', 'conv3x3BackwardInput.naive', 'maxPool2x2.direct', 'maxPool2x2Backward.direct', 'denseBiasAct.naive', 'denseBackwardInput.naive', 'softmax.workgroupPerRow'])
      expect(names.has(n), n).toBe(true);
    for (const k of report.kernels) {
      for (const f of ['medianMs', 'p10Ms', 'p90Ms', 'gbps', 'pctOfPeak']) positive(k[f], `${k.name}.${k.version} ${k.layer} ${f}`);
      expect(Object.keys(k)).toEqual(expect.arrayContaining(['name', 'layer', 'version', 'medianMs', 'gflops', 'gbps', 'pctOfPeak']));
      if (k.bound === 'compute') positive(k.gflops, `${k.name} gflops`);
    }
  }, 600_000);
});
