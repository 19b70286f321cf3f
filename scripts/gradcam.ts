// gradcam <image.(png|jpg)> [options]: Grad-CAM of one image with VGG16 on WebGPU (see --help).
// Every argument is checked before the weights are loaded or a GPU is opened, so a mistake is answered
// at once; outputs are written together or not at all.
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  BLEND_MODES,
  CAM_METHODS,
  checkGradCamOptions,
  formatTarget,
  METHOD_SPECS,
  parseTarget,
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
    'top predictions; writes the overlay and the raw heatmap on request. PNG and JPEG input, decoded as PIL does.\n' +
    'Other CAM methods with --method (the formulas are in the README).',
  positionals: { min: 1, max: 1, what: 'the image file' },
  options: {
    weights: { type: 'string', value: '<dir>', default: DEFAULT_WEIGHTS_DIR, help: "converted weights ('npm run weights')" },
    method: { type: 'string', value: '<name>', default: 'gradcam', help: `CAM method: ${CAM_METHODS.join(', ')}` },
    class: { type: 'string', value: '<0-999>', help: 'ImageNet class to explain (default: the top-1 prediction)' },
    target: {
      type: 'string',
      value: '<target>',
      help: 'what to explain instead of one class: class:<i>, classes:<i,j,…> (the sum of their scores), counterfactual:<i> (what lowers class i) or rank:<k> (the k-th most probable class, 0 = top-1)',
    },
    layer: {
      type: 'string',
      value: '<name[,name…]>',
      default: 'block5_conv3',
      help: 'conv layer(s) whose activations and gradients make the map; several: each normalised, upsampled to 224×224 and averaged',
    },
    'aug-smooth': { type: 'boolean', help: 'average the maps of the image mirrored or not × brightness 0.9/1.0/1.1 (6 passes)' },
    'eigen-smooth': { type: 'boolean', help: "the map is the first principal component of the method's weighted activations" },
    score: { type: 'string', value: 'prob|logit', default: 'prob', help: "differentiate the softmax probability (the recipe's) or the logit" },
    top: { type: 'string', value: '<k>', default: '3', help: 'how many predictions to print (1..1000)' },
    alpha: { type: 'string', value: '<0..1>', default: '0.4', help: 'weight of the heatmap colour in the overlay' },
    blend: { type: 'string', value: 'add|normalized', default: 'add', help: "add: alpha·colour + image, saturated (the recipe's); normalized: (1 − alpha)·image + alpha·colour" },
    colormap: { type: 'string', value: '<name>', default: 'jet', help: "the heatmap's colours in the overlay: jet (the recipe's), viridis, hot or gray" },
    out: { type: 'string', value: '<file.png|.jpg>', help: 'write the overlay, at the image size' },
    heatmap: { type: 'string', value: '<file.npy>', help: "write the normalised heatmap (the layer's size, e.g. 14×14; 224×224 for several layers) as float32 .npy" },
    json: { type: 'boolean', help: 'print one JSON object on stdout (predictions, method, target, class, layer, layers, score, weights, heatmapShape, timingsMs)' },
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
  const method = choiceFlag('method', values.method, CAM_METHODS);
  if (values.class !== undefined && values.target !== undefined) throw new UsageError('--class and --target both name what to explain; give one (--class 386 is --target class:386)');
  let target;
  try {
    target = values.target === undefined ? undefined : parseTarget(values.target);
  } catch (e) {
    throw new UsageError(`--${(e as Error).message}`);
  }
  const layers = values.layer.split(',').map((l) => l.trim());
  for (const layer of layers)
    if (!ALL_CONV_LAYERS.has(layer))
      throw new UsageError(`--layer ${layer}: not a conv layer of ${Object.keys(MODELS).join(' or ')}; choose one of ${convLayerNames(MODELS.vgg16).join(', ')}`);
  if (new Set(layers).size !== layers.length) throw new UsageError(`--layer ${values.layer}: a layer is listed twice`);
  const augSmooth = values['aug-smooth'];
  const eigenSmooth = values['eigen-smooth'];
  const tuneMode = parseTuneMode(values.tune);
  checkOutput('out', values.out, /\.(png|jpe?g)$/i, 'the overlay is written as .png or .jpg; choose one of those extensions');
  checkOutput('heatmap', values.heatmap, /\.npy$/i, 'the heatmap is written as a NumPy .npy file; use the .npy extension');
  if (values.out && values.heatmap && resolve(values.out) === resolve(values.heatmap)) throw new UsageError(`--out and --heatmap name the same file`);
  // Then the manifest (a few kB): the model decides which layers and classes exist.
  const { model, info } = readWeightsManifest(values.weights);
  checkGradCamOptions(model, { layers, classIndex, target });
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
    const perturbation = METHOD_SPECS[method].perturbation;
    let reported = 0;
    const onProgress = (done: number, total: number) => {
      // Score-CAM runs K forwards: one line per tenth, so a long run shows it is moving.
      if (done === total || done - reported >= total / 10) log(`${method}: ${done}/${total} channels`), (reported = done);
    };
    const r = await cam.run(image, { method, classIndex, target, layers, augSmooth, eigenSmooth, score, alpha, blend, colormap, top, onProgress: perturbation ? onProgress : undefined });
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
        method: r.method,
        target: formatTarget(r.target),
        class: r.classIndex,
        layer: r.layer,
        layers: r.layers,
        score: r.score,
        augSmooth: r.augSmooth,
        eigenSmooth: r.eigenSmooth,
        weights: info,
        heatmapShape: [r.heatmap.height, r.heatmap.width],
        timingsMs: r.timingsMs,
      };
      process.stdout.write(`${JSON.stringify(json)}\n`);
    } else {
      console.log(`Predicted: ${formatPredictions(r.predictions)}${info.synthetic ? '   (RANDOM weights: meaningless)' : ''}`);
      const what = r.target.kind === 'class' ? `class ${r.classIndex}` : formatTarget(r.target);
      const smoothing = [r.augSmooth ? 'aug-smooth' : '', r.eigenSmooth ? 'eigen-smooth' : ''].filter(Boolean).join(', ');
      console.log(`${method === 'gradcam' ? 'Grad-CAM' : method} of ${what} at ${r.layers.join('+')} (score ${r.score}${smoothing ? `, ${smoothing}` : ''}), heatmap ${r.heatmap.height}×${r.heatmap.width}`);
      for (const f of files) console.log(`wrote ${f.path}`);
    }
  } finally {
    opened.close();
  }
});
