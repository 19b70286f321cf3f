// gradcam <image.(png|jpg)> [options]: Grad-CAM of one image with VGG16 on WebGPU (see --help).
// Every argument is checked before the weights are loaded or a GPU is opened, so a mistake is answered
// at once; outputs are written together or not at all.
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  BLEND_MODES,
  CAM_METHODS,
  checkGradCamOptions,
  checkPixelSampling,
  isPixelMethod,
  PIXEL_DEFAULTS,
  PIXEL_METHODS,
  type GradCam,
  type PixelMethod,
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
    'Other CAM methods, and pixel-level explanations (saliency, guided backprop, Guided Grad-CAM, SmoothGrad,\n' +
    'Integrated Gradients: the gradient down to the 224×224 image), with --method (formulas in the README).',
  positionals: { min: 1, max: 1, what: 'the image file' },
  options: {
    weights: { type: 'string', value: '<dir>', default: DEFAULT_WEIGHTS_DIR, help: "converted weights ('npm run weights')" },
    method: { type: 'string', value: '<name>', default: 'gradcam', help: `CAM method: ${CAM_METHODS.join(', ')}; or pixel-level: ${PIXEL_METHODS.join(', ')}` },
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
    score: {
      type: 'string',
      value: 'prob|logit',
      help: "differentiate the softmax probability or the logit (default: prob, the recipe's, for the gradient CAMs; logit for Score-/Ablation-CAM and the pixel-level methods)",
    },
    samples: { type: 'string', value: '<n>', help: `smoothgrad: noisy copies of the image (default ${PIXEL_DEFAULTS.samples})` },
    noise: { type: 'string', value: '<σ>', help: `smoothgrad: noise σ as a fraction of the image's value range (default ${PIXEL_DEFAULTS.noise})` },
    seed: { type: 'string', value: '<n>', help: `smoothgrad: noise seed (default ${PIXEL_DEFAULTS.seed})` },
    steps: { type: 'string', value: '<m>', help: `integrated-gradients: Riemann steps from the baseline (default ${PIXEL_DEFAULTS.steps})` },
    baseline: { type: 'string', value: '<0..255>', help: 'integrated-gradients: the baseline image\'s grey level (default 0, black)' },
    'batch-rows': { type: 'string', value: '<n>', help: 'smoothgrad, integrated-gradients: samples per batched forward and backward (default 8)' },
    'image-size': { type: 'boolean', help: "pixel-level methods: write --out at the image's size instead of the model's 224×224" },
    top: { type: 'string', value: '<k>', default: '3', help: 'how many predictions to print (1..1000)' },
    alpha: { type: 'string', value: '<0..1>', default: '0.4', help: 'weight of the heatmap colour in the overlay' },
    blend: { type: 'string', value: 'add|normalized', default: 'add', help: "add: alpha·colour + image, saturated (the recipe's); normalized: (1 − alpha)·image + alpha·colour" },
    colormap: { type: 'string', value: '<name>', default: 'jet', help: "the heatmap's colours in the overlay: jet (the recipe's), viridis, hot or gray" },
    out: { type: 'string', value: '<file.png|.jpg>', help: 'write the overlay, at the image size (pixel-level methods: their image, 224×224)' },
    heatmap: {
      type: 'string',
      value: '<file.npy>',
      help:
        "write the normalised heatmap (the layer's size, e.g. 14×14; 224×224 for several layers) as float32 .npy; pixel-level methods: " +
        'their un-normalised map, 224×224 (saliency, smoothgrad: max |gradient| over colour channels; integrated-gradients: signed channel sum) or 224×224×3 (guided-backprop, guided-gradcam)',
    },
    json: {
      type: 'boolean',
      help: 'print one JSON object on stdout (predictions, method, target, class, layer, layers, score, weights, heatmapShape, timingsMs; pixel-level methods also sampling and completeness)',
    },
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
  const score = values.score === undefined ? undefined : choiceFlag('score', values.score, ['prob', 'logit'] as const);
  const alpha = Number(values.alpha);
  if (!/^\s*[\d.]+(e-?\d+)?\s*$/i.test(values.alpha) || !(alpha >= 0 && alpha <= 1)) throw new UsageError(`--alpha ${values.alpha}: must be a number between 0 and 1`);
  const blend = choiceFlag('blend', values.blend, BLEND_MODES);
  const colormap = choiceFlag('colormap', values.colormap, COLORMAPS);
  const top = integerFlag('top', values.top, 1, 1000)!;
  const classIndex = integerFlag('class', values.class, 0, 999);
  const method = choiceFlag('method', values.method, [...CAM_METHODS, ...PIXEL_METHODS]);
  const pixel = isPixelMethod(method);
  const sampling = {
    samples: integerFlag('samples', values.samples, 1, 1024),
    steps: integerFlag('steps', values.steps, 1, 1024),
    seed: integerFlag('seed', values.seed, 0, 2 ** 32 - 1),
    noise: numberFlag('noise', values.noise),
    baseline: numberFlag('baseline', values.baseline),
  };
  const batchRows = integerFlag('batch-rows', values['batch-rows'], 1, 1024);
  try {
    checkPixelSampling(sampling);
  } catch (e) {
    throw new UsageError(`--${(e as Error).message}`);
  }
  const onlyFor = (flag: string, given: boolean, methods: readonly string[], what = methods.join(' and ')) => {
    if (given && !methods.includes(method)) throw new UsageError(`--${flag} applies to ${what}, not ${method}`);
  };
  onlyFor('samples', values.samples !== undefined, ['smoothgrad']);
  onlyFor('noise', values.noise !== undefined, ['smoothgrad']);
  onlyFor('seed', values.seed !== undefined, ['smoothgrad']);
  onlyFor('steps', values.steps !== undefined, ['integrated-gradients']);
  onlyFor('baseline', values.baseline !== undefined, ['integrated-gradients']);
  onlyFor('batch-rows', values['batch-rows'] !== undefined, ['smoothgrad', 'integrated-gradients']);
  onlyFor('image-size', values['image-size'], PIXEL_METHODS, 'the pixel-level methods');
  onlyFor('aug-smooth', values['aug-smooth'], CAM_METHODS, 'the CAM methods');
  onlyFor('eigen-smooth', values['eigen-smooth'], CAM_METHODS, 'the CAM methods');
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
  if (pixel && method !== 'guided-gradcam' && values.layer !== SPEC.options.layer.default)
    throw new UsageError(`--layer: ${method} explains the image's pixels and takes no layer (guided-gradcam takes one: its Grad-CAM's)`);
  if (method === 'guided-gradcam' && layers.length > 1) throw new UsageError(`--layer ${values.layer}: guided-gradcam takes one conv layer (its Grad-CAM's)`);
  const augSmooth = values['aug-smooth'];
  const eigenSmooth = values['eigen-smooth'];
  const tuneMode = parseTuneMode(values.tune);
  checkOutput('out', values.out, /\.(png|jpe?g)$/i, `the ${pixel ? 'image' : 'overlay'} is written as .png or .jpg; choose one of those extensions`);
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
    if (isPixelMethod(method)) {
      await explainPixels(cam, image, method, { classIndex, target, layer: layers[0], score, top, sampling, batchRows, imageSize: values['image-size'], values, info, log });
      return;
    }
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

/** A float flag, checked further by the engine's own rules. */
function numberFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\s*-?[\d.]+(e-?\d+)?\s*$/i.test(value) || !Number.isFinite(Number(value))) throw new UsageError(`--${name} ${value}: must be a number`);
  return Number(value);
}

