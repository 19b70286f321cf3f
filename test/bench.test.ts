// `npm run bench` as CI runs it: one quick Node run at 64×64 without the TF.js peer (the peer and the
// Chrome host are in the opt-in test/bench-full.test.ts; test/bench-page.test.ts runs the bench page
// with the peer in Chromium): batch 2, Grad-CAM, saliency's backward to the image against the forward,
// SmoothGrad per sample from its second batch of one, every version of block1_conv1's kernels. The
// JSON passes the checks every report must pass (src/bench/checkReport.ts) and has what was asked for;
// the markdown has its lines and tables. (Speed is never asserted: numbers come from the real run.)
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkBenchReport, reportModel } from '../src/bench/checkReport.js';
import { benchCases } from '../src/bench/kernelBench.js';
import { OPTIONAL_FEATURES } from '../src/engine/device.js';

const dir = mkdtempSync(join(tmpdir(), 'gradcam-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let stdout = '';
let stderr = '';
beforeAll(async () => {
  ({ stdout, stderr } = await promisify(execFile)(
    process.execPath,
    [
      '--import', 'tsx', '--import', './scripts/lib/registerRaw.js', 'scripts/bench.ts',
      '--host', 'node', '--quick', '--size', '64', '--runs', '1', '--batch', '2', '--no-peer',
      '--methods', 'gradcam', '--pixel', 'saliency,smoothgrad', '--pixel-batch', '1', '--layers', 'block1_conv1', '--all-versions', '--out', dir,
    ],
    { maxBuffer: 1 << 24, env: { ...process.env, GRADCAM_CACHE_DIR: join(dir, 'cache') } },
  ));
}, 900_000);

describe('npm run bench --host node --quick --no-peer --all-versions', () => {
  it('a complete report and markdown: batch 2, Grad-CAM, the backward to the image, SmoothGrad per sample', () => {
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(['latest.json', 'latest.md', 'latest-node.json', 'latest-node-layers.png']));
    const report = JSON.parse(readFileSync(join(dir, 'latest-node.json'), 'utf8'));
    expect(checkBenchReport(report)).toEqual([]);
    expect(report.host).toBe('node');
    expect(report.peer).toEqual({});
    expect(report.weights).toEqual({ model: 'vgg16@64', synthetic: true, seed: 1 });
    expect(report.tuning.source).toBe('tuned');
    expect(report.endToEnd.batched).toEqual([{ batch: 2, oursMs: expect.any(Number), oursPerImageMs: expect.any(Number) }]);
    expect(new Set(report.kernels.map((k: { layer: string }) => k.layer))).toEqual(new Set(['block1_conv1']));
    // block1_conv1's backward is the input gradient's last conv: the Cin = 3 version.
    expect(report.kernels.map((k: { name: string; version: string }) => `${k.name}.${k.version}`)).toEqual(expect.arrayContaining(['conv3x3BackwardInput.cIn3']));
    expect(report.methods.timings.map((t: { method: string }) => t.method)).toEqual(['gradcam']);
    const p = report.pixel;
    expect(p).toMatchObject({ basis: 'gpu', forwardMs: expect.any(Number), forwardWallMs: expect.any(Number) });
    expect(p.backward).toEqual([{ method: 'saliency', oursMs: expect.any(Number), gpuMs: expect.any(Number), backwardOverForward: expect.any(Number) }]);
    expect(p.sampled).toEqual([
      { method: 'smoothgrad', perSampleMs: expect.any(Number), fromSamples: 1, samples: 2, batchRows: 1, submissions: 2, partial: true, perSampleOverForward: expect.any(Number) },
    ]);
    expect(stdout).toMatch(/^\| forward, batch 2 \| [\d.]+ \([\d.]+ per image\) \| – \| – \| – \|$/m);
    expect(stdout).toMatch(/^Backward to the image \(GPU time, from the score through the preprocessing\): saliency [\d.]+× the forward \([\d.]+ ms GPU, preprocessing included, run before each timed backward\); a well-built backward costs about 2× its forward\.$/m);
    expect(stdout).toMatch(/^SmoothGrad \(wall clock\): [\d.]+ ms per sample in batches of 1, [\d.]+× a forward; from the second batch's 1 sample \(the first also built the batched network\)\.$/m);
    expect(stdout).toMatch(/random weights \(synthetic, seed 1; timings do not depend on the values\)/);
    expect(stderr).toMatch(/^bench: quick run on node, 64×64, .*: about \d+ min on a CPU rasteriser/m);
    expect(stderr).not.toMatch(/vkCreateInstance/);
    // Per layer the fastest version, and a versions × layers table per kernel with the fastest in bold.
    expect(stdout).toMatch(/^\| layer \| kernel \| shape \| best version \| median ms \| % of peak \| versions measured \| TF\.js WebGPU layer \(ms\) \| TF\.js \/ ours \|$/m);
    const forward = report.kernels.filter((k: { name: string }) => k.name === 'conv3x3BiasRelu');
    const best = forward.reduce((a: { medianMs: number }, b: { medianMs: number }) => (b.medianMs < a.medianMs ? b : a));
    expect(stdout).toContain(`| block1_conv1 fwd | conv3x3BiasRelu | 64×64×3→64 | ${best.version} | ${best.medianMs.toFixed(2)} |`);
    expect(stdout).toContain('conv3x3BiasRelu (forward), median ms per version, the fastest in bold:');
    expect(stdout).toContain(`| layer | shape | ${forward.map((k: { version: string }) => k.version).join(' | ')} |`);
    expect(stdout).toMatch(new RegExp(`^\\| block1_conv1 fwd \\| 64×64×3→64 \\| .*\\*\\*${best.medianMs.toFixed(2)}\\*\\*`, 'm'));
  });

  it('checkBenchReport names what is wrong in a damaged pixel section', () => {
    const good = JSON.parse(readFileSync(join(dir, 'latest-node.json'), 'utf8'));
    const damaged = (damage: (r: typeof good) => void) => {
      const r = structuredClone(good);
      damage(r);
      return checkBenchReport(r);
    };
    expect(damaged(() => {})).toEqual([]);
    expect(damaged((r) => (r.pixel.backward[0].backwardOverForward *= 2))).toEqual([expect.stringMatching(/^pixel\.backward\[0\] \(saliency\)\.backwardOverForward: .* does not match /)]);
    expect(damaged((r) => (r.pixel.sampled[0].perSampleOverForward = 1e-3))).toEqual([expect.stringMatching(/^pixel\.sampled\[0\] \(smoothgrad\)\.perSampleOverForward: .* does not match /)]);
    expect(damaged((r) => (r.pixel.sampled[0].submissions = 3))).toEqual(['pixel.sampled[0] (smoothgrad).submissions: expected 2 batches of 1 for 2 samples, got 3']);
    expect(damaged((r) => (r.endToEnd.batched[0].oursPerImageMs *= 3))).not.toEqual([]);
  });

  it('checkBenchReport takes a version that needs a device feature only where device.features has it', () => {
    const good = JSON.parse(readFileSync(join(dir, 'latest-node.json'), 'utf8'));
    const all = new Set<string>(OPTIONAL_FEATURES);
    const gated = benchCases(reportModel(good.model)!, { allVersions: true, features: all }).find((c) => c.op.candidates.find((v) => v.version === c.version)!.features.length);
    // Only while some kernel has such a version.
    if (!gated) return;
    const r = structuredClone(good);
    r.kernels.push({ ...r.kernels[0], name: gated.op.kernel, version: gated.version, layer: gated.op.layer, direction: gated.op.direction, shape: gated.op.shape, bound: gated.op.bound });
    r.device.features = [...all].sort();
    expect(checkBenchReport(r)).toEqual([]);
    r.device.features = good.device.features.filter((f: string) => !gated.op.candidates.find((v) => v.version === gated.version)!.features.includes(f as GPUFeatureName));
    expect(checkBenchReport(r)).toEqual([expect.stringMatching(/no such kernel version at that layer and shape/)]);
  });
});
