// gradcam <image.(png|jpg)> [options]: Grad-CAM of one image with VGG16 on WebGPU (see --help).
// gradcam <image|dir|glob>… --out <dir> [options]: folder mode, every image under the arguments, one
// output per image mirroring the input tree, results.jsonl and an index.html gallery (scripts/lib/batch.ts).
// Every argument is checked before the weights are loaded or a GPU is opened, so a mistake is answered
// at once; outputs are written together or not at all.
import { existsSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import {
  BLEND_MODES,
  CAM_METHODS,
  checkGradCamOptions,
  checkPixelSampling,
  DEFAULT_METRICS,
  isPixelMethod,
  METRIC_NAMES,
  PIXEL_DEFAULTS,
  PIXEL_METHODS,
  type EvaluateResult,
  type GradCam,
  type MetricName,
  type OpenedGradCam,
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
import { explainImage, FolderBatch, summarizeMetrics, type AnyMethod, type ExplainSettings, type StopFlag } from './lib/batch.js';
import { choiceFlag, integerFlag, parseCommandLine, runCli, UsageError, type CommandSpec, type OptionSpec } from './lib/cli.js';
import { FolderArgumentError, findImages, GALLERY_FILE, isGlob, RESULTS_FILE, shown, type FolderImage } from './lib/folder.js';
import { metricsLines } from './lib/metrics.js';
import { cancellation } from './lib/cancel.js';
import { batchProgress } from './lib/progress.js';
import { TUNE_OPTIONS, parseTuneMode, tuningLog } from './lib/tuning.js';

const ALL_METHODS = [...CAM_METHODS, ...PIXEL_METHODS];

const SPEC = {
  usage:
    'gradcam <image.(png|jpg)> [options]   (or: npm run gradcam -- <image> [options])\n' +
    '       gradcam <image|dir|glob>… --out <dir> [options]   (folder mode)',
  summary:
    'Grad-CAM heatmap of one image with VGG16 on WebGPU, as the Keras recipe computes it: the gradient of the\n' +
    "class score at a conv layer, channel weights = mean gradient, ReLU(Σ weights·activations) / max. Prints the\n" +
    'top predictions; writes the overlay and the raw heatmap on request. PNG and JPEG input, decoded as PIL does.\n' +
    'Other CAM methods, and pixel-level explanations (saliency, guided backprop, Guided Grad-CAM, SmoothGrad,\n' +
    'Integrated Gradients: the gradient down to the 224×224 image), with --method (formulas in the README).',
  positionals: { min: 1, max: Infinity, what: 'the image file' },
  options: {
    weights: { type: 'string', value: '<dir>', default: DEFAULT_WEIGHTS_DIR, help: "converted weights ('npm run weights')" },
    method: { type: 'string', value: '<name>', default: 'gradcam', help: `CAM method: ${CAM_METHODS.join(', ')}; or pixel-level: ${PIXEL_METHODS.join(', ')}` },
    methods: {
      type: 'string',
      value: '<a,b,…>',
      help: 'several methods on one forward per image: the output is a grid (the original, then one labelled tile per method) instead of one overlay; not with --method',
    },
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
    out: {
      type: 'string',
      value: '<file.png|.jpg>',
      help:
        'write the overlay, at the image size (pixel-level methods: their image, 224×224; --methods: the grid). ' +
        'A directory instead (a name without an extension, ending in /, or an existing directory): folder mode, see below',
    },
    heatmap: {
      type: 'string',
      value: '<file.npy>',
      help:
        "write the normalised heatmap (the layer's size, e.g. 14×14; 224×224 for several layers) as float32 .npy; pixel-level methods: " +
        'their un-normalised map, 224×224 (saliency, smoothgrad: max |gradient| over colour channels; integrated-gradients: signed channel sum) or 224×224×3 (guided-backprop, guided-gradcam). ' +
        'Folder mode: give it without a file name; each map goes next to its image as <name>.npy (<name>.<method>.npy with --methods)',
    },
    force: { type: 'boolean', help: 'folder mode: explain again the images whose outputs all exist already (skipped otherwise)' },
    metrics: {
      type: 'string',
      value: '<a,b,…>',
      help:
        `faithfulness of each map (GradCam.evaluate): ${METRIC_NAMES.join(', ')}, 'default' (${DEFAULT_METRICS.join(', ')}) or 'all'; ` +
        'in --json, results.jsonl and the gallery. Costly: deletion, insertion and ROAD run ~50 forwards per map, sanity ~16 maps',
    },
    json: {
      type: 'boolean',
      help:
        'print one JSON object on stdout (predictions, method, target, class, layer, layers, score, weights, heatmapShape, timingsMs; pixel-level methods also sampling and completeness; metrics with --metrics). ' +
        "Folder mode: one line per image as it is done, as in results.jsonl",
    },
    f16: { type: 'boolean', help: 'store the dense layers’ weights as float16 (247 MB less GPU memory, ~5e-4 relative error)' },
    ...TUNE_OPTIONS,
  },
  notes: [
    'Folder mode (--out <dir>): the arguments are image files, directories (every .png, .jpg and .jpeg below them, any\n' +
      'case, sorted; dot-files left out) and patterns (*, ** and ?; quote them so that the shell leaves them to gradcam).\n' +
      "Each image's output goes to <dir>/<its path below the argument's directory>.png (a file argument: its name);\n" +
      'the weights are loaded once, one forward runs per image, and the next image is decoded while the GPU works.\n' +
      'Images whose outputs all exist are skipped (--force redoes them), before the weights are loaded. A damaged\n' +
      'or unreadable image gets one line and is skipped; the exit code is then 1. <dir>/results.jsonl holds one\n' +
      'JSON object per image (file, output, outputs, predictions, method(s), target, classIndex, score, metrics,\n' +
      'timingsMs, or error), kept across runs; <dir>/index.html is a gallery of them (sortable, no network).\n' +
      'Progress: a bar on a terminal, one line per image otherwise. Ctrl-C (or SIGTERM) finishes the current\n' +
      'image, writes results.jsonl and index.html, and exits with 130 (143); a second one stops at once.',
    'One image: Ctrl-C (or SIGTERM) stops at once, exit code 130 (143); --out and --heatmap are written at the end,\n' +
      'together or not at all, so an earlier run\'s files stay as they were.',
  ],
} satisfies CommandSpec<Record<string, OptionSpec>>;

function checkOutput(flag: string, path: string | undefined, pattern: RegExp, what: string): void {
  if (path === undefined) return;
  if (!pattern.test(path)) throw new UsageError(`--${flag} ${path}: ${what}`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new UsageError(`--${flag} ${path}: is a directory; give a file name`);
  const dir = dirname(path) || '.';
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--${flag} ${path}: directory '${dir}' does not exist`);
}

/**
 * Whether --out names a directory (folder mode) rather than one image: it ends in '/', is an existing
 * directory, or its last part has no extension. 'cam.png' and 'cam.gif' are files (the latter refused).
 */
function isFolderOut(out: string): boolean {
  if (/[\\/]$/.test(out)) return true;
  if (existsSync(out)) return statSync(out).isDirectory();
  return extname(out) === '';
}

/** Whether a flag is on the command line (not just its default). */
const given = (argv: readonly string[], flag: string) => argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));

/**
 * `--heatmap` with no file name (folder mode): at the end, or followed by another flag. It becomes
 * `--heatmap=` (an empty value) for the parser, which would otherwise take the next flag as the file name.
 */
function bareHeatmap(argv: readonly string[]): string[] {
  return argv.map((a, i) => (a === '--heatmap' && (i + 1 === argv.length || /^--./.test(argv[i + 1])) ? '--heatmap=' : a));
}

const ALL_CONV_LAYERS = new Set(Object.values(MODELS).flatMap(convLayerNames));

runCli(async () => {
  const argv = bareHeatmap(process.argv.slice(2));
  const parsed = parseCommandLine('gradcam', SPEC, argv);
  if (!parsed) return;
  const { values, positionals } = parsed;
  // Folder mode or one image: decided by --out, before anything else is checked.
  const outDir = values.out !== undefined && isFolderOut(values.out) ? values.out : undefined;
  if (outDir === undefined) {
    if (positionals.length !== 1)
      throw new UsageError(`expected 1 argument (the image file), got ${positionals.length}: ${positionals.join(' ')}; for several images give --out <dir> (folder mode); see 'gradcam --help'`);
    const [p] = positionals;
    if (existsSync(p) && statSync(p).isDirectory()) throw new UsageError(`${p}: is a directory; to explain every image in it give --out <dir> (folder mode)`);
    if (!existsSync(p) && isGlob(p)) throw new UsageError(`${p}: a pattern; to explain every image it matches give --out <dir> (folder mode)`);
    if (values.force) throw new UsageError(`--force applies to folder mode (--out <dir>); one image's outputs are always written`);
    if (values.heatmap === '') throw new UsageError(`--heatmap needs a value <file.npy>; see 'gradcam --help'`);
  } else {
    const bare = outDir.replace(/(.)[\\/]+$/, '$1');
    if (existsSync(bare) && !statSync(bare).isDirectory()) throw new UsageError(`--out ${outDir}: exists and is not a directory`);
    if (values.heatmap !== undefined && values.heatmap !== '')
      throw new UsageError(`--heatmap ${values.heatmap}: in folder mode each map is written next to its image (<out>/<name>.npy); give --heatmap without a file name`);
  }
  // Arguments first, from the flags alone: nothing is read yet.
  const score = values.score === undefined ? undefined : choiceFlag('score', values.score, ['prob', 'logit'] as const);
  const alpha = Number(values.alpha);
  if (!/^\s*[\d.]+(e-?\d+)?\s*$/i.test(values.alpha) || !(alpha >= 0 && alpha <= 1)) throw new UsageError(`--alpha ${values.alpha}: must be a number between 0 and 1`);
  const blend = choiceFlag('blend', values.blend, BLEND_MODES);
  const colormap = choiceFlag('colormap', values.colormap, COLORMAPS);
  const top = integerFlag('top', values.top, 1, 1000)!;
  const classIndex = integerFlag('class', values.class, 0, 999);
  if (values.methods !== undefined && given(argv, 'method')) throw new UsageError('--method and --methods: give one (--methods a,b compares several in a grid)');
  const methods = values.methods === undefined ? [choiceFlag('method', values.method, ALL_METHODS)] : methodList(values.methods);
  const method = methods[0];
  const several = methods.length > 1;
  const pixel = methods.every(isPixelMethod);
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
  const onlyFor = (flag: string, isGiven: boolean, forMethods: readonly string[], what = forMethods.join(' and ')) => {
    if (isGiven && !methods.some((m) => forMethods.includes(m))) throw new UsageError(`--${flag} applies to ${what}, not ${methods.join(', ')}`);
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
  if (several && values['image-size']) throw new UsageError("--image-size applies to one pixel-level method; --methods' grid has every tile at the image's size");
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
  if (pixel && !methods.includes('guided-gradcam') && values.layer !== SPEC.options.layer.default)
    throw new UsageError(
      several
        ? `--layer: ${methods.join(', ')} explain the image's pixels and take no layer (guided-gradcam takes one: its Grad-CAM's)`
        : `--layer: ${method} explains the image's pixels and takes no layer (guided-gradcam takes one: its Grad-CAM's)`,
    );
  if (methods.includes('guided-gradcam') && layers.length > 1) throw new UsageError(`--layer ${values.layer}: guided-gradcam takes one conv layer (its Grad-CAM's)`);
  const augSmooth = values['aug-smooth'];
  const eigenSmooth = values['eigen-smooth'];
  const metrics = values.metrics === undefined ? undefined : metricList(values.metrics);
  if (metrics) {
    // evaluate() recomputes the plain map of one class at one layer: refuse what it would not judge.
    if (augSmooth || eigenSmooth) throw new UsageError(`--metrics judges the plain map; not with --${augSmooth ? 'aug' : 'eigen'}-smooth`);
    if (target && target.kind !== 'class' && target.kind !== 'rank') throw new UsageError(`--metrics judges the map of one class; not with --target ${values.target}`);
    if (layers.length > 1) throw new UsageError(`--metrics judges one layer's map; give one --layer, not ${values.layer}`);
  }
  const tuneMode = parseTuneMode(values.tune);
  if (outDir === undefined) {
    checkOutput(
      'out',
      values.out,
      /\.(png|jpe?g)$/i,
      `the ${several ? 'grid' : pixel ? 'image' : 'overlay'} is written as .png or .jpg; choose one of those extensions (or give a directory, ending in /, for folder mode)`,
    );
    checkOutput('heatmap', values.heatmap, /\.npy$/i, 'the heatmap is written as a NumPy .npy file; use the .npy extension');
    if (values.out && values.heatmap && resolve(values.out) === resolve(values.heatmap)) throw new UsageError(`--out and --heatmap name the same file`);
    if (several && values.heatmap) throw new UsageError(`--heatmap ${values.heatmap}: --methods makes one map per method; folder mode (--out <dir> --heatmap) writes each as <name>.<method>.npy`);
  }
  // In folder mode, the images the arguments name (a missing path or an empty pattern is a mistake too).
  let images: FolderImage[] = [];
  if (outDir !== undefined) {
    try {
      images = findImages(positionals, outDir);
    } catch (e) {
      if (e instanceof FolderArgumentError) throw new UsageError(e.message);
      throw e;
    }
  }
  // Then the manifest (a few kB): the model decides which layers and classes exist.
  const { model, info } = readWeightsManifest(values.weights);
  checkGradCamOptions(model, { layers, classIndex, target });
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const notice = randomWeightsNotice(info, values.weights);
  if (notice) log(`warning: ${notice}`);
  const openOptions = (say: (line: string) => void) => {
    const tuningLines = tuningLog(tuneMode, values.verbose, say);
    return {
      options: {
        weights: values.weights,
        tune: tuneMode,
        f16: values.f16,
        onTuningProgress: tuningLines.onTuningProgress,
        onWeightsLoaded: (w: { model: { name: string } }, load: { bytes: number; seconds: number }) =>
          say(`loaded ${w.model.name} weights from ${values.weights} (${(load.bytes / 1e6).toFixed(0)} MB in ${load.seconds.toFixed(1)} s)`),
      },
      report: (opened: OpenedGradCam) => tuningLines.report(opened.tuning),
    };
  };
  const settings: ExplainSettings = {
    methods,
    classIndex,
    target,
    layers,
    augSmooth,
    eigenSmooth,
    score,
    alpha,
    blend,
    colormap,
    // Records keep the top 5 unless --top says otherwise; one image prints the top 3 by default.
    top: outDir !== undefined && !given(argv, 'top') ? 5 : top,
    sampling,
    batchRows,
    imageSize: values['image-size'],
    metrics,
  };

  if (outDir !== undefined) {
    await runFolder({ outDir, images, settings, heatmap: values.heatmap === '', force: values.force, json: values.json, notice, log, openOptions, verbose: values.verbose });
    return;
  }

  // The heavy parts (image decoding, Dawn, the weights) only once everything above holds.
  const [imagePath] = positionals;
  // Ctrl-C stops at once: the outputs are written at the very end, synchronously, whole or not at all.
  const cancel = cancellation();
  const outputs = [values.out, values.heatmap].filter((f) => f !== undefined);
  const untouched = `nothing written${outputs.length ? `, ${outputs.join(' and ')} as ${outputs.length === 1 ? 'it was' : 'they were'}` : ''}`;
  cancel.doing(`loading the weights from ${values.weights}`, untouched);
  const image = await readImage(imagePath);
  const { options, report } = openOptions(log);
  const opened = await openGradCam({
    ...options,
    onTuningProgress: (line: string) => {
      cancel.doing('tuning the kernels for this GPU', `${untouched}; the tuning cache as it was`);
      options.onTuningProgress(line);
    },
    onWeightsLoaded: (w: { model: { name: string } }, load: { bytes: number; seconds: number }) => {
      options.onWeightsLoaded(w, load);
      cancel.doing('preparing the kernels', untouched);
    },
  });
  report(opened);
  cancel.doing(`computing ${methods.join(', ')} of ${imagePath}`, untouched);
  const { cam } = opened;
  try {
    if (several) {
      await explainSeveral(cam, image, settings, { out: values.out, json: values.json, info, log });
      return;
    }
    if (isPixelMethod(method)) {
      await explainPixels(cam, image, method, { classIndex, target, layer: layers[0], score, top, sampling, batchRows, imageSize: values['image-size'], metrics, values, info, log });
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
    const evaluation = metrics ? await evaluateMap(cam, { metrics, method, classIndex: r.classIndex, layer: layers[0], log }) : undefined;
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
        ...(evaluation ? { metrics: summarizeMetrics(evaluation) } : {}),
      };
      process.stdout.write(`${JSON.stringify(json)}\n`);
    } else {
      console.log(`Predicted: ${formatPredictions(r.predictions)}${info.synthetic ? '   (RANDOM weights: meaningless)' : ''}`);
      const what = r.target.kind === 'class' ? `class ${r.classIndex}` : formatTarget(r.target);
      const smoothing = [r.augSmooth ? 'aug-smooth' : '', r.eigenSmooth ? 'eigen-smooth' : ''].filter(Boolean).join(', ');
      console.log(`${method === 'gradcam' ? 'Grad-CAM' : method} of ${what} at ${r.layers.join('+')} (score ${r.score}${smoothing ? `, ${smoothing}` : ''}), heatmap ${r.heatmap.height}×${r.heatmap.width}`);
      if (evaluation) for (const line of metricsLines(evaluation)) console.log(line);
      for (const f of files) console.log(`wrote ${f.path}`);
    }
  } finally {
    opened.close();
  }
});

/** --methods a,b,…: known methods, each once. */
function methodList(text: string): AnyMethod[] {
  const list = text.split(',').map((m) => m.trim());
  for (const m of list) if (!(ALL_METHODS as readonly string[]).includes(m)) throw new UsageError(`--methods ${text}: '${m}' is not a method; choose from ${ALL_METHODS.join(', ')}`);
  if (new Set(list).size !== list.length) throw new UsageError(`--methods ${text}: a method is listed twice`);
  return list as AnyMethod[];
}

/** --metrics a,b,… | default | all. */
function metricList(text: string): MetricName[] {
  if (text.trim() === 'all') return [...METRIC_NAMES];
  if (text.trim() === 'default') return [...DEFAULT_METRICS];
  const list = text.split(',').map((m) => m.trim());
  for (const m of list)
    if (!(METRIC_NAMES as readonly string[]).includes(m)) throw new UsageError(`--metrics ${text}: '${m}' is not a metric; choose from ${METRIC_NAMES.join(', ')}, default or all`);
  if (new Set(list).size !== list.length) throw new UsageError(`--metrics ${text}: a metric is listed twice`);
  return list as MetricName[];
}

/** The metrics of one image's map (one image: a line per tenth of the work on stderr). */
async function evaluateMap(
  cam: GradCam,
  o: { metrics: readonly MetricName[]; method: AnyMethod; classIndex: number; layer: string; log: (line: string) => void },
): Promise<EvaluateResult> {
  const reported = new Map<string, number>();
  const r = await cam.evaluate({
    metrics: o.metrics,
    method: o.method,
    classIndex: o.classIndex,
    layer: isPixelMethod(o.method) && o.method !== 'guided-gradcam' ? undefined : o.layer,
    onProgress: (metric, done, total) => {
      if (done === total || done - (reported.get(metric) ?? 0) >= total / 10) o.log(`${metric}: ${done}/${total}`), reported.set(metric, done);
    },
  });
  for (const w of r.warnings) o.log(`warning: ${w}`);
  return r;
}

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
  metrics?: readonly MetricName[];
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
  const evaluation = o.metrics ? await evaluateMap(cam, { metrics: o.metrics, method, classIndex: r.classIndex, layer: o.layer, log: o.log }) : undefined;
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
      ...(evaluation ? { metrics: summarizeMetrics(evaluation) } : {}),
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
  if (evaluation) for (const line of metricsLines(evaluation)) console.log(line);
  for (const f of files) console.log(`wrote ${f.path}`);
}

