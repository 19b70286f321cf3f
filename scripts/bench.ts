// npm run bench [-- options] (see --help; --quick first)
// Per-kernel GPU profiles for every version and VGG16 layer shape against the measured peaks, the
// per-device kernel choice, end-to-end forward and Grad-CAM latency, the CAM methods (extra time over
// Grad-CAM, top-5 maps in one pass, Score-CAM and Ablation-CAM per row and per image), the pixel-level
// methods (the backward to the image against the forward, SmoothGrad and IG per sample), batched
// forwards, cold start and GPU memory, and TensorFlow.js (WebGPU on the same adapter, WASM as the CPU baseline) in the same run,
// in Node (Dawn) and/or headless Chrome (a page driven by puppeteer). The measuring code is the same
// for both hosts (src/bench/run.ts). Writes bench-results/ (see scripts/lib/benchReport.ts).
import type { ChromeBenchConfig } from '../src/bench/chrome.page.js';
import { benchPreset, checkBenchSize, formatMethodList, formatPixelList, parseMethodList, parsePixelList, softwareMinutes, vgg16AtSize } from '../src/bench/config.js';
import { runBench, type BenchConfig, type BenchReport } from '../src/bench/run.js';
import { fileTuningStore, loadWeightsFromDir, requestNodeDevice } from '../src/node.js';
import { launchStoppableChromium, writeBenchResults } from './lib/benchReport.js';
import { startDevServer } from '../src/bench/chromium.js';
import { cancellation, type Cancellation } from './lib/cancel.js';
import { choiceFlag, parseCommandLine, runCli, UsageError, type CommandSpec, type OptionSpec } from './lib/cli.js';
import { nodePeer } from '../src/bench/tfjsPeer.node.js';
import { parseTuneMode, TUNE_OPTIONS } from './lib/tuning.js';

const log = (line: string) => process.stderr.write(`${line}\n`);

async function benchNode(config: BenchConfig, weightsDir: string | undefined): Promise<BenchReport> {
  const device = await requestNodeDevice(config.model);
  try {
    return await runBench(
      device,
      {
        name: 'node',
        log,
        peer: nodePeer,
        tuningStore: fileTuningStore(),
        weights: weightsDir
          ? async (d) => {
              const loaded = await loadWeightsFromDir(d, weightsDir);
              return { weights: loaded.weights, from: `weights directory ${weightsDir}`, info: loaded.info };
            }
          : undefined,
      },
      config,
    );
  } finally {
    device.destroy();
  }
}

async function benchChrome(config: ChromeBenchConfig, cancel: Cancellation): Promise<BenchReport> {
  const { server, url } = await startDevServer({ prebundle: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-core/dist/register_all_gradients', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-backend-wasm'], watch: false });
  const unhookServer = cancel.onStop(() => server.close());
  let chromium;
  try {
    chromium = await launchStoppableChromium(cancel);
  } catch (e) {
    unhookServer();
    await server.close();
    throw e;
  }
  const { browser } = chromium;
  try {
    const page = await browser.newPage();
    let loads = 0;
    page.on('load', () => {
      if (++loads > 1) log('chrome: the bench page reloaded; the run starts over');
    });
    page.on('console', (m) => {
      const text = m.text();
      if (text.startsWith('bench: ')) log(`chrome ${text.slice('bench: '.length)}`);
      else if (m.type() === 'error') log(`chrome console: ${text}`);
    });
    page.on('pageerror', (e) => log(`chrome page error: ${String(e)}`));
    await page.goto(new URL(`src/bench/chrome.html?config=${encodeURIComponent(JSON.stringify(config))}`, url).href);
    // Polled from here, one short evaluate a second: a single long wait in the page would hit
    // puppeteer's protocol timeout (3 minutes) long before a full-size run on a CPU adapter ends.
    for (;;) {
      const done = await page.evaluate(() => window.__bench?.done === true).catch(() => false);
      if (done) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const result = await page.evaluate(() => window.__bench);
    if (result.error || !result.report) throw new Error(`the Chrome bench page failed: ${result.error ?? 'no report'}`);
    return result.report;
  } finally {
    await chromium.close();
    unhookServer();
    await server.close();
  }
}

