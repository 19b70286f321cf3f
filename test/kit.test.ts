// The device kit (`npm run kit`, issue #17) as it is used on a GPU machine: built once, its size checked,
// copied outside the repository and run from there with an empty environment (`env -i PATH=/usr/bin:/bin`),
// so it finds SwiftShader by itself and nothing from node_modules, npm or this shell can help it.
//   (a) --check-only on a few kernel cases, with the TF.js peer check (both backends load from the kit);
//   (b) a tiny benchmark (32×32, fc1 only, one run, tuning off): the markdown on stdout, the JSON in
//       the kit's bench-results/. Without the peer: its VGG16 run takes minutes on SwiftShader even at
//       32×32 (five TF.js WebGPU passes); (a) checks that the bundled peer works.
// Also: the kit takes every flag of `npm run bench` that applies (all but --host and --weights), and the
// check runner counts a thrown case, a WebGPU error and a missing device feature right.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKernelChecks } from '../src/bench/kit.node.js';
import type { BenchReport } from '../src/bench/run.js';
import { KIT_MAX_BYTES, type KitManifest } from '../scripts/lib/kitBuild.js';

const exec = promisify(execFile);
const BUILT = 'dist/kit';
const dir = mkdtempSync(join(tmpdir(), 'gradcam-kit-test-'));
const kit = join(dir, 'kit');
let buildStdout = '';

/** Runs ./run.sh in the copy with an empty environment; never rejects. */
async function runKit(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec('env', ['-i', 'PATH=/usr/bin:/bin', './run.sh', ...args], { cwd: kit, maxBuffer: 1 << 24 });
    return { code: 0, ...r };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

const filesUnder = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(d, e.name)) : [join(d, e.name)]));
const flagsOf = (help: string) => new Set([...help.matchAll(/^ {2}(?:-\w, )?--([\w-]+)/gm)].map((m) => m[1]));

