// evaluate <image> [options]: faithfulness metrics of one or several explanation methods on one image
// (deletion/insertion, ROAD, confidence change, the model-randomization sanity check), printed, and
// with --out written as metrics.json plus one PNG chart per metric (see --help).
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  CAM_METHODS,
  convLayerNames,
  DEFAULT_METRICS,
  DEFAULT_WEIGHTS_DIR,
  encodeImage,
  EVALUATE_DEFAULTS,
  formatPredictions,
  isPixelMethod,
  METRIC_NAMES,
  metricPlots,
  MODELS,
  openGradCam,
  PIXEL_METHODS,
  randomWeightsNotice,
  readImage,
  readWeightsManifest,
  writeFilesAtomically,
  type EvaluateResult,
  type MetricName,
} from '../src/node.js';
import { choiceFlag, integerFlag, parseCommandLine, progressPrinter, runCli, UsageError, type CommandSpec, type OptionSpec } from './lib/cli.js';
import { metricsJson, metricsLines, metricsSummary } from './lib/metrics.js';
import { parseTuneMode, TUNE_OPTIONS, tuningLog } from './lib/tuning.js';

const METHODS = [...CAM_METHODS, ...PIXEL_METHODS];

const SPEC = {
  usage: 'evaluate <image.(png|jpg)> [options]   (or: npm run evaluate -- <image> [options])',
  summary:
    'How faithful are the maps of one image to the model? Deletion and insertion curves (RISE), ROAD (noisy linear\n' +
    'imputation of the most/least relevant pixels, solved on the GPU), the confidence change (Average Drop), and the\n' +
    "model-randomization sanity check (the map recomputed as the weights are randomized from the top). Perturbed images\n" +
    'run as batched forwards. Prints a summary per method; --out writes metrics.json and a PNG chart per metric.',
  positionals: { min: 1, max: 1, what: 'the image file' },
  options: {
    weights: { type: 'string', value: '<dir>', default: DEFAULT_WEIGHTS_DIR, help: "converted weights ('npm run weights')" },
    methods: { type: 'string', value: '<a,b,…>', default: 'gradcam', help: `methods whose maps are judged: ${METHODS.join(', ')}` },
    metrics: { type: 'string', value: '<a,b,…>', default: DEFAULT_METRICS.join(','), help: `${METRIC_NAMES.join(', ')} (sanity recomputes the map once per layer with weights: 16 times for VGG16)` },
    class: { type: 'string', value: '<0-999>', help: 'ImageNet class to explain and score (default: the top-1 prediction)' },
    layer: { type: 'string', value: '<name>', help: 'CAM methods (and guided-gradcam): the conv layer (default: the last one)' },
    score: { type: 'string', value: 'prob|logit', default: EVALUATE_DEFAULTS.score, help: 'the score the metrics read' },
    steps: { type: 'string', value: '<S>', default: String(EVALUATE_DEFAULTS.steps), help: 'deletion/insertion: steps (S + 1 images each)' },
    'deletion-fill': { type: 'string', value: 'blur|mean', default: 'blur', help: "deletion: removed pixels become the blurred image (insertion's start) or the mean colour (RISE's deletion)" },
    percentiles: { type: 'string', value: '<p,…>', default: EVALUATE_DEFAULTS.percentiles.join(','), help: 'ROAD: % of pixels kept (pytorch-grad-cam\'s percentiles)' },
    seed: { type: 'string', value: '<n>', default: String(EVALUATE_DEFAULTS.seed), help: 'ROAD noise and randomized weights' },
    'batch-rows': { type: 'string', value: '<n>', help: 'perturbed images per batched forward (default 8)' },
    out: { type: 'string', value: '<dir>', help: 'write metrics.json and <metric>.png charts into this directory (created if missing)' },
    json: { type: 'boolean', help: 'print one JSON object on stdout (predictions, and per method every metric\'s numbers)' },
    f16: { type: 'boolean', help: 'store the dense layers’ weights as float16' },
    ...TUNE_OPTIONS,
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

function listFlag<T extends string>(flag: string, value: string, choices: readonly T[]): T[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new UsageError(`--${flag}: name at least one of ${choices.join(', ')}`);
  const out = items.map((m) => choiceFlag(flag, m, choices));
  if (new Set(out).size !== out.length) throw new UsageError(`--${flag} ${value}: an entry is listed twice`);
  return out;
}

runCli(async () => {
  const parsed = parseCommandLine('evaluate', SPEC);
  if (!parsed) return;
  const { values } = parsed;
  const [imagePath] = parsed.positionals;
  const methods = listFlag('methods', values.methods, METHODS);
  const metrics = listFlag('metrics', values.metrics, METRIC_NAMES) as MetricName[];
  const classIndex = integerFlag('class', values.class, 0, 999);
  const score = choiceFlag('score', values.score, ['prob', 'logit'] as const);
  const steps = integerFlag('steps', values.steps, 1, 1024)!;
  const deletionSubstrate = choiceFlag('deletion-fill', values['deletion-fill'], ['blur', 'mean'] as const);
  const seed = integerFlag('seed', values.seed, 0, 2 ** 32 - 1)!;
  const batchRows = integerFlag('batch-rows', values['batch-rows'], 1, 1024);
  const percentiles = values.percentiles.split(',').map((p) => {
    const v = Number(p);
    if (!/^\s*\d+(\.\d+)?\s*$/.test(p) || !(v > 0 && v < 100)) throw new UsageError(`--percentiles ${values.percentiles}: each a % of pixels kept, strictly between 0 and 100`);
    return v;
  });
  const allConv = new Set(Object.values(MODELS).flatMap(convLayerNames));
  if (values.layer !== undefined && !allConv.has(values.layer)) throw new UsageError(`--layer ${values.layer}: not a conv layer; choose one of ${convLayerNames(MODELS.vgg16).join(', ')}`);
  if (values.layer !== undefined && methods.every((m) => isPixelMethod(m) && m !== 'guided-gradcam')) throw new UsageError(`--layer: ${methods.join(', ')} take no layer`);
  if (values.out !== undefined && existsSync(values.out) && !statSync(values.out).isDirectory()) throw new UsageError(`--out ${values.out}: is a file; give a directory`);
  const tuneMode = parseTuneMode(values.tune);
  const { info } = readWeightsManifest(values.weights);
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const notice = randomWeightsNotice(info, values.weights);
  if (notice) log(`warning: ${notice}`);

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
    const forward = await cam.forward(image);
    const results: EvaluateResult[] = [];
    for (const method of methods) {
      const progress = progressPrinter();
      const r = await cam.evaluate({
        metrics,
        method,
        classIndex,
        layer: isPixelMethod(method) && method !== 'guided-gradcam' ? undefined : values.layer,
        score,
        steps,
        deletionSubstrate,
        percentiles,
        seed,
        batchRows,
        onProgress: (metric, done, total) => progress.update(`${method} ${metric}: ${done}/${total}`, done / total),
      });
      progress.done();
      for (const w of r.warnings) log(`warning: ${method}: ${w}`);
      results.push(r);
    }
    const files: { path: string; bytes: Uint8Array }[] = [];
    if (values.out !== undefined) {
      mkdirSync(values.out, { recursive: true });
      const title = `${imagePath.split('/').pop()}, class ${results[0].classIndex}`;
      for (const p of metricPlots(results, title)) files.push({ path: join(values.out, `${p.name}.png`), bytes: await encodeImage(`${p.name}.png`, p.image) });
      const json = { image: imagePath, predictions: forward.predictions, weights: info, results: results.map(metricsJson) };
      files.push({ path: join(values.out, 'metrics.json'), bytes: new TextEncoder().encode(`${JSON.stringify(json, null, 1)}\n`) });
      writeFilesAtomically(files);
    }
    if (values.json) {
      const json = { image: imagePath, predictions: forward.predictions, weights: info, results: results.map((r) => ({ ...metricsJson(r), summary: metricsSummary(r) })) };
      process.stdout.write(`${JSON.stringify(json)}\n`);
      return;
    }
    console.log(`Predicted: ${formatPredictions(forward.predictions)}${info.synthetic ? '   (RANDOM weights: meaningless)' : ''}`);
    for (const r of results) {
      console.log(`${r.method} (class ${r.classIndex}, score ${r.score}):`);
      for (const line of metricsLines(r)) console.log(`  ${line}`);
    }
    for (const f of files) console.log(`wrote ${f.path}`);
  } finally {
    opened.close();
  }
});
