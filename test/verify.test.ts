// `npm run verify` on full-size synthetic VGG16 weights: passes against the built-in TF.js reference,
// saves that reference as .npy files, passes against the directory but where it differs, and fails — non-zero exit, the right
// tensor named — when one reference file is perturbed. Kernel tuning is off (the default versions run):
// test/cli.test.ts covers tuning, and every version is checked by test/kernels.test.ts.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy } from '../src/engine/npy.js';

const dir = mkdtempSync(join(tmpdir(), 'gradcam-verify-'));
const weights = join(dir, 'vgg16');
const refDir = join(dir, 'reference');

const run = (script: string, args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', '--import', './scripts/lib/registerRaw.js', script, ...args], { maxBuffer: 1 << 24, env: { ...process.env, GRADCAM_CACHE_DIR: join(dir, 'cache') } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

beforeAll(async () => {
  await run('scripts/weights.ts', ['--synthetic', '--seed', '9', '--out', weights]);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run verify', () => {
  it('passes against the built-in TF.js reference and saves it as .npy files', async () => {
    // Two methods on one reference: the recipe's and Eigen-CAM (its own tolerance, 1e-3).
    const r = await run('scripts/verify.ts', ['--weights', weights, '--tune', 'off', '--method', 'gradcam,eigencam', '--save-reference', refDir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.pass).toBe(true);
    expect(report.tensors.map((t: { tensor: string }) => t.tensor)).toEqual(expect.arrayContaining(['block1_conv1', 'fc2', 'predictions', 'grad_block5_conv3', 'heatmap gradcam', 'heatmap eigencam']));
    expect(report.tensors).toHaveLength(26);
    expect(report.methods).toEqual(['gradcam', 'eigencam']);
    for (const t of report.tensors) for (const k of ['maxAbs', 'maxRel', 'relL2']) expect(Number.isFinite(t[k]), `${t.tensor} ${k}`).toBe(true);
    // The weights are said to be random (JSON and one stderr line); no TF.js or Dawn banner in between.
    expect(report.weights).toEqual({ model: 'vgg16', synthetic: true, seed: 9, storage: 'float32' });
    expect(r.stderr).toMatch(/^note: .* holds RANDOM vgg16 weights \(synthetic, seed 9\): the comparison is valid, the predictions are not; run 'npm run weights -- --force'/m);
    expect(r.stderr).not.toMatch(/Hi, looks like you are running TensorFlow\.js|tfjs-node|vkCreateInstance|Warning:/);
    for (const m of ['gradcam', 'eigencam']) expect(decodeNpy(readFileSync(join(refDir, `heatmap_${m}.npy`)), m).shape).toEqual([14, 14]);
  }, 400_000);

  it('against a reference directory: every tensor read from it passes but the one perturbed, which is named', async () => {
    // The default method (the recipe's Grad-CAM, row 'heatmap'): the saved maps are heatmap_<method>.npy, so this
    // run compares every tensor but the heatmap. One run (CI time): the 22 tensors that pass prove the
    // directory is read as saved, the one that fails that a difference is caught and named.
    const methods: string[] = [];
    const file = join(refDir, 'block3_conv2.npy');
    const t = decodeNpy(readFileSync(file), file);
    for (let i = 0; i < t.data.length; i += 97) t.data[i] += 0.5;
    writeFileSync(file, encodeNpy(t.data, t.shape));
    const bad = await run('scripts/verify.ts', ['--weights', weights, '--tune', 'off', '--reference', refDir, ...methods]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^weights: .*vgg16 \(vgg16, RANDOM: synthetic, seed 9\)$/m);
    expect(bad.stdout).toMatch(/^block3_conv2 .* FAIL \(rel L2 ≤ 0\.0001\)$/m);
    expect(bad.stdout.match(/ {2}pass \(/g)).toHaveLength(22);
    expect(bad.stdout.trim().split('\n').at(-1)).toBe('1 of 23 tensors FAIL: block3_conv2');
  }, 400_000);

  it('refuses Score-CAM and Ablation-CAM with the reason, before loading anything', async () => {
    const r = await run('scripts/verify.ts', ['--weights', join(dir, 'nowhere'), '--method', 'gradcam,scorecam']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: --method scorecam: its reference needs 512 full VGG16 forwards on the CPU per map; it is checked against float64 references on a small model/);
  });
});
