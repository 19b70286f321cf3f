// gradcam <image.(png|jpg)> [--weights <dir>] [--class <0-999>] [--layer <conv layer name>]
//         [--score prob|logit] [--top <k>] [--alpha <0..1>] [--out <overlay.png|.jpg>]
//         [--heatmap <file.npy>] [--json] [--f16] [--tune auto|force|off] [--verbose]
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { GradCam } from '../src/engine/gradcam.js';
import { formatPredictions } from '../src/engine/imagenet.js';
import { requestNodeDevice } from '../src/engine/node.js';
import { DEFAULT_WEIGHTS_DIR, loadWeightsFromDir } from '../src/engine/weights/node.js';
import { runCli } from './lib/cli.js';
import { cliTuning, parseTuneMode, TUNE_USAGE } from './lib/tuning.js';
import { encodeImage, readImage, writeFilesAtomically } from './lib/imageFiles.js';
import { encodeNpy } from './lib/npy.js';

const USAGE = `usage: gradcam <image.(png|jpg)> [--weights <dir>] [--class <0-999>] [--layer <conv layer name>]
               [--score prob|logit] [--top <k>] [--alpha <0..1>] [--out <overlay.png|.jpg>]
               [--heatmap <file.npy>] [--json] [--f16] ${TUNE_USAGE}`;

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new Error(`--${name} ${value}: must be a non-negative integer`);
  return n;
}

function checkOutput(flag: string, path: string | undefined, pattern: RegExp, what: string): void {
  if (path === undefined) return;
  if (!pattern.test(path)) throw new Error(`--${flag} ${path}: ${what}`);
  const dir = dirname(path) || '.';
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`--${flag} ${path}: directory '${dir}' does not exist`);
}

runCli(async () => {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      weights: { type: 'string', default: DEFAULT_WEIGHTS_DIR },
      class: { type: 'string' },
      layer: { type: 'string' },
      score: { type: 'string', default: 'prob' },
      top: { type: 'string', default: '3' },
      alpha: { type: 'string', default: '0.4' },
      out: { type: 'string' },
      heatmap: { type: 'string' },
      json: { type: 'boolean' },
      f16: { type: 'boolean' },
      tune: { type: 'string', default: 'auto' },
      verbose: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (positionals.length !== 1) throw new Error(`expected one image file\n${USAGE}`);
  const score = values.score;
  if (score !== 'prob' && score !== 'logit') throw new Error(`--score ${score}: choose prob or logit`);
  const alpha = Number(values.alpha);
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`--alpha ${values.alpha}: must be a number between 0 and 1`);
  const top = integer('top', values.top)!;
  if (top < 1 || top > 1000) throw new Error(`--top ${top}: must be between 1 and 1000`);
  const classIndex = integer('class', values.class);
  checkOutput('out', values.out, /\.(png|jpe?g)$/i, 'the overlay is written as .png or .jpg');
  checkOutput('heatmap', values.heatmap, /\.npy$/i, 'the heatmap is written as a NumPy .npy file');
  const tuneMode = parseTuneMode(values.tune);
  const log = (line: string) => process.stderr.write(`${line}\n`);

  const image = await readImage(positionals[0]);
  const device = await requestNodeDevice();
  try {
    const loaded = await loadWeightsFromDir(device, values.weights!);
    log(`loaded ${loaded.weights.model.name} weights from ${values.weights} (${(loaded.bytes / 1e6).toFixed(0)} MB in ${loaded.seconds.toFixed(1)} s)`);
    const tuning = await cliTuning(device, loaded.weights.model, tuneMode, values.verbose ?? false, log);
    const cam = await GradCam.create(device, loaded.weights.model, loaded.weights, { choices: tuning.choices, f16: values.f16 });
    try {
      const r = await cam.run(image, { classIndex, layer: values.layer, score, alpha, top });
      for (const w of r.warnings) log(`warning: ${w}`);
      if (values.verbose) {
        log(`kernels: ${cam.network.plan.ops.map((op, i) => `${op.layer} ${cam.network.versions[i]}`).join(', ')}`);
        log(`backward kernels: ${[...cam.backwardVersions].map(([layer, v]) => `${layer} ${v}`).join(', ')}`);
        log(`GPU time per stage: ${Object.entries(r.timingsMs).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ')}`);
      }
      const files: { path: string; bytes: Uint8Array }[] = [];
      if (values.out) files.push({ path: values.out, bytes: await encodeImage(values.out, r.overlay!) });
      if (values.heatmap) files.push({ path: values.heatmap, bytes: encodeNpy(r.heatmap.data, [r.heatmap.height, r.heatmap.width]) });
      writeFilesAtomically(files);
      if (values.json) {
        const json = {
          predictions: r.predictions,
          class: r.classIndex,
          layer: r.layer,
          score: r.score,
          heatmapShape: [r.heatmap.height, r.heatmap.width],
          timingsMs: r.timingsMs,
        };
        process.stdout.write(`${JSON.stringify(json)}\n`);
      } else {
        console.log(`Predicted: ${formatPredictions(r.predictions)}`);
        console.log(`Grad-CAM of class ${r.classIndex} at ${r.layer} (score ${r.score}), heatmap ${r.heatmap.height}×${r.heatmap.width}`);
        for (const f of files) console.log(`wrote ${f.path}`);
      }
    } finally {
      cam.dispose();
    }
  } finally {
    device.destroy();
  }
});
