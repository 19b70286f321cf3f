// The device kit's command (`./run.sh [options]` in the folder `npm run kit` builds; this file is the
// entry of its one bundled script): the flags of `npm run bench` that make sense there (Node host,
// synthetic weights), plus --check / --check-only / --check-filter for the kernel checks; the work is
// src/bench/kit.node.ts's. run.sh sets GRADCAM_KIT_DIR (the kit's folder) and picks the Vulkan driver.
import { accessSync, constants, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchPreset, checkBenchSize, formatMethodList, formatPixelList, parseMethodList, parsePixelList, softwareMinutes, vgg16AtSize } from '../src/bench/config.js';
import { checkPeer, forceSwiftShader, runKernelChecks, selectCases, runKitBench, writeKitResults, type CheckSummary } from '../src/bench/kit.node.js';
import { parseCommandLine, progressPrinter, runCli, UsageError, type CommandSpec, type OptionSpec, type OptionValues } from './lib/cli.js';
import { parseTuneMode, TUNE_OPTIONS } from './lib/tuning.js';

const log = (line: string) => process.stderr.write(`${line}\n`);

const SPEC = {
  usage: './run.sh [options]',
  summary:
    'The gradcam-webgpu benchmark on this machine\'s GPU (Dawn in Node, from this folder: no npm, no network):\n' +
    'every chosen kernel version on the VGG16 layer shapes, end-to-end forward and Grad-CAM latency, the CAM and\n' +
    'pixel-level methods, against TensorFlow.js (WebGPU on the same adapter, WASM as the CPU baseline), on random\n' +
    'weights made in memory. Prints the markdown report; writes the JSON next to it (bench-results/ here, or --out).\n' +
    'With --check, first runs every kernel test case against its CPU reference on this device.',
  positionals: { min: 0, max: 0, what: 'none' },
  options: {
    quick: { type: 'boolean', help: 'start here: 3 runs, 8 representative layers, the chosen versions only, batch 1' },
    check: { type: 'boolean', help: 'first the kernel test cases and a TF.js peer check on this device (exit status 1 if any fails), then the benchmark' },
    'check-only': { type: 'boolean', help: 'the checks of --check, not the benchmark' },
    'check-filter': { type: 'string', value: '<a,b,…>', help: 'only the kernel test cases whose name contains one of these substrings' },
    swiftshader: { type: 'boolean', help: 'use SwiftShader (a CPU rasteriser) even where a GPU driver is found' },
    runs: { type: 'string', value: '<n>', help: 'timed runs per measurement (default: 3 with --quick, else 10)' },
    size: { type: 'string', value: '<px>', default: '224', help: 'input size, a multiple of 32 (smaller is faster)' },
    layers: { type: 'string', value: '<a,b,…>', help: 'only these layers in the per-kernel part' },
    batch: { type: 'string', value: '<1,8>', help: 'batch sizes of the batched forward (default: 1 with --quick, else 1,8)' },
    methods: { type: 'string', value: '<list|none>', default: 'all', help: 'CAM methods to time, e.g. gradcam,gradcam++,ablationcam' },
    pixel: { type: 'string', value: '<list|none>', default: 'all', help: 'pixel-level methods to time: saliency, guided-backprop, guided-gradcam, smoothgrad, integrated-gradients' },
    'pixel-batch': { type: 'string', value: '<n>', help: 'SmoothGrad and IG samples per batch; two batches run (default 8; 2 on a CPU rasteriser)' },
    'no-peer': { type: 'boolean', help: 'leave TensorFlow.js out' },
    'all-versions': { type: 'boolean', help: 'every version of every kernel (the default without --quick)' },
    f16: { type: 'boolean', help: 'dense weights as float16' },
    out: { type: 'string', value: '<dir>', help: 'where the JSON, markdown and chart go (default: bench-results/ in the kit folder)' },
    tune: TUNE_OPTIONS.tune,
  },
  notes: [
    'Same measurements and report as `npm run bench` (Node host) in the repository. run.sh picks the Vulkan driver:\n' +
      'VK_ICD_FILENAMES or VK_DRIVER_FILES when set, else an NVIDIA, AMD or Intel ICD in /usr/share/vulkan/icd.d,\n' +
      '/etc/vulkan/icd.d or /usr/local/nvidia/share/vulkan/icd.d, else SwiftShader (a CPU rasteriser) when installed.\n' +
      'The tuning cache goes to .cache/ in the kit folder when it is writable.',
  ],
} satisfies CommandSpec<Record<string, OptionSpec>>;

/** The kit's folder: run.sh says; else the folder of this (bundled) script. */
const kitDir = () => resolve(process.env.GRADCAM_KIT_DIR ?? dirname(fileURLToPath(import.meta.url)));

function printCheck(s: CheckSummary, filter: readonly string[]): void {
  const skipped = s.skipped.length ? `, ${s.skipped.length} skipped (device features missing)` : '';
  console.log(
    `check: ${s.passed} passed, ${s.failed.length} failed${skipped} of ${s.total} kernel cases${filter.length ? ` (filter ${filter.join(',')})` : ''} ` +
      `on ${s.adapter}, features ${s.features.join(', ') || 'none'}; ${s.seconds.toFixed(1)} s`,
  );
}