interface PixelRun {
  classIndex?: number;
  target?: ReturnType<typeof parseTarget>;
  layer: string;
  score?: 'prob' | 'logit';
  top: number;
  sampling: { samples?: number; steps?: number; seed?: number; noise?: number; baseline?: number };
  batchRows?: number;
  imageSize: boolean;
  values: { out?: string; heatmap?: string; json: boolean; verbose: boolean };
  info: ReturnType<typeof readWeightsManifest>['info'];
  log: (line: string) => void;
}

/** A pixel-level method: the forward, then the backward to the image (or its batched samples). */
async function explainPixels(cam: GradCam, image: Awaited<ReturnType<typeof readImage>>, method: PixelMethod, o: PixelRun): Promise<void> {
  await cam.forward(image);
  let reported = 0;
  const onProgress = (done: number, total: number) => {
    if (done === total || done - reported >= total / 10) o.log(`${method}: ${done}/${total} samples`), (reported = done);
  };
  const r = await cam.attribute({
    method,
    classIndex: o.classIndex,
    target: o.target,
    layer: method === 'guided-gradcam' ? o.layer : undefined,
    score: o.score,
    top: o.top,
    ...o.sampling,
    batchRows: o.batchRows,
    onProgress,
    size: o.imageSize ? 'image' : 'model',
  });
  for (const w of r.warnings) o.log(`warning: ${w}`);
  if (o.values.verbose) {
    o.log(`times: ${Object.entries(r.timingsMs).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ')}`);
    if (r.passTimings.length) o.log(`backward passes (GPU ms): ${r.passTimings.map((p) => `${p.label} ${p.ms.toFixed(1)}`).join(', ')}`);
  }
  const a = r.attribution;
  const npy = r.map ? { data: r.map.data, shape: [r.map.height, r.map.width] } : { data: a.data, shape: [a.height, a.width, a.channels] };
  const files: { path: string; bytes: Uint8Array }[] = [];
  if (o.values.out) files.push({ path: o.values.out, bytes: await encodeImage(o.values.out, r.rendering) });
  if (o.values.heatmap) files.push({ path: o.values.heatmap, bytes: encodeNpy(npy.data, npy.shape) });
  writeFilesAtomically(files);
  if (o.values.json) {
    const json = {
      predictions: r.predictions,
      method: r.method,
      target: formatTarget(r.target),
      class: r.classIndex,
      ...(r.layer ? { layer: r.layer } : {}),
      score: r.score,
      weights: o.info,
      heatmapShape: npy.shape,
      ...(r.sampling ? { sampling: r.sampling } : {}),
      ...(r.completeness ? { completeness: r.completeness } : {}),
      timingsMs: r.timingsMs,
    };
    process.stdout.write(`${JSON.stringify(json)}\n`);
    return;
  }
  console.log(`Predicted: ${formatPredictions(r.predictions)}${o.info.synthetic ? '   (RANDOM weights: meaningless)' : ''}`);
  const what = r.target.kind === 'class' ? `class ${r.classIndex}` : formatTarget(r.target);
  const extra = r.completeness
    ? `; completeness gap ${r.completeness.gap.toExponential(2)} (Σ attributions ${r.completeness.sumAttributions.toPrecision(5)}, s(image) − s(baseline) ${(r.completeness.scoreInput - r.completeness.scoreBaseline).toPrecision(5)})`
    : '';
  console.log(`${method} of ${what}${r.layer ? ` with Grad-CAM at ${r.layer}` : ''} (score ${r.score}), map ${npy.shape.join('×')}${extra}`);
  for (const f of files) console.log(`wrote ${f.path}`);
}