/** --methods on one image: one forward, each method on it, the grid to --out. */
async function explainSeveral(
  cam: GradCam,
  image: Awaited<ReturnType<typeof readImage>>,
  settings: ExplainSettings,
  o: { out?: string; json: boolean; info: ReturnType<typeof readWeightsManifest>['info']; log: (line: string) => void },
): Promise<void> {
  let last = '';
  const e = await explainImage(cam, image, settings, (text) => {
    // One line per method and unit of work, at most every tenth (the text ends in 'done/total unit').
    const m = /^(.*) (\d+)\/(\d+)( \S+)?$/.exec(text);
    const key = m ? `${m[1]}|${Math.floor((10 * Number(m[2])) / Number(m[3]))}` : text;
    if (key !== last) o.log(text), (last = key);
  });
  for (const m of e.methods) for (const w of m.warnings) o.log(`warning: ${m.method}: ${w}`);
  const files = o.out ? [{ path: o.out, bytes: await encodeImage(o.out, e.image) }] : [];
  writeFilesAtomically(files);
  if (o.json) {
    const json = {
      predictions: e.predictions,
      methods: e.methods.map((m) => ({
        method: m.method,
        target: m.target,
        class: m.classIndex,
        ...(m.layers ? { layers: m.layers } : {}),
        score: m.score,
        heatmapShape: m.npy.shape,
        ...(m.sampling ? { sampling: m.sampling } : {}),
        ...(m.completeness ? { completeness: m.completeness } : {}),
        ...(m.evaluation ? { metrics: summarizeMetrics(m.evaluation) } : {}),
        ms: m.ms,
      })),
      target: e.target,
      class: e.classIndex,
      weights: o.info,
      timingsMs: e.timingsMs,
    };
    process.stdout.write(`${JSON.stringify(json)}\n`);
    return;
  }
  console.log(`Predicted: ${formatPredictions(e.predictions)}${o.info.synthetic ? '   (RANDOM weights: meaningless)' : ''}`);
  for (const m of e.methods) {
    console.log(`${m.method} of ${m.target}${m.layers ? ` at ${m.layers.join('+')}` : ''} (score ${m.score}), map ${m.npy.shape.join('×')}, ${(m.ms / 1000).toFixed(1)} s`);
    if (m.evaluation) for (const line of metricsLines(m.evaluation)) console.log(`  ${line}`);
  }
  for (const f of files) console.log(`wrote ${f.path} (the original, then ${e.methods.map((m) => m.method).join(', ')})`);
}

