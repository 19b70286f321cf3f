// npm run verify -- [image] [options] (see --help)
// Runs the network and Grad-CAM on an image and compares every layer's output, the gradient at the
// target layer, the heatmap and the probabilities with reference outputs:
//   builtin: TensorFlow.js' CPU backend (an independent implementation) on the same weights and input;
//   <dir>:   .npy files named by Keras layer (block1_conv1.npy … predictions.npy, grad_<layer>.npy,
//            heatmap.npy), e.g. made by Keras itself with the script in the README.
// Exit code 1 when any tensor is outside its tolerance, so it can gate a CI.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CAM_METHODS, type CamMethod, checkGradCamOptions, DEFAULT_WEIGHTS_DIR, METHOD_SPECS, decodeNpy, encodeNpy, openGradCam, randomWeightsNotice, readImage, readWeightsManifest, syntheticPhoto } from '../src/node.js';
import { camHeatmapReference } from '../src/bench/tfjsReference.js';
import { parseTuneMode, TUNE_OPTIONS, tuningLog } from './lib/tuning.js';
import { choiceFlag, integerFlag, parseCommandLine, runCli, UsageError, type CommandSpec, type OptionSpec } from './lib/cli.js';

/**
 * Tolerances. Activations, logits and gradients: relative L2 ≤ 1e-4 (float32 sums in different orders
 * give ~3e-6 against TF.js and up to ~1e-5 against TensorFlow's own conv algorithms; a real bug is
 * O(1)). Probabilities and the heatmap (values in [0, 1]): max |Δ| ≤ 1e-4.
 */
export const TOLERANCE = { relL2: 1e-4, maxAbs: 1e-4 };
/**
 * With --f16 (the dense layers' weights stored as float16): each weight carries a relative rounding
 * error up to 2⁻¹¹ ≈ 4.9e-4, so fc1 onwards (and the gradients flowing back through them) differ by
 * about that much in relative L2; 1e-2 leaves room without hiding a bug (O(1)).
 */
export const TOLERANCE_F16 = { relL2: 1e-2, maxAbs: 1e-2 };
/**
 * Eigen-CAM maps (eigencam, eigengradcam, --eigen-smooth): the GPU's power iteration stops at a change
 * of 1e-6 per step, so the projection carries up to ~1e-6/(1 − σ₂/σ₁) of relative error on top of the
 * float32 sums: 1e-3 on the [0, 1] heatmap.
 */
export const EIGEN_HEATMAP_TOLERANCE = 1e-3;

export interface Comparison {
  tensor: string;
  shape: number[];
  maxAbs: number;
  maxRel: number;
  relL2: number;
  criterion: 'relL2' | 'maxAbs';
  pass: boolean;
}

export function compareTensor(tensor: string, shape: number[], ours: Float32Array, ref: Float32Array, criterion: 'relL2' | 'maxAbs', tolerance = TOLERANCE): Comparison {
  if (ours.length !== ref.length) {
    return { tensor, shape, maxAbs: Infinity, maxRel: Infinity, relL2: Infinity, criterion, pass: false };
  }
  let maxAbs = 0;
  let maxRel = 0;
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i] - ref[i]);
    if (!(d <= maxAbs)) maxAbs = d; // NaN propagates
    if (ref[i] !== 0) maxRel = Math.max(maxRel, d / Math.abs(ref[i]));
    num += d * d;
    den += ref[i] * ref[i];
  }
  const relL2 = den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
  const pass = criterion === 'relL2' ? relL2 <= tolerance.relL2 : maxAbs <= tolerance.maxAbs;
  return { tensor, shape, maxAbs, maxRel, relL2, criterion, pass };
}

/** A reference tensor's file: its name with '/' and ' ' as '_' ('predictions_logits.npy', 'heatmap_gradcam++.npy'). */
const npyName = (tensor: string) => `${tensor.replace(/[/ ]/g, '_')}.npy`;

