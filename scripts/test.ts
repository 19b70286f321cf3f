// npm test: two vitest runs side by side. The files whose time goes to SwiftShader (Dawn or Chromium
// rasterising full-size VGG16 on the CPU, which keeps both cores busy while it computes) run one after
// another in one process; the files whose time goes to single-threaded JavaScript (parsers and their
// fuzzing, downloads, servers, and the TF.js CPU backend computing the references the engine is
// compared with) run one after another in a second process alongside, on the core SwiftShader leaves
// idle between its passes (tsx start-ups, page builds, readbacks). Each line of output is prefixed with
// its tier; the exit code is the worst one.
//
//   npm test                 both tiers, without the opt-in files
//   npm run test:full        both tiers, with the opt-in files (bench-full, vgg16, evaluate-full, verify)
//   tsx scripts/test.ts --tier cpu|gpu [--full] [vitest args…]   one tier
//   npm test -- test/fuzz.test.ts test/soak.test.ts                those files, each in its tier
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

/** Opt-in: `npm run test:full` adds them (minutes each on SwiftShader). */
const OPT_IN = ['bench-full', 'vgg16', 'evaluate-full', 'verify'];

/**
 * The CPU tier: files whose time is mostly single-threaded JavaScript. None builds into dist/ (the page
 * tests serve dist/app while another file would rebuild it), none asserts a time that a loaded core
 * could fail, each keeps its files in its own temporary directory.
 */
const CPU_TIER = [
  'bench-report',
  'cam-methods',
  'download',
  'download-faults',
  'fuzz',
  'imagenet',
  'jpeg',
  'jpeg-pil',
  'keras-h5py',
  'kernel-sources',
  'layout',
  'manifest-model',
  'metrics',
  'pixel-methods',
  'pixel-reference',
  'plan',
  'png-pil',
  'raster',
  'serve',
  'tuning',
  'verify',
  'weights',
];

const args = process.argv.slice(2);
const full = args.includes('--full');
const tierAt = args.indexOf('--tier');
type Tier = 'cpu' | 'gpu';
const tierArg = tierAt >= 0 ? args[tierAt + 1] : undefined;
if (tierAt >= 0 && tierArg !== 'cpu' && tierArg !== 'gpu') {
  console.error(`scripts/test.ts: --tier must be cpu or gpu, not ${tierArg ?? '(nothing)'}`);
  process.exit(2);
}
const only = tierArg as Tier | undefined;
const passThrough = args.filter((a, i) => a !== '--full' && a !== '--tier' && (tierAt < 0 || i !== tierAt + 1));

const require = createRequire(import.meta.url);
const vitest = join(dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
const file = (name: string) => `test/${name}.test.ts`;

// File filters (`npm test -- test/fuzz.test.ts`) go to the tier that holds the file, and a tier left
// with no file does not run; other arguments (-t, --reporter …) go to both.
const isFilter = (a: string) => !a.startsWith('-') && (a.endsWith('.ts') || a.includes('/'));
const filters = passThrough.filter(isFilter);
const options = passThrough.filter((a) => !isFilter(a));
const all = readdirSync('test')
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => `test/${f}`)
  .filter((f) => full || !OPT_IN.some((n) => f === file(n)));
const asked = (f: string) => filters.length === 0 || filters.some((x) => f.includes(x.replace(/^\.\//, '')));
const tiers: Record<Tier, string[]> = {
  cpu: all.filter((f) => CPU_TIER.some((n) => f === file(n)) && asked(f)),
  gpu: all.filter((f) => !CPU_TIER.some((n) => f === file(n)) && asked(f)),
};

function runTier(name: Tier): Promise<number> {
  const child = spawn(process.execPath, [vitest, 'run', ...tiers[name], ...options], { stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (stream: NodeJS.ReadableStream, out: NodeJS.WritableStream) =>
    createInterface({ input: stream }).on('line', (line) => out.write(`[${name}] ${line}\n`));
  prefix(child.stdout, process.stdout);
  prefix(child.stderr, process.stderr);
  return new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

const names = (only ? [only] : (['gpu', 'cpu'] as Tier[])).filter((t) => tiers[t].length > 0);
if (names.length === 0) {
  console.error(`scripts/test.ts: no test file matches ${filters.join(' ')}`);
  process.exit(1);
}
const codes = await Promise.all(names.map(runTier));
process.exit(Math.max(...codes));
