// npm run bench:throughput [-- --images N --weights DIR]: images per second of folder mode
// (`gradcam <dir> --out …`: weights loaded and kernels prepared once, decoding overlapped with the GPU)
// against one `gradcam <image>` process per image, over N generated photos, in the same run on the same
// device. Prints a markdown table and writes bench-results/throughput.json.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_WEIGHTS_DIR, encodeImage, readWeightsManifest, syntheticPhoto, writeFilesAtomically } from '../src/node.js';
import { integerFlag, parseCommandLine, runCli, type CommandSpec, type OptionSpec } from './lib/cli.js';

const SPEC = {
  usage: 'npm run bench:throughput -- [options]',
  summary:
    'Images per second over a folder of N generated photos: one `gradcam <dir> --out <dir>` run against N separate\n' +
    '`gradcam <image> --out <file>` runs (each loading the weights and preparing its kernels), same weights, same device.',
  positionals: { min: 0, max: 0, what: '' },
  options: {
    images: { type: 'string', value: '<N>', default: '8', help: 'generated photos (640×480 PNG, seeded)' },
    weights: { type: 'string', value: '<dir>', default: DEFAULT_WEIGHTS_DIR, help: "converted weights ('npm run weights'; --synthetic ones are fine for timing)" },
    out: { type: 'string', value: '<dir>', default: 'bench-results', help: 'where throughput.json goes' },
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

const CLI = ['--import', 'tsx', '--import', './scripts/lib/registerRaw.js', 'scripts/gradcam.ts'];

function gradcam(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`gradcam ${args.join(' ')} exited with ${code}:\n${stderr}`))));
  });
}

runCli(async () => {
  const parsed = parseCommandLine('bench:throughput', SPEC);
  if (!parsed) return;
  const { values } = parsed;
  const n = integerFlag('images', values.images, 1, 1000)!;
  readWeightsManifest(values.weights);
  const dir = mkdtempSync(join(tmpdir(), 'gradcam-throughput-'));
  try {
    const inputs = join(dir, 'in');
    mkdirSync(inputs);
    for (let i = 0; i < n; i++) writeFileSync(join(inputs, `photo${String(i).padStart(3, '0')}.png`), await encodeImage('x.png', syntheticPhoto(640, 480, 100 + i)));
    // A first run tunes (or reads the cached choice) so neither side pays for tuning.
    await gradcam([join(inputs, 'photo000.png'), '--weights', values.weights]);
    process.stderr.write(`folder mode over ${n} images …\n`);
    const folderMs = await gradcam([inputs, '--out', join(dir, 'folder'), '--weights', values.weights]);
    process.stderr.write(`one process per image …\n`);
    mkdirSync(join(dir, 'single'));
    let singleMs = 0;
    for (const f of readdirSync(inputs)) singleMs += await gradcam([join(inputs, f), '--out', join(dir, 'single', f), '--weights', values.weights]);
    const report = {
      images: n,
      folder: { seconds: folderMs / 1000, imagesPerSecond: n / (folderMs / 1000) },
      perImage: { seconds: singleMs / 1000, imagesPerSecond: n / (singleMs / 1000) },
      speedup: singleMs / folderMs,
      weights: values.weights,
    };
    console.log('| mode | images | seconds | images/s |');
    console.log('|---|---:|---:|---:|');
    console.log(`| \`gradcam <dir> --out\` (one process) | ${n} | ${report.folder.seconds.toFixed(1)} | ${report.folder.imagesPerSecond.toFixed(3)} |`);
    console.log(`| \`gradcam <image>\` per image | ${n} | ${report.perImage.seconds.toFixed(1)} | ${report.perImage.imagesPerSecond.toFixed(3)} |`);
    console.log(`\nfolder mode is ${report.speedup.toFixed(2)}× the throughput of one call per image`);
    mkdirSync(values.out, { recursive: true });
    writeFilesAtomically([{ path: join(values.out, 'throughput.json'), bytes: new TextEncoder().encode(`${JSON.stringify(report, null, 1)}\n`) }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
