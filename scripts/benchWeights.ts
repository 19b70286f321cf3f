// Measures the browser's weight loading in headless Chromium, against the Node loader on the same
// files at the same moment (on a shared machine the absolute figures move; the ratio less so). Each run
// is a fresh browser profile on disk: a first visit (empty Cache Storage), then a reload from it in a
// new page; --parts adds each step alone (test/browser/weightsBench.page.ts says which). The weights
// are served from localhost by the demo page's own vite plugin.
//   npx tsx scripts/benchWeights.ts [--weights <dir holding vgg16/>] [--model vgg16] [--runs 3] [--parts]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser } from 'puppeteer-core';
import { createServer } from 'vite';
import { launchChromium, PROJECT_ROOT } from '../src/bench/chromium.js';
import { requestNodeDevice } from '../src/hosts/node/device.js';
import { loadWeightsFromDir } from '../src/hosts/node/weights.js';
import type { BenchStep, WeightsBenchResult } from '../test/browser/weightsBench.page.js';
import { serveWeights, weightsIndex } from './lib/serveWeights.js';

const { values } = parseArgs({
  options: {
    weights: { type: 'string', default: process.env.GRADCAM_WEIGHTS_DIR ?? 'weights' },
    model: { type: 'string', default: 'vgg16' },
    runs: { type: 'string', default: '3' },
    concurrency: { type: 'string' },
    parts: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(
    'benchWeights [--weights <dir>] [--model vgg16] [--runs <n>] [--concurrency <n>] [--parts]\n' +
      '  --weights      directory holding <model>/manifest.json (default $GRADCAM_WEIGHTS_DIR or weights)\n' +
      '  --model        which model directory to load (default vgg16)\n' +
      '  --runs         first visit + reload pairs, each in a fresh browser profile (default 3)\n' +
      "  --concurrency  shards in flight (default: the loader's)\n" +
      '  --parts        also time each step alone (network, hashing, Cache Storage, GPU upload)',
  );
  process.exit(0);
}
const dir = resolve(values.weights);
const served = weightsIndex(dir).models[values.model];
if (!served) {
  console.error(`error: no ${values.model}/manifest.json in ${dir}; run 'npm run weights -- --synthetic --out ${join(dir, values.model)}'`);
  process.exit(2);
}

const server = await createServer({
  root: PROJECT_ROOT,
  configFile: false,
  logLevel: 'error',
  plugins: [serveWeights(dir)],
  server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null },
});
await server.listen();
const url = server.resolvedUrls!.local[0];
console.log(`${values.model}: ${((served.bytes ?? 0) / 1e6).toFixed(0)} MB in ${served.shards} shards, served from ${dir} by vite (scripts/lib/serveWeights.ts)`);

function print(steps: BenchStep[]): void {
  for (const s of steps) {
    const detail = s.detail ? `  ${Object.entries(s.detail).map(([k, v]) => `${k}=${v}`).join(' ')}` : '';
    console.log(`  ${s.name.padEnd(50)} ${s.seconds.toFixed(2).padStart(6)} s ${s.mbPerSecond.toFixed(0).padStart(5)} MB/s${detail}`);
  }
}

async function page(browser: Browser, run: string): Promise<BenchStep[]> {
  const p = await browser.newPage();
  p.on('pageerror', (e) => console.error(`page error: ${String(e)}`));
  const query = new URLSearchParams({ base: `/weights/${values.model}/`, run, ...(values.concurrency ? { concurrency: values.concurrency } : {}) });
  await p.goto(new URL(`test/browser/weightsBench.html?${query}`, url).href);
  await p.waitForFunction(() => window.__weightsBench?.done === true, { timeout: 1_200_000, polling: 500 });
  const r = (await p.evaluate(() => window.__weightsBench)) as WeightsBenchResult;
  await p.close();
  if (r.error) throw new Error(r.error);
  print(r.steps);
  return r.steps;
}

async function nodeLoader(): Promise<BenchStep> {
  const device = await requestNodeDevice();
  try {
    const t0 = performance.now();
    const r = await loadWeightsFromDir(device, join(dir, values.model));
    await device.queue.onSubmittedWorkDone();
    const s = (performance.now() - t0) / 1000;
    r.weights.destroy();
    const step = { name: 'Node loader (reference: disk, sha256, GPU)', seconds: s, mbPerSecond: r.bytes / 1e6 / s };
    print([step]);
    return step;
  } finally {
    device.destroy();
  }
}

const summary = new Map<string, number[]>();
try {
  for (let i = 0; i < Number(values.runs); i++) {
    console.log(`run ${i + 1}`);
    const node = await nodeLoader();
    summary.set(node.name, [...(summary.get(node.name) ?? []), node.mbPerSecond]);
    // A fresh profile on disk per run (a first visit); the reload is a new page in the same profile.
    const profile = mkdtempSync(join(tmpdir(), 'gradcam-weights-bench-'));
    const browser = await launchChromium([`--user-data-dir=${profile}`]);
    try {
      for (const run of ['first', 'reload', 'reload-verify']) for (const s of await page(browser, run)) summary.set(s.name, [...(summary.get(s.name) ?? []), s.mbPerSecond]);
      if (values.parts && i === 0) await page(browser, 'parts');
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  }
  console.log('median MB/s over runs:');
  for (const [name, mbs] of summary) console.log(`  ${name.padEnd(50)} ${mbs.sort((a, b) => a - b)[Math.floor(mbs.length / 2)].toFixed(0).padStart(5)} MB/s`);
} finally {
  await server.close();
}