const SPEC = {
  usage: 'npm run verify -- [image] [options]',
  summary:
    'Runs the network and Grad-CAM on an image (a built-in test image if none) and compares every layer, the\n' +
    'logits, the probabilities, the gradient at the target layer and the heatmap with a reference; prints one\n' +
    'row per tensor (max |Δ|, max relative Δ, relative L2, pass/fail) and exits 1 if any tensor fails.',
  positionals: { min: 0, max: 1, what: 'an optional PNG or JPEG image' },
  options: {
    weights: { type: 'string', value: '<dir>', default: DEFAULT_WEIGHTS_DIR, help: "converted weights ('npm run weights')" },
    reference: {
      type: 'string',
      value: 'builtin|<dir>',
      default: 'builtin',
      help: "builtin: TensorFlow.js' CPU backend on the same weights; <dir>: .npy files named by Keras layer",
    },
    layer: { type: 'string', value: '<name>', default: 'block5_conv3', help: 'Grad-CAM target conv layer' },
    method: {
      type: 'string',
      value: '<name[,name…]|all>',
      default: 'gradcam',
      help: `CAM method(s) whose heatmap is checked, on one reference: ${CAM_METHODS.filter((m) => !METHOD_SPECS[m].perturbation).join(', ')}`,
    },
    'eigen-smooth': { type: 'boolean', help: "check the method's eigen-smoothed map" },
    class: { type: 'string', value: '<0-999>', help: 'class to explain (default: the top-1 prediction)' },
    score: { type: 'string', value: 'prob|logit', default: 'prob', help: 'differentiate the probability or the logit' },
    'save-reference': { type: 'string', value: '<dir>', help: 'also write the reference tensors there as .npy' },
    json: { type: 'boolean', help: 'print one JSON object instead of the table' },
    f16: { type: 'boolean', help: 'dense weights as float16 (tolerance 1e-2 instead of 1e-4)' },
    ...TUNE_OPTIONS,
  },
  notes: [
    'Tolerances: relative L2 ≤ 1e-4 for activations, logits and gradients; max |Δ| ≤ 1e-4 for the\n' +
      'probabilities and the heatmap (float32 sums in other orders give ~3e-6; a bug gives O(1)); 1e-3 for\n' +
      'eigen maps (power iteration to a 1e-6 change). The heatmap reference is the method\'s float64 formula\n' +
      '(src/kernels/cam.ref.ts) on the reference activations and gradient. Score-CAM and Ablation-CAM need\n' +
      'K forwards per map: they are checked on a small model by the tests (test/perturbation-cam.test.ts).',
  ],
} satisfies CommandSpec<Record<string, OptionSpec>>;

