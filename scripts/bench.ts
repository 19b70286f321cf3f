// npm run bench [-- --host node|chrome|both] [--quick] [--runs N] [--size 224] [--layers a,b]
//               [--batch 1,8] [--weights <dir>] [--no-peer] [--all-versions] [--tune auto|force|off] [--f16]
//               [--out bench-results]
// Per-kernel GPU profiles for every version and VGG16 layer shape against the measured peaks, the
// per-device kernel choice, end-to-end forward and Grad-CAM latency, batched forwards, cold start and
// GPU memory, and TensorFlow.js (WebGPU on the same adapter, WASM as the CPU baseline) in the same run,
// in Node (Dawn) and/or headless Chrome (a page driven by puppeteer). The measuring code is the same
// for both hosts (src/bench/run.ts). Writes bench-results/ (see scripts/lib/benchReport.ts).
import { parseArgs } from 'node:util';
import type { ChromeBenchConfig } from '../src/bench/chrome.page.js';
import { QUICK_LAYERS, runBench, type BenchConfig, type BenchReport } from '../src/bench/run.js';
import { VGG16, type ModelSpec } from '../src/engine/model.js';
import { requestNodeDevice } from '../src/engine/node.js';
import { fileTuningStore } from '../src/engine/tuningStore.node.js';
import { loadWeightsFromDir } from '../src/engine/weights/node.js';
import { writeBenchResults } from './lib/benchReport.js';
import { launchChromium, startDevServer } from './lib/chromium.js';
import { runCli } from './lib/cli.js';
import { nodePeer } from './lib/tfjsPeer.js';
import { parseTuneMode } from './lib/tuning.js';

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
              return { weights: loaded.weights, from: `weights directory ${weightsDir}` };
            }
          : undefined,
      },
      config,
    );
  } finally {
    device.destroy();
  }
}

async function benchChrome(config: ChromeBenchConfig): Promise<BenchReport> {
  const { server, url } = await startDevServer({ prebundle: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-backend-wasm'], watch: false });
  const browser = await launchChromium();
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
    await browser.close();
    await server.close();
  }
}

runCli(async () => {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: 'node' },
      quick: { type: 'boolean' },
      runs: { type: 'string' },
      size: { type: 'string', default: '224' },
      layers: { type: 'string' },
      batch: { type: 'string' },
      weights: { type: 'string' },
      'no-peer': { type: 'boolean' },
      'all-versions': { type: 'boolean' },
      tune: { type: 'string', default: 'auto' },
      f16: { type: 'boolean' },
      out: { type: 'string', default: 'bench-results' },
    },
  });
  const host = values.host!;
  if (!['node', 'chrome', 'both'].includes(host)) throw new Error(`--host ${host}: choose node, chrome or both`);
  const quick = values.quick ?? false;
  const runs = Number(values.runs ?? (quick ? 3 : 10));
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs ${values.runs}: must be a positive integer`);
  const size = Number(values.size);
  if (!Number.isInteger(size) || size < 32 || size % 32 !== 0) throw new Error(`--size ${values.size}: must be a multiple of 32, at least 32`);
  // Batch 8 costs eight forwards per run (minutes for the peer on a software adapter): not in --quick.
  const batches = (values.batch ?? (quick ? '1' : '1,8')).split(',').map(Number);
  if (batches.some((b) => !Number.isInteger(b) || b < 1 || b > 64)) throw new Error(`--batch ${values.batch}: comma-separated batch sizes between 1 and 64`);
  if (values.weights && host !== 'node') throw new Error('--weights: only the node host reads a weights directory (the Chrome host generates synthetic weights in the page)');
  const model: ModelSpec = size === 224 ? VGG16 : { ...VGG16, name: `vgg16@${size}`, inputShape: [size, size, 3] };
  const common = {
    quick,
    runs,
    layers: values.layers?.split(',') ?? (quick ? QUICK_LAYERS : undefined),
    allVersions: values['all-versions'] ?? !quick,
    peer: !values['no-peer'],
    batches,
    tune: parseTuneMode(values.tune),
    f16: values.f16 ?? false,
  };
  const reports: BenchReport[] = [];
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim().replace(/ --$/, '');
  if (host === 'node' || host === 'both') reports.push(await benchNode({ ...common, model }, values.weights));
  if (host === 'chrome' || host === 'both') {
    try {
      reports.push(await benchChrome({ ...common, size }));
    } catch (e) {
      // Keep the Node host's finished report.
      if (reports.length) await writeBenchResults(values.out!, reports, command);
      throw e;
    }
  }
  const { markdown, files } = await writeBenchResults(values.out!, reports, command);
  console.log(markdown);
  log(`wrote ${files.filter((f) => !/\d{4}-\d\d-\d\dT/.test(f)).join(', ')}`);
});
