// gradcam <image.(png|jpg)> [options]: Grad-CAM of one image with VGG16 on WebGPU (see --help).
// Every argument is checked before the weights are loaded or a GPU is opened, so a mistake is answered
// at once; outputs are written together or not at all.
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  BLEND_MODES,
  checkGradCamOptions,
  COLORMAPS,
  convLayerNames,
  DEFAULT_WEIGHTS_DIR,
  encodeImage,
  encodeNpy,
  formatPredictions,
  MODELS,
  openGradCam,
  randomWeightsNotice,
  readImage,
  readWeightsManifest,
  writeFilesAtomically,
} from '../src/node.js';
import { choiceFlag, integerFlag, parseCommandLine, runCli, UsageError, type CommandSpec, type OptionSpec } from './lib/cli.js';
import { TUNE_OPTIONS, parseTuneMode, tuningLog } from './lib/tuning.js';

const SPEC = {
  usage: 'gradcam <image.(png|jpg)> [options]   (or: npm run gradcam -- <image> [options])',
  summary:
    'Grad-CAM heatmap of one image with VGG16 on WebGPU, as the Keras recipe computes it: the gradient of the\n' +
    "class score at a conv layer, channel weights = mean gradient, ReLU(Σ weights·activations) / max. Prints the\n" +
    'top predictions; writes the overlay and the raw heatmap on request. PNG and JPEG input, decoded as PIL does.',
  positionals: { min: 1, max: 1, what: 'the image file' },
  options: {
    weights: { type: 'string', value: '<dir>', default: DEFAULT_WEIGHTS_DIR, help: "converted weights ('npm run weights')" },
    class: { type: 'string', value: '<0-999>', help: 'ImageNet class to explain (default: the top-1 prediction)' },
    layer: { type: 'string', value: '<name>', default: 'block5_conv3', help: 'conv layer whose activations and gradients make the map' },
    score: { type: 'string', value: 'prob|logit', default: 'prob', help: "differentiate the softmax probability (the recipe's) or the logit" },
    top: { type: 'string', value: '<k>', default: '3', help: 'how many predictions to print (1..1000)' },
    alpha: { type: 'string', value: '<0..1>', default: '0.4', help: 'weight of the heatmap colour in the overlay' },
    blend: { type: 'string', value: 'add|normalized', default: 'add', help: "add: alpha·colour + image, saturated (the recipe's); normalized: (1 − alpha)·image + alpha·colour" },
    colormap: { type: 'string', value: '<name>', default: 'jet', help: "the heatmap's colours in the overlay: jet (the recipe's), viridis, hot or gray" },
    out: { type: 'string', value: '<file.png|.jpg>', help: 'write the overlay, at the image size' },
    heatmap: { type: 'string', value: '<file.npy>', help: "write the normalised heatmap (the layer's size, e.g. 14×14) as float32 .npy" },
    json: { type: 'boolean', help: 'print one JSON object on stdout (predictions, class, layer, score, weights, heatmapShape, timingsMs)' },
    f16: { type: 'boolean', help: 'store the dense layers’ weights as float16 (247 MB less GPU memory, ~5e-4 relative error)' },
    ...TUNE_OPTIONS,
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

function checkOutput(flag: string, path: string | undefined, pattern: RegExp, what: string): void {
  if (path === undefined) return;
  if (!pattern.test(path)) throw new UsageError(`--${flag} ${path}: ${what}`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new UsageError(`--${flag} ${path}: is a directory; give a file name`);
  const dir = dirname(path) || '.';
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--${flag} ${path}: directory '${dir}' does not exist`);
}

const ALL_CONV_LAYERS = new Set(Object.values(MODELS).flatMap(convLayerNames));

runCli(async () => {
  const parsed = parseCommandLine('gradcam', SPEC);
  if (!parsed) return;
  const { values } = parsed;
  const [imagePath] = parsed.positionals;
  // Arguments first, from the flags alone: nothing is read yet.
  const score = choiceFlag('score', values.score, ['prob', 'logit'] as const);
  const alpha = Number(values.alpha);
  if (!/^\s*[\d.]+(e-?\d+)?\s*$/i.test(values.alpha) || !(alpha >= 0 && alpha <= 1)) throw new UsageError(`--alpha ${values.alpha}: must be a number between 0 and 1`);
  const blend = choiceFlag('blend', values.blend, BLEND_MODES);
  const colormap = choiceFlag('colormap', values.colormap, COLORMAPS);
  const top = integerFlag('top', values.top, 1, 1000)!;
  const classIndex = integerFlag('class', values.class, 0, 999);
  if (!ALL_CONV_LAYERS.has(values.layer))
    throw new UsageError(`--layer ${values.layer}: not a conv layer of ${Object.keys(MODELS).join(' or ')}; choose one of ${convLayerNames(MODELS.vgg16).join(', ')}`);
  const tuneMode = parseTuneMode(values.tune);
  checkOutput('out', values.out, /\.(png|jpe?g)$/i, 'the overlay is written as .png or .jpg; choose one of those extensions');
  checkOutput('heatmap', values.heatmap, /\.npy$/i, 'the heatmap is written as a NumPy .npy file; use the .npy extension');
  if (values.out && values.heatmap && resolve(values.out) === resolve(values.heatmap)) throw new UsageError(`--out and --heatmap name the same file`);
  // Then the manifest (a few kB): the model decides which layers and classes exist.
  const { model, info } = readWeightsManifest(values.weights);
  checkGradCamOptions(model, { layer: values.layer, classIndex });
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const notice = randomWeightsNotice(info, values.weights);
  if (notice) log(`warning: ${notice}`);

  // The heavy parts (image decoding, Dawn, the weights) only once everything above holds.
  const image = await readImage(imagePath);
  const tuningLines = tuningLog(tuneMode, values.verbose, log);
  const opened = await openGradCam({
    weights: values.weights,
    tune: tuneMode,
    f16: values.f16,
    onTuningProgress: tuningLines.onTuningProgress,
    onWeightsLoaded: (w, load) => log(`loaded ${w.model.name} weights from ${values.weights} (${(load.bytes / 1e6).toFixed(0)} MB in ${load.seconds.toFixed(1)} s)`),
  });
  tuningLines.report(opened.tuning);
  const { cam } = opened;
  try {
    const r = await cam.run(image, { classIndex, layer: values.layer, score, alpha, blend, colormap, top });
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
        weights: info,
        heatmapShape: [r.heatmap.height, r.heatmap.width],
        timingsMs: r.timingsMs,
      };
      process.stdout.write(`${JSON.stringify(json)}\n`);
    } else {
      console.log(`Predicted: ${formatPredictions(r.predictions)}${info.synthetic ? '   (RANDOM weights: meaningless)' : ''}`);
      console.log(`Grad-CAM of class ${r.classIndex} at ${r.layer} (score ${r.score}), heatmap ${r.heatmap.height}×${r.heatmap.width}`);
      for (const f of files) console.log(`wrote ${f.path}`);
    }
  } finally {
    opened.close();
  }
});