runCli(async () => {
  const parsed = parseCommandLine('npm run verify --', SPEC);
  if (!parsed) return;
  const { values, positionals } = parsed;
  const score = choiceFlag('score', values.score, ['prob', 'logit'] as const);
  const classIndex = integerFlag('class', values.class, 0, 999);
  const layer = values.layer;
  const checkable = CAM_METHODS.filter((m) => !METHOD_SPECS[m].perturbation);
  const methods = values.method === 'all' ? checkable : values.method.split(',').map((m) => choiceFlag('method', m.trim(), CAM_METHODS));
  for (const m of methods)
    if (METHOD_SPECS[m].perturbation)
      throw new UsageError(
        `--method ${m}: its reference needs ${m === 'scorecam' ? '512 full VGG16 forwards' : '512 forwards of the layers after the target'} on the CPU per map; ` +
          'it is checked against float64 references on a small model by the tests (test/perturbation-cam.test.ts). Verify a gradient method here',
      );
  const method = methods[0];
  const eigenSmooth = values['eigen-smooth'];
  const isEigen = (m: CamMethod) => METHOD_SPECS[m].eigen || eigenSmooth;
  /** The heatmap row of a method: 'heatmap' when one method is checked, 'heatmap <method>' for several. */
  const heatmapRow = (m: CamMethod) => (methods.length === 1 ? 'heatmap' : `heatmap ${m}`);
  const tuneMode = parseTuneMode(values.tune);
  const refDir = values.reference === 'builtin' ? undefined : values.reference;
  if (refDir && !existsSync(refDir)) throw new UsageError(`--reference ${refDir}: no such directory (pass 'builtin' or a directory of .npy files)`);
  const { model: manifestModel, info } = readWeightsManifest(values.weights);
  checkGradCamOptions(manifestModel, { layer, classIndex });
  const notice = randomWeightsNotice(info, values.weights);
  // Random weights verify the arithmetic as well as real ones do; the line only says what they are.
  if (notice) process.stderr.write(`note: ${notice.replace('predictions and heatmaps are meaningless', 'the comparison is valid, the predictions are not')}\n`);
  const image = positionals[0] ? await readImage(positionals[0]) : syntheticPhoto(320, 240);

  const tolerance = values.f16 ? TOLERANCE_F16 : TOLERANCE;
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const tuningLines = tuningLog(tuneMode, values.verbose, log);
  let cpuWeights: Map<string, Float32Array> | undefined;
  // The kernels users run (this GPU's tuned choice) are the ones verified.
  const opened = await openGradCam({
    weights: values.weights,
    tune: tuneMode,
    f16: values.f16,
    onTuningProgress: tuningLines.onTuningProgress,
    // A CPU copy of the weights for the built-in reference, before the engine takes them (--f16 repacks them).
    onWeightsLoaded: async (weights, { device }) => {
      if (!refDir) cpuWeights = await weights.readToCpu(device);
    },
  });
  tuningLines.report(opened.tuning);
  const { cam, model } = opened;
  try {
    const names = model.layers.map((l) => l.name);
    const ours = await cam.run(image, { method, eigenSmooth, layer, score, classIndex, readGradient: true, read: ['input', ...names, 'predictions/logits'] });
    // Eigen-CAM uses no gradient: the reference's is still compared, from a Grad-CAM run of the same target.
    const gradient = ours.gradient ?? (await cam.explain({ layer, score, classIndex: ours.classIndex, readGradient: true })).gradient!;
    const heatmaps = new Map<string, Float32Array>([[heatmapRow(method), ours.heatmap.data]]);
    for (const m of methods.slice(1)) heatmaps.set(heatmapRow(m), (await cam.explain({ method: m, eigenSmooth, layer, score, classIndex: ours.classIndex })).heatmap.data);
    const reference = new Map<string, Float32Array>();
    if (refDir) {
      for (const name of [...names, `grad_${layer}`, ...heatmaps.keys()]) {
        const path = join(refDir, npyName(name));
        if (existsSync(path)) reference.set(name, decodeNpy(readFileSync(path), path).data);
      }
      if (reference.size === 0) throw new Error(`--reference ${refDir}: no .npy files named like the layers (block1_conv1.npy …)`);
    } else {
      process.stderr.write('computing the built-in reference with TensorFlow.js (CPU backend)…\n');
      const { tfjsForward, tfjsGradient } = await import('../src/bench/tfjsReference.js');
      const forward = await tfjsForward(model, cpuWeights!, ours.tensors.get('input')!);
      for (const [k, v] of forward) reference.set(k, v);
      const g = await tfjsGradient(model, cpuWeights!, ours.tensors.get('input')!, layer, ours.classIndex, score, forward.get(layer)!);
      reference.set(`grad_${layer}`, g.gradient);
      const [h, w, c] = cam.network.tensorShape(layer);
      const shape = { positions: h * w, channels: c };
      for (const m of methods) reference.set(heatmapRow(m), camHeatmapReference(m as Exclude<CamMethod, 'scorecam' | 'ablationcam'>, shape, g.activation, g.gradient, eigenSmooth));
    }
    if (values['save-reference']) {
      mkdirSync(values['save-reference'], { recursive: true });
      for (const [name, data] of reference) {
        const shape = heatmaps.has(name) ? [ours.heatmap.height, ours.heatmap.width] : name.startsWith('grad_') ? cam.network.tensorShape(layer) : cam.network.tensorShape(name);
        writeFileSync(join(values['save-reference'], npyName(name)), encodeNpy(data, shape));
      }
    }
    const methodOf = new Map(methods.map((m) => [heatmapRow(m), m]));
    const heatmapTolerance = (name: string) =>
      methodOf.has(name) && isEigen(methodOf.get(name)!) ? { ...tolerance, maxAbs: Math.max(tolerance.maxAbs, EIGEN_HEATMAP_TOLERANCE) } : tolerance;
    const rows: Comparison[] = [];
    for (const [name, ref] of reference) {
      let mine: Float32Array | undefined;
      let shape: number[];
      if (heatmaps.has(name)) [mine, shape] = [heatmaps.get(name), [ours.heatmap.height, ours.heatmap.width]];
      else if (name === `grad_${layer}`) [mine, shape] = [gradient, cam.network.tensorShape(layer)];
      else [mine, shape] = [ours.tensors.get(name), cam.network.tensorShape(name)];
      if (!mine) continue;
      const criterion = name === 'predictions' || heatmaps.has(name) ? 'maxAbs' : 'relL2';
      const bound = heatmapTolerance(name);
      rows.push(compareTensor(name, shape, mine, ref, criterion, bound));
    }
    const failed = rows.filter((r) => !r.pass);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ reference: refDir ?? 'builtin:tfjs-cpu', methods, eigenSmooth, layer, class: ours.classIndex, score, weights: { ...info, storage: values.f16 ? 'dense layers float16' : 'float32' }, tolerance, tensors: rows, pass: failed.length === 0 })}\n`);
    } else {
      const e = (v: number) => (Number.isFinite(v) ? v.toExponential(2) : String(v));
      console.log(
        `reference: ${refDir ?? 'TensorFlow.js CPU backend (built in)'}; ${methods.join(', ')}${eigenSmooth ? ' (eigen-smoothed)' : ''} of class ${ours.classIndex} at ${layer}, score ${score}${values.f16 ? '; dense weights stored as float16' : ''}`,
      );
      console.log(`weights: ${values.weights} (${info.model}${info.synthetic ? `, RANDOM: synthetic, seed ${info.seed}` : ''})`);
      console.log(`${'tensor'.padEnd(28)} ${'shape'.padEnd(14)} ${'max |Δ|'.padStart(9)} ${'max rel Δ'.padStart(9)} ${'rel L2'.padStart(9)}  result`);
      for (const r of rows) {
        const t = heatmapTolerance(r.tensor);
        const bound = r.criterion === 'relL2' ? `rel L2 ≤ ${t.relL2}` : `max |Δ| ≤ ${t.maxAbs}`;
        console.log(`${r.tensor.padEnd(28)} ${r.shape.join('×').padEnd(14)} ${e(r.maxAbs).padStart(9)} ${e(r.maxRel).padStart(9)} ${e(r.relL2).padStart(9)}  ${r.pass ? 'pass' : 'FAIL'} (${bound})`);
      }
      console.log(failed.length === 0 ? `all ${rows.length} tensors pass` : `${failed.length} of ${rows.length} tensors FAIL: ${failed.map((r) => r.tensor).join(', ')}`);
    }
    if (failed.length) process.exitCode = 1;
  } finally {
    opened.close();
  }
});