interface FolderRunOptions {
  outDir: string;
  images: FolderImage[];
  settings: ExplainSettings;
  heatmap: boolean;
  force: boolean;
  json: boolean;
  verbose: boolean;
  notice?: string;
  log: (line: string) => void;
  openOptions: (say: (line: string) => void) => { options: Parameters<typeof openGradCam>[0]; report: (opened: OpenedGradCam) => void };
}

const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/** Folder mode: the plan (what is done already), the images one by one, results.jsonl and index.html. */
async function runFolder(o: FolderRunOptions): Promise<void> {
  const { outDir, images, log } = o;
  const batch = new FolderBatch(outDir, images, { heatmap: o.heatmap, methods: o.settings.methods, force: o.force }, (l) => log(`warning: ${l}`));
  const where = shown(resolve(outDir));
  const n = (k: number, what = 'image') => `${k} ${what}${k === 1 ? '' : 's'}`;
  const files = `${join(where, RESULTS_FILE)} and ${join(where, GALLERY_FILE)}`;
  if (batch.pending.length === 0) {
    batch.finish(o.notice);
    log(`nothing to do: ${images.length === 1 ? 'the image is' : `all ${images.length} images are`} done in ${where} (--force redoes them); weights not loaded; wrote ${files}`);
    return;
  }
  const progress = batchProgress(batch.pending.length);
  const stop: StopFlag = {};
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    if (stop.signal) {
      // The second one: at once. Outputs are written whole or not at all; the records of what is done are kept.
      progress.end();
      batch.finish(o.notice);
      log(`${signal} again: stopped at once; ${files} list the ${n(batch.explained.length)} explained`);
      process.exit(EXIT_CODES[signal]);
    }
    stop.signal = signal;
    progress.message(`${signal}: finishing the current image, then stopping (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again stops at once)`);
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  log(
    `${n(images.length)}: ${batch.pending.length} to explain` +
      (batch.skipped.length ? `, ${batch.skipped.length} done already in ${where} (skipped; --force redoes them)` : '') +
      ` → ${where}`,
  );
  let opened: OpenedGradCam | undefined;
  let k = 0;
  const total = batch.pending.length;
  try {
    await batch.run(
      async () => {
        const { options, report } = o.openOptions((line) => progress.message(line));
        opened = await openGradCam(options);
        report(opened);
        if (o.verbose) progress.message(`kernels: ${opened.cam.network.plan.ops.map((op, i) => `${op.layer} ${opened!.cam.network.versions[i]}`).join(', ')}`);
        return opened.cam;
      },
      o.settings,
      {
        start: (im) => progress.start(im.file),
        detail: (text) => progress.detail(text),
        done: (im, record, e) => {
          k++;
          const topPrediction = e.predictions[0];
          const ms = record.timingsMs?.total ?? e.timingsMs.total;
          progress.finished(
            `[${k}/${total}] ${im.file} → ${join(where, im.output)}: ${topPrediction.label} ${topPrediction.probability.toFixed(3)} (class ${topPrediction.index}), ${(ms / 1000).toFixed(1)} s`,
            { counted: true },
          );
          for (const w of record.warnings ?? []) progress.message(`warning: ${im.file}: ${w}`);
          if (o.json) process.stdout.write(`${JSON.stringify(record)}\n`);
        },
        failed: (im, record) => {
          k++;
          progress.finished(`[${k}/${total}] failed ${im.file}: ${record.error}; skipped`, { counted: false, keep: true });
          if (o.json) process.stdout.write(`${JSON.stringify(record)}\n`);
        },
      },
      stop,
    );
  } finally {
    progress.end();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    opened?.close();
    // What was done is recorded even when the run failed as a whole (no GPU, a full disk).
    batch.finish(o.notice);
  }
  const summary =
    `explained ${n(batch.explained.length)}` +
    (batch.failed.length ? `, ${batch.failed.length} failed` : '') +
    (batch.skipped.length ? `, ${batch.skipped.length} done already` : '') +
    `; wrote ${files}`;
  if (stop.signal) {
    const left = total - batch.explained.length - batch.failed.length;
    log(`interrupted by ${stop.signal}: ${summary}; ${n(left)} left: run the same command again to continue`);
    process.exitCode = EXIT_CODES[stop.signal];
    return;
  }
  if (o.json) log(summary);
  else console.log(summary);
  if (batch.failed.length) process.exitCode = 1;
}
