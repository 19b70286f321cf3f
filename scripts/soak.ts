// npm run soak -- [options] (see --help)
// The soak of test/soak.test.ts at full size: N Grad-CAM runs of VGG16 at 224×224 in one engine
// (seeded synthetic weights, or a converted weights directory), cycling through image sizes, methods,
// layers and target counts with explain() and overlay() mixed in; checks that the GPU ledger is the
// same one cycle later, that caches stay within their caps and stop growing, and that the JS heap and
// RSS stay within the bounds given; prints a table. Exit code 1 when a check fails. The cycle and the
// checks are test/support/soak.ts; this file reads the flags and prints.
import { heNormalWeights, MAX_PERTURBATION_PLANS, MAX_PLANS, openGradCam, syntheticPhoto, VGG16 } from '../src/node.js';
import { formatSoakReport, runSoak, soakFailures } from '../test/support/soak.js';
import { integerFlag, parseCommandLine, runCli, type CommandSpec, type OptionSpec } from './lib/cli.js';
import { parseTuneMode, TUNE_OPTIONS, tuningLog } from './lib/tuning.js';

const SPEC = {
  usage: 'npm run soak -- [options]',
  summary:
    'N Grad-CAM runs of VGG16 at 224×224 in one engine, cycling through image sizes, methods, layers and target\n' +
    "counts with explain() and overlay() mixed in. Checks that the engine's GPU memory ledger is the same one cycle\n" +
    'later, that its caches stay within their caps and stop growing, and that the JS heap and RSS stay within\n' +
    'the bounds; prints a table and exits 1 if a check fails. About 10 s a run on a CPU rasteriser (SwiftShader).',
  positionals: { min: 0, max: 0, what: '' },
  options: {
    runs: { type: 'string', value: '<n>', default: '200', help: 'run() calls (the checks start after two cycles)' },
    period: { type: 'string', value: '<n>', default: '10', help: 'steps per cycle (1: the same call every run)' },
    weights: { type: 'string', value: '<dir>', help: 'a converted weights directory (default: seeded random VGG16 weights in memory)' },
    seed: { type: 'string', value: '<n>', default: '1', help: 'seed of the random weights' },
    f16: { type: 'boolean', help: 'dense weights as float16' },
    'heap-bound': { type: 'string', value: '<MiB>', default: '16', help: 'JS heap growth allowed after warm-up (after a full collection)' },
    'rss-bound': { type: 'string', value: '<MiB>', default: '256', help: 'RSS growth allowed after warm-up' },
    ...TUNE_OPTIONS,
  },
  notes: [
    'Bounds: one full-size result kept per run (a 500×375 overlay alone is 732 KiB) would pass the default heap\n' +
      "bound within 25 runs; RSS moves with the driver's own allocations, so its bound only catches large native\n" +
      "leaks. GPU memory is checked exactly, by the engine's ledger of every buffer created and destroyed.",
  ],
} satisfies CommandSpec<Record<string, OptionSpec>>;

runCli(async () => {
  const parsed = parseCommandLine('npm run soak --', SPEC);
  if (!parsed) return;
  const { values } = parsed;
  const runs = integerFlag('runs', values.runs, 1, 1_000_000)!;
  const period = integerFlag('period', values.period, 1, 10_000)!;
  const seed = integerFlag('seed', values.seed, 0, 2 ** 32 - 1)!;
  const heapBound = integerFlag('heap-bound', values['heap-bound'], 1, 1 << 20)! * 2 ** 20;
  const rssBound = integerFlag('rss-bound', values['rss-bound'], 1, 1 << 20)! * 2 ** 20;
  const tune = parseTuneMode(values.tune);
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const tuningLines = tuningLog(tune, values.verbose, log);
  const weights = values.weights ?? { model: VGG16, tensors: heNormalWeights(VGG16, { seed, classifierGain: 0.01 }), info: { model: VGG16.name, synthetic: true, seed } };
  const opened = await openGradCam({ weights, tune, f16: values.f16, onTuningProgress: tuningLines.onTuningProgress });
  tuningLines.report(opened.tuning);
  try {
    const images = [syntheticPhoto(224, 224, 1), syntheticPhoto(320, 240, 2), syntheticPhoto(500, 375, 3)];
    const t0 = performance.now();
    const report = await runSoak(opened.cam, {
      runs,
      period,
      profile: 'full',
      images,
      onRun: (s) => {
        if (s.run % period === 0 || s.run === runs)
          log(`run ${s.run}/${runs}: GPU ledger ${s.buffers} buffers, ${(s.bytes / 2 ** 20).toFixed(1)} MiB, ${((performance.now() - t0) / 1000 / s.run).toFixed(2)} s a run`);
      },
    });
    console.log(formatSoakReport(report).join('\n'));
    const failures = soakFailures(report, { heapGrowth: heapBound, rssGrowth: rssBound, caps: { plans: MAX_PLANS, perturbationPlans: MAX_PERTURBATION_PLANS, imageUploads: 1 } });
    for (const f of failures) log(`failed: ${f}`);
    if (failures.length) process.exitCode = 1;
    else console.log(`passed: ${report.runs - report.warmupRuns} runs checked after ${report.warmupRuns} of warm-up`);
  } finally {
    opened.close();
  }
});