beforeAll(async () => {
  ({ stdout: buildStdout } = await exec(process.execPath, ['--import', 'tsx', 'scripts/kit.ts'], { maxBuffer: 1 << 24 }));
  // What the build made, not what a run in place left there.
  cpSync(BUILT, kit, { recursive: true, filter: (src) => !/[\\/](bench-results|\.unpacked|\.cache)$/.test(src) });
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('device kit', () => {
  it(`holds Node, Dawn, the bundled script, the Vulkan loader and run.sh, no weights, under ${KIT_MAX_BYTES / 2 ** 20} MiB`, () => {
    const files = filesUnder(kit).map((f) => relative(kit, f));
    const total = filesUnder(kit).reduce((a, f) => a + statSync(f).size, 0);
    expect(total).toBeLessThan(KIT_MAX_BYTES);
    for (const f of ['run.sh', 'node.gz', 'dawn.node.gz', 'kit.mjs', 'lib/libvulkan.so.1', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm.wasm', 'kit.json', 'README.txt'])
      expect(files).toContain(f);
    expect(files.filter((f) => /\.(bin|h5|npy|safetensors)$|weights/i.test(f))).toEqual([]);
    expect(statSync(join(kit, 'run.sh')).mode & 0o111).not.toBe(0);
    const manifest = JSON.parse(readFileSync(join(kit, 'kit.json'), 'utf8')) as KitManifest;
    expect(manifest.node).toBe(process.version);
    expect(Object.keys(manifest.files).sort()).toEqual(files.filter((f) => f !== 'kit.json').sort());
    expect(buildStdout).toMatch(/MB {2}total \(\d+\.\d MiB of 60 MiB\)/);
  });

  it('--check-only runs the chosen kernel cases and the TF.js peer check from a copy, env -i, on SwiftShader', async () => {
    const r = await runKit(['--check-only', '--check-filter', 'softmax.workgroupPerRow']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('first run: unpacking Node and Dawn');
    expect(r.stderr).toMatch(/using SwiftShader .* NOT a GPU/);
    expect(r.stdout).toMatch(/^check: 5 passed, 0 failed of 5 kernel cases \(filter softmax\.workgroupPerRow\) on .*SwiftShader.*\(a CPU rasteriser, not a GPU\)/m);
    expect(r.stdout).toMatch(/^check: TF\.js webgpu ok .*against the float64 reference/m);
    expect(r.stdout).toMatch(/^check: TF\.js wasm ok .*its gradient \(tf\.grad\) against WebGPU's/m);
    expect(existsSync(join(kit, '.unpacked/node'))).toBe(true);

    const none = await runKit(['--check-only', '--check-filter', 'no-such-kernel']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("--check-filter no-such-kernel: no kernel case's name contains it");
  }, 120_000);

  it('benchmarks from a copy with env -i on SwiftShader: markdown on stdout, the JSON in the kit folder', async () => {
    const r = await runKit(['--quick', '--size', '32', '--layers', 'fc1', '--runs', '1', '--methods', 'none', '--pixel', 'none', '--no-peer', '--tune', 'off']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/kit: adapter .*SwiftShader.*\(a CPU rasteriser, not a GPU\)/);
    expect(r.stdout).toMatch(/^# Benchmark, \d{4}-\d\d-\d\d/m);
    expect(r.stdout).toMatch(/^## Node \(Dawn\): .*SwiftShader.*\(software\)/m);
    expect(r.stdout).toContain('Command: `./run.sh --quick --size 32');
    expect(r.stdout).toMatch(/^\| forward \| \d+\.\d \|/m);
    expect(r.stdout).toMatch(/^\| fc1 fwd \| denseBiasAct\.\w+ \|/m);
    const report = JSON.parse(readFileSync(join(kit, 'bench-results/latest-node.json'), 'utf8')) as BenchReport;
    expect(`${report.device.vendor} ${report.device.description}`).toMatch(/swiftshader/i);
    expect(report.device.software).toBe(true);
    expect(report.model).toBe('vgg16@32');
    expect(report.weights).toMatchObject({ synthetic: true, seed: 1 });
    expect(report.endToEnd.forward.oursMs).toBeGreaterThan(0);
    expect(report.endToEnd.gradcam.oursMs).toBeGreaterThan(0);
    expect(report.kernels.map((k) => `${k.layer} ${k.direction}`)).toEqual(['fc1 forward', 'fc1 backward']);
    expect(report.layers.length).toBeGreaterThan(10);
    expect(readFileSync(join(kit, 'bench-results/latest.md'), 'utf8')).toBe(r.stdout.slice(r.stdout.indexOf('# Benchmark')).replace(/\n$/, ''));
    expect(readFileSync(join(kit, 'bench-results/latest-node-layers.svg'), 'utf8')).toMatch(/^<svg /);
  }, 300_000);

  it("takes every flag of npm run bench but --host and --weights (and its own: --check, --check-only, --check-filter, --swiftshader)", async () => {
    const [kitHelp, benchHelp] = await Promise.all([
      runKit(['--help']),
      exec(process.execPath, ['--import', 'tsx', '--import', './scripts/lib/registerRaw.js', 'scripts/bench.ts', '--help']),
    ]);
    expect(kitHelp.code).toBe(0);
    const bench = [...flagsOf(benchHelp.stdout)].filter((f) => f !== 'host' && f !== 'weights');
    expect([...flagsOf(kitHelp.stdout)].sort()).toEqual([...bench, 'check', 'check-only', 'check-filter', 'swiftshader'].sort());
  }, 60_000);
});

describe('kit check runner', () => {
  it('fails a case that throws or raises a WebGPU error, skips one whose features the device lacks', async () => {
    const s = await runKernelChecks({
      cases: [
        { name: 'passes', run: async () => {} },
        { name: 'throws', run: async () => Promise.reject(new Error('mismatch at 3')) },
        { name: 'validation', run: async (d) => void d.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE }) },
        { name: 'needs a feature', features: ['no-such-feature' as GPUFeatureName], run: async () => Promise.reject(new Error('ran')) },
      ],
    });
    expect(s.total).toBe(4);
    expect(s.passed).toBe(1);
    expect(s.failed.map((f) => f.name)).toEqual(['throws', 'validation']);
    expect(s.failed[0].message).toBe('mismatch at 3');
    expect(s.failed[1].message).toMatch(/^WebGPU error: /);
    expect(s.skipped).toEqual([{ name: 'needs a feature', reason: 'needs no-such-feature' }]);
  }, 60_000);
});