function benchSetup(values: OptionValues<typeof SPEC.options>) {
  const preset = benchPreset(values.quick ? 'quick' : 'full');
  const runs = Number(values.runs ?? preset.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs ${values.runs}: must be a positive integer`);
  const size = Number(values.size);
  const badSize = checkBenchSize(size);
  if (badSize) throw new UsageError(`--size ${values.size}: ${badSize}`);
  const batches = values.batch ? values.batch.split(',').map(Number) : [...preset.batches];
  if (batches.some((b) => !Number.isInteger(b) || b < 1 || b > 64)) throw new UsageError(`--batch ${values.batch}: comma-separated batch sizes between 1 and 64`);
  const methods = parseMethodList(values.methods);
  if (typeof methods === 'string') throw new UsageError(`--methods ${values.methods}: ${methods}`);
  const pixel = parsePixelList(values.pixel);
  if (typeof pixel === 'string') throw new UsageError(`--pixel ${values.pixel}: ${pixel}`);
  const pixelBatch = values['pixel-batch'] === undefined ? undefined : Number(values['pixel-batch']);
  if (pixelBatch !== undefined && !(Number.isInteger(pixelBatch) && pixelBatch >= 1 && pixelBatch <= 64))
    throw new UsageError(`--pixel-batch ${values['pixel-batch']}: an integer between 1 and 64`);
  const config = {
    model: vgg16AtSize(size),
    quick: values.quick,
    runs,
    layers: values.layers?.split(',') ?? preset.layers,
    allVersions: values['all-versions'] || preset.allVersions,
    peer: !values['no-peer'],
    batches,
    tune: parseTuneMode(values.tune),
    f16: values.f16,
    methods,
    pixel,
    ...(pixelBatch !== undefined ? { pixelBatch } : {}),
  };
  // Before the run, not after it: a read-only kit folder needs --out.
  const out = resolve(values.out ?? resolve(kitDir(), 'bench-results'));
  try {
    mkdirSync(out, { recursive: true });
    accessSync(out, constants.W_OK);
  } catch {
    throw new UsageError(`cannot write the report to ${out}${values.out ? '' : ' (the kit folder is read-only?)'}: pass --out <dir>`);
  }
  return { config, size, out };
}

runCli(async () => {
  const parsed = parseCommandLine('./run.sh', SPEC);
  if (!parsed) return;
  const { values } = parsed;
  if (values.swiftshader) forceSwiftShader();
  const command = `./run.sh ${process.argv.slice(2).join(' ')}`.trim();

  // The bench's flags are checked before the kernel checks run (they take minutes), not after.
  const bench = values['check-only'] ? undefined : benchSetup(values);

  const filter = values['check-filter']?.split(',').map((f) => f.trim()).filter(Boolean) ?? [];
  if (filter.length && !values.check && !values['check-only']) throw new UsageError('--check-filter: only with --check or --check-only');
  if (values.check || values['check-only']) {
    if (!selectCases(filter).length) throw new UsageError(`--check-filter ${values['check-filter']}: no kernel case's name contains ${filter.length > 1 ? 'any of these' : 'it'}`);
    const progress = progressPrinter();
    const summary = await runKernelChecks({
      filter,
      onCase: (c, i, total) => progress.update(`check: ${i + 1}/${total} ${c.name}`, i / total),
      onFailure: (f) => {
        progress.done();
        console.log(`FAIL ${f.name} (${f.ms.toFixed(0)} ms): ${f.message}`);
      },
    });
    progress.done();
    // Skipped cases by kernel version (the part of the name before the shape) and reason, one line each.
    const skipped = new Map<string, number>();
    for (const s of summary.skipped) {
      const key = `${s.name.split(' ')[0]} (${s.reason})`;
      skipped.set(key, (skipped.get(key) ?? 0) + 1);
    }
    for (const [key, n] of skipped) log(`check: skipped ${n} case${n > 1 ? 's' : ''} of ${key}`);
    // The peer's backends load from the kit and agree with the reference (its full run takes minutes on a CPU).
    const peer = values['no-peer'] ? [] : await checkPeer(kitDir());
    for (const p of peer) console.log(`check: TF.js ${p.backend} ${p.ok ? 'ok' : 'FAILED'} (${p.ms.toFixed(0)} ms): ${p.message}`);
    printCheck(summary, filter);
    if (summary.failed.length || peer.some((p) => !p.ok)) {
      process.exitCode = 1;
      if (!values['check-only']) log('check: a check failed; not running the benchmark');
      return;
    }
    if (values['check-only']) return;
  }

  if (!bench) return;
  const { config, size, out } = bench;
  const { methods, pixel, batches, runs } = config;
  log(
    `bench: ${values.quick ? 'quick' : 'full'} run, ${size}×${size}, ${runs} runs, batch ${batches.join(',')}${config.peer ? ', with the TF.js peer' : ''}` +
      `${config.allVersions ? ', every kernel version' : ''}, CAM methods ${formatMethodList(methods)}, pixel methods ${formatPixelList(pixel)}: ` +
      `a few minutes on a GPU, about ${softwareMinutes({ ...config, size })} min on a CPU rasteriser${values.quick ? '' : " (try '--quick' first)"}`,
  );
  const report = await runKitBench(config, { kitDir: kitDir(), log, onDevice: (adapter) => log(`kit: adapter ${adapter}`) });
  const { markdown, files } = writeKitResults(out, report, command);
  console.log(markdown);
  log(`wrote ${files.filter((f) => !/\d{4}-\d\d-\d\dT/.test(f)).join(', ')}`);
});