const SPEC = {
  usage: 'npm run bench -- [options]',
  summary:
    'Benchmarks every kernel version on every VGG16 layer shape (median, GFLOP/s, GB/s, % of the measured peak),\n' +
    'end-to-end forward and Grad-CAM latency, the CAM and pixel-level methods on the kept forward, cold start and GPU\n' +
    'memory, against TensorFlow.js (WebGPU on the same adapter, WASM as the CPU baseline) in the same run; Node (Dawn)\n' +
    'and/or headless Chrome. Writes bench-results/; Ctrl-C (or SIGTERM) stops it with nothing written and the\n' +
    'browser closed, exit code 130 (143).',
  positionals: { min: 0, max: 0, what: 'none' },
  options: {
    quick: { type: 'boolean', help: 'start here: 3 runs, 8 representative layers, the chosen versions only, batch 1' },
    host: { type: 'string', value: 'node|chrome|both', default: 'node', help: 'where to run: Node (Dawn) and/or headless Chromium' },
    runs: { type: 'string', value: '<n>', help: 'timed runs per measurement (default: 3 with --quick, else 10)' },
    size: { type: 'string', value: '<px>', default: '224', help: 'input size, a multiple of 32 (smaller is faster)' },
    layers: { type: 'string', value: '<a,b,…>', help: 'only these layers in the per-kernel part' },
    batch: { type: 'string', value: '<1,8>', help: 'batch sizes of the batched forward (default: 1 with --quick, else 1,8)' },
    methods: {
      type: 'string',
      value: '<list|none>',
      default: 'all',
      help: 'CAM methods to time, e.g. gradcam,gradcam++,ablationcam (each brings Grad-CAM, the baseline; gradcam the top-5)',
    },
    pixel: {
      type: 'string',
      value: '<list|none>',
      default: 'all',
      help: 'pixel-level methods to time: saliency, guided-backprop, guided-gradcam (brings guided-backprop), smoothgrad, integrated-gradients',
    },
    'pixel-batch': { type: 'string', value: '<n>', help: 'SmoothGrad and IG samples per batch; two batches run (default 8; 2 on a CPU rasteriser)' },
    weights: { type: 'string', value: '<dir>', help: 'converted weights (node host; default: synthetic weights made in memory)' },
    'no-peer': { type: 'boolean', help: 'leave TensorFlow.js out (it takes most of the time on a CPU adapter)' },
    'all-versions': { type: 'boolean', help: 'every version of every kernel (the default without --quick)' },
    f16: { type: 'boolean', help: 'dense weights as float16' },
    out: { type: 'string', value: '<dir>', default: 'bench-results', help: 'where the JSON, markdown and charts go' },
    tune: TUNE_OPTIONS.tune,
  },
  notes: [
    'How long: on a CPU rasteriser (SwiftShader, 2 cores) --quick takes about 11 minutes per host at 224×224 with\n' +
      '--pixel none (6 without the peer as well, 3 with --methods none too); the five pixel-level methods add several\n' +
      'minutes (each backward to the image costs a forward or more). The full run takes well over an hour per host\n' +
      '(every version of every kernel, 10 runs, and TF.js WebGPU at batch 8). On a real GPU both take a few minutes.\n' +
      'The estimate is printed before it starts. Score-CAM and Ablation-CAM run two batches, extrapolated to the\n' +
      'image, with --quick or on a CPU rasteriser; in full on a GPU. SmoothGrad and Integrated Gradients run two\n' +
      'batches of --pixel-batch samples: with --quick or on a CPU rasteriser once, timing the second; otherwise\n' +
      '--runs times after a warm-up.',
  ],
} satisfies CommandSpec<Record<string, OptionSpec>>;

runCli(async () => {
  const parsed = parseCommandLine('npm run bench --', SPEC);
  if (!parsed) return;
  const { values } = parsed;
  const host = values.host;
  choiceFlag('host', host, ['node', 'chrome', 'both'] as const);
  const quick = values.quick;
  const preset = benchPreset(quick ? 'quick' : 'full');
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
  if (values.weights && host !== 'node') throw new UsageError('--weights: only the node host reads a weights directory (the Chrome host generates synthetic weights in the page)');
  const model = vgg16AtSize(size);
  const common = {
    quick,
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
  const hosts = host === 'both' ? 2 : 1;
  const minutes = softwareMinutes({ ...common, size }) * hosts;
  log(
    `bench: ${quick ? 'quick' : 'full'} run on ${host === 'both' ? 'Node, then Chrome' : host}, ${size}×${size}, ${runs} runs, batch ${batches.join(',')}` +
      `${common.peer ? ', with the TF.js peer' : ''}${common.allVersions ? ', every kernel version' : ''}` +
      `, pixel methods ${formatPixelList(pixel)}${pixel.some((m) => m === 'smoothgrad' || m === 'integrated-gradients') && pixelBatch !== undefined ? ` (batches of ${pixelBatch})` : ''}` +
      `, CAM methods ${formatMethodList(methods)}: about ${minutes} min on a CPU rasteriser` +
      ` like SwiftShader, a few minutes on a GPU${quick ? '' : " (try '--quick' first)"}`,
  );
  const reports: BenchReport[] = [];
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim().replace(/ --$/, '');
  const cancel = cancellation();
  const untouched = `nothing written, ${values.out} as it was`;
  if (host === 'node' || host === 'both') {
    cancel.doing('benchmarking on Node', untouched);
    reports.push(await benchNode({ ...common, model }, values.weights));
  }
  if (host === 'chrome' || host === 'both') {
    cancel.doing('benchmarking in headless Chrome', untouched);
    try {
      reports.push(await benchChrome({ ...common, size }, cancel));
    } catch (e) {
      // Keep the Node host's finished report (not when a signal stopped the run: it says nothing is written).
      if (reports.length && !cancel.signal.aborted) await writeBenchResults(values.out!, reports, command, cancel);
      throw e;
    }
  }
  cancel.doing(`writing the results to ${values.out}`, untouched);
  const { markdown, files } = await writeBenchResults(values.out!, reports, command, cancel);
  console.log(markdown);
  log(`wrote ${files.filter((f) => !/\d{4}-\d\d-\d\dT/.test(f)).join(', ')}`);
});
