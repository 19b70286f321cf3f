// What every benchmark report must satisfy, whichever host wrote it: the JSON files of `npm run bench`
// and the JSON the bench page downloads are checked by this one function (test/bench.test.ts and
// test/bench-page.test.ts), so both follow one schema. It reads the report as untrusted JSON and
// returns the problems found, one line each; an empty list is a valid report. What a particular run
// was asked for (which layers, how many batches, whether the peer ran) is for the caller to check;
// what follows from the report itself is checked here: the peer's fields are required when a peer
// ran, every kernel row names a real version of a real kernel at that layer's shape (one that needs a
// device feature only where the report's device.features lists it), the per-layer times cover the
// model when the device has timestamp queries, the CAM methods' percentages and ratios follow from
// their times, and so do the pixel-level methods' ratios to the forward.
import { CAM_METHODS, METHOD_SPECS } from '../engine/camMethods.js';
import { MODELS, type ModelSpec } from '../engine/model.js';
import { benchCases } from './kernelBench.js';
import { modelAtSize } from './config.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The model a report names: 'vgg16', or 'vgg16@64' for VGG16 at 64×64 (see vgg16AtSize). */
export function reportModel(name: string): ModelSpec | undefined {
  const m = /^([a-z0-9]+)(?:@(\d+))?$/.exec(name);
  const base = m ? MODELS[m[1]] : undefined;
  if (!m || !base) return undefined;
  try {
    return m[2] === undefined ? base : modelAtSize(base, Number(m[2]));
  } catch {
    return undefined;
  }
}

export function checkBenchReport(report: unknown): string[] {
  const problems: string[] = [];
  const problem = (what: string, why: string) => problems.push(`${what}: ${why}`);
  const object = (v: unknown, what: string): Json => {
    if (isObject(v)) return v;
    problem(what, `expected an object, got ${JSON.stringify(v)}`);
    return {};
  };
  const positive = (v: unknown, what: string) => {
    if (!isFiniteNumber(v) || v <= 0) problem(what, `expected a finite number > 0, got ${JSON.stringify(v)}`);
  };
  const nonNegative = (v: unknown, what: string) => {
    if (!isFiniteNumber(v) || v < 0) problem(what, `expected a finite number ≥ 0, got ${JSON.stringify(v)}`);
  };
  const string = (v: unknown, what: string) => {
    if (typeof v !== 'string') problem(what, `expected a string, got ${JSON.stringify(v)}`);
  };
  const oneOf = (v: unknown, allowed: readonly unknown[], what: string) => {
    if (!allowed.includes(v)) problem(what, `expected one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${JSON.stringify(v)}`);
  };
  /** a ≈ b to the digits a report keeps (both come from the same float64 numbers). */
  const consistent = (a: unknown, b: number, what: string) => {
    if (isFiniteNumber(a) && Math.abs(a - b) > 1e-9 * Math.max(1, Math.abs(b))) problem(what, `${a} does not match ${b}`);
  };

  const r = object(report, 'report');
  if (typeof r.date !== 'string' || Number.isNaN(Date.parse(r.date))) problem('date', `expected an ISO date, got ${JSON.stringify(r.date)}`);
  oneOf(r.host, ['node', 'chrome'], 'host');
  string(r.model, 'model');
  const model = typeof r.model === 'string' ? reportModel(r.model) : undefined;
  if (typeof r.model === 'string' && !model) problem('model', `'${r.model}' is not a model this project runs`);
  if (!Number.isInteger(r.runs) || (r.runs as number) < 1) problem('runs', `expected a positive integer, got ${JSON.stringify(r.runs)}`);
  for (const f of ['quick', 'f16'] as const) if (typeof r[f] !== 'boolean') problem(f, `expected a boolean, got ${JSON.stringify(r[f])}`);

  const device = object(r.device, 'device');
  for (const f of ['vendor', 'architecture', 'device', 'description'] as const) string(device[f], `device.${f}`);
  if (typeof device.software !== 'boolean') problem('device.software', 'expected a boolean');
  const features = Array.isArray(device.features) && device.features.every((f) => typeof f === 'string') ? (device.features as string[]) : undefined;
  if (!features) problem('device.features', 'expected a list of feature names');
  for (const [k, v] of Object.entries(object(device.limits, 'device.limits'))) positive(v, `device.limits.${k}`);
  const timestamps = features?.includes('timestamp-query') ?? false;

  const peaks = object(r.peaks, 'peaks');
  positive(peaks.gflops, 'peaks.gflops');
  positive(peaks.gbps, 'peaks.gbps');
  oneOf(peaks.timing, ['gpu-timestamp', 'wall-clock'], 'peaks.timing');

  const tuning = object(r.tuning, 'tuning');
  oneOf(tuning.source, ['cache', 'tuned', 'off'], 'tuning.source');
  for (const [k, v] of Object.entries(object(tuning.choices, 'tuning.choices'))) string(v, `tuning.choices['${k}']`);
  if (!Array.isArray(tuning.summary) || tuning.summary.length === 0 || !tuning.summary.every((l) => typeof l === 'string')) problem('tuning.summary', 'expected one or more lines');
  if (tuning.source === 'tuned') positive(tuning.tookMs, 'tuning.tookMs');

  const peer = object(r.peer, 'peer');
  for (const [backend, p] of Object.entries(peer)) {
    oneOf(backend, ['webgpu', 'wasm'], 'peer backend');
    const run = object(p, `peer.${backend}`);
    for (const f of ['forwardMs', 'gradcamMs', 'firstForwardMs', 'firstGradcamMs'] as const) positive(run[f], `peer.${backend}.${f}`);
    if (!Number.isInteger(run.runs) || (run.runs as number) < 1) problem(`peer.${backend}.runs`, 'expected a positive integer');
  }
  const webgpuPeer = 'webgpu' in peer;
  const wasmPeer = 'wasm' in peer;

  const endToEnd = object(r.endToEnd, 'endToEnd');
  for (const k of ['forward', 'gradcam'] as const) {
    const l = object(endToEnd[k], `endToEnd.${k}`);
    positive(l.oursMs, `endToEnd.${k}.oursMs`);
    if (webgpuPeer) {
      positive(l.peerMs, `endToEnd.${k}.peerMs`);
      positive(l.ratio, `endToEnd.${k}.ratio`);
      if (isFiniteNumber(l.peerMs) && isFiniteNumber(l.oursMs) && l.oursMs > 0) consistent(l.ratio, l.peerMs / l.oursMs, `endToEnd.${k}.ratio`);
    }
    if (wasmPeer) positive(l.wasmMs, `endToEnd.${k}.wasmMs`);
  }
  const batched = Array.isArray(endToEnd.batched) ? endToEnd.batched : (problem('endToEnd.batched', 'expected a list'), []);
  batched.forEach((entry, i) => {
    const b = object(entry, `endToEnd.batched[${i}]`);
    if (!Number.isInteger(b.batch) || (b.batch as number) < 2) problem(`endToEnd.batched[${i}].batch`, `expected an integer ≥ 2, got ${JSON.stringify(b.batch)}`);
    positive(b.oursMs, `endToEnd.batched[${i}].oursMs`);
    positive(b.oursPerImageMs, `endToEnd.batched[${i}].oursPerImageMs`);
    if (isFiniteNumber(b.oursMs) && isFiniteNumber(b.batch)) consistent(b.oursPerImageMs, b.oursMs / b.batch, `endToEnd.batched[${i}].oursPerImageMs`);
    if (webgpuPeer) {
      positive(b.peerMs, `endToEnd.batched[${i}].peerMs`);
      positive(b.ratio, `endToEnd.batched[${i}].ratio`);
    }
  });

  positive(r.coldStartMs, 'coldStartMs');
  string(r.coldStartFrom, 'coldStartFrom');
  positive(r.gpuMemoryBytes, 'gpuMemoryBytes');
  const weights = object(r.weights, 'weights');
  string(weights.model, 'weights.model');
  if (typeof weights.synthetic !== 'boolean') problem('weights.synthetic', 'expected a boolean');

  if (webgpuPeer) {
    const h = object(r.heatmapAgreement, 'heatmapAgreement');
    nonNegative(h.maxAbsDiff, 'heatmapAgreement.maxAbsDiff');
    if (h.agree !== true) problem('heatmapAgreement.agree', `our heatmap and TF.js WebGPU's differ (max |Δ| ${String(h.maxAbsDiff)})`);
  }
  for (const [k, v] of Object.entries(object(r.stageTimingsMs, 'stageTimingsMs'))) nonNegative(v, `stageTimingsMs.${k}`);

  // Per layer: ours from pass timestamps, so every layer with a pass (all but flatten), in order.
  const layers = Array.isArray(r.layers) ? r.layers : (problem('layers', 'expected a list'), []);
  const layerNames = layers.map((l, i) => {
    const row = object(l, `layers[${i}]`);
    string(row.layer, `layers[${i}].layer`);
    nonNegative(row.oursMs, `layers[${i}].oursMs (${String(row.layer)})`);
    if (row.peerMs !== undefined || (webgpuPeer && timestamps)) nonNegative(row.peerMs, `layers[${i}].peerMs (${String(row.layer)})`);
    return row.layer;
  });
  if (model && timestamps) {
    const expected = model.layers.filter((l) => l.kind !== 'flatten').map((l) => l.name);
    if (JSON.stringify(layerNames) !== JSON.stringify(expected)) problem('layers', `expected ${expected.join(', ')}; got ${layerNames.join(', ')}`);
  }

  // Per kernel: every row one version of one kernel at one of the model's layers and shapes, on the
  // report's device: versions that need a feature (shader-f16, subgroups) only where device.features has it.
  // Layer by layer: benchCases keeps only the first layer of each shape among the layers it is given.
  const deviceFeatures = new Set(features ?? []);
  const known = new Set(
    (model?.layers ?? []).flatMap((l) =>
      benchCases(model!, { layers: [l.name], allVersions: true, f16: r.f16 === true, features: deviceFeatures }).map(
        (c) => `${c.op.kernel}.${c.version}|${c.op.layer}|${c.op.direction}|${c.op.shape}`,
      ),
    ),
  );
  const kernels = Array.isArray(r.kernels) ? r.kernels : (problem('kernels', 'expected a list'), []);
  kernels.forEach((k, i) => {
    const row = object(k, `kernels[${i}]`);
    const what = `kernels[${i}] (${String(row.layer)} ${String(row.name)}.${String(row.version)})`;
    for (const f of ['name', 'layer', 'version', 'shape'] as const) string(row[f], `${what}.${f}`);
    oneOf(row.direction, ['forward', 'backward'], `${what}.direction`);
    oneOf(row.bound, ['compute', 'memory'], `${what}.bound`);
    oneOf(row.timing, ['gpu-timestamp', 'wall-clock'], `${what}.timing`);
    for (const f of ['medianMs', 'p10Ms', 'p90Ms', 'gbps', 'pctOfPeak'] as const) positive(row[f], `${what}.${f}`);
    if (row.bound === 'compute') positive(row.gflops, `${what}.gflops`);
    else nonNegative(row.gflops, `${what}.gflops`);
    if (isFiniteNumber(row.p10Ms) && isFiniteNumber(row.medianMs) && isFiniteNumber(row.p90Ms) && !(row.p10Ms <= row.medianMs && row.medianMs <= row.p90Ms))
      problem(what, `expected p10 ≤ median ≤ p90, got ${row.p10Ms}, ${row.medianMs}, ${row.p90Ms}`);
    const key = `${String(row.name)}.${String(row.version)}|${String(row.layer)}|${String(row.direction)}|${String(row.shape)}`;
    if (model && !known.has(key)) problem(what, `no such kernel version at that layer and shape in ${model.name} on a device with ${features?.length ? features.join(', ') : 'no features'} (${key})`);
  });
  if (kernels.length === 0) problem('kernels', 'no kernel was measured');

  // The CAM methods: Grad-CAM is every gradient method's baseline, the extra and the ratios follow from
  // the times on the basis each names, and a perturbation method's image is its K rows.
  const methods = object(r.methods, 'methods');
  string(methods.layer, 'methods.layer');
  const camLayer = model?.layers.find((l) => l.name === methods.layer);
  if (model && typeof methods.layer === 'string' && camLayer?.kind !== 'conv3x3') problem('methods.layer', `'${methods.layer}' is not a conv layer of ${model.name}`);
  const direct = CAM_METHODS.filter((m) => !METHOD_SPECS[m].perturbation);
  const timings = Array.isArray(methods.timings) ? methods.timings : (problem('methods.timings', 'expected a list'), []);
  const seen = new Set<unknown>();
  const rows = timings.map((t, i) => {
    const row = object(t, `methods.timings[${i}]`);
    const what = `methods.timings[${i}] (${String(row.method)})`;
    oneOf(row.method, direct, `${what}.method`);
    if (seen.has(row.method)) problem(`${what}.method`, 'timed twice');
    seen.add(row.method);
    positive(row.oursMs, `${what}.oursMs`);
    if (row.gpuMs !== undefined || row.basis === 'gpu') positive(row.gpuMs, `${what}.gpuMs`);
    oneOf(row.basis, ['gpu', 'wall'], `${what}.basis`);
    if (!isFiniteNumber(row.extraPct)) problem(`${what}.extraPct`, `expected a finite number, got ${JSON.stringify(row.extraPct)}`);
    return { row, what };
  });
  const baseline = rows.find(({ row }) => row.method === 'gradcam')?.row;
  const onBasis = (row: Json, basis: unknown) => (basis === 'gpu' ? row.gpuMs : row.oursMs);
  if (rows.length && !baseline) problem('methods.timings', 'no gradcam row: Grad-CAM is the baseline of the others');
  for (const { row, what } of rows) {
    if (!baseline) break;
    if (row.basis !== baseline.basis) problem(`${what}.basis`, `'${String(row.basis)}' while Grad-CAM's is '${String(baseline.basis)}'`);
    const [v, b] = [onBasis(row, row.basis), onBasis(baseline, row.basis)];
    if (isFiniteNumber(v) && isFiniteNumber(b) && b > 0) consistent(row.extraPct, 100 * (v / b - 1), `${what}.extraPct`);
  }
  if (methods.topMaps !== undefined) {
    const top = object(methods.topMaps, 'methods.topMaps');
    if (top.k !== 5) problem('methods.topMaps.k', `expected 5, got ${JSON.stringify(top.k)}`);
    for (const f of ['oneMs', 'topMs', 'separateMs', 'ratio'] as const) positive(top[f], `methods.topMaps.${f}`);
    oneOf(top.basis, ['gpu', 'wall'], 'methods.topMaps.basis');
    if (isFiniteNumber(top.topMs) && isFiniteNumber(top.oneMs) && top.oneMs > 0) consistent(top.ratio, top.topMs / top.oneMs, 'methods.topMaps.ratio');
    if (!baseline) problem('methods.topMaps', 'no gradcam row to compare with');
    else consistent(top.oneMs, onBasis(baseline, top.basis) as number, 'methods.topMaps.oneMs (Grad-CAM\'s time)');
  }
  const perturbation = Array.isArray(methods.perturbation) ? methods.perturbation : (problem('methods.perturbation', 'expected a list'), []);
  const seenPerturbation = new Set<unknown>();
  perturbation.forEach((p, i) => {
    const row = object(p, `methods.perturbation[${i}]`);
    const what = `methods.perturbation[${i}] (${String(row.method)})`;
    oneOf(row.method, ['scorecam', 'ablationcam'], `${what}.method`);
    if (seenPerturbation.has(row.method)) problem(`${what}.method`, 'timed twice');
    seenPerturbation.add(row.method);
    positive(row.perRowMs, `${what}.perRowMs`);
    positive(row.perImageMs, `${what}.perImageMs`);
    if (typeof row.extrapolated !== 'boolean') problem(`${what}.extrapolated`, `expected a boolean, got ${JSON.stringify(row.extrapolated)}`);
    const k = camLayer?.kind === 'conv3x3' ? camLayer.filters : undefined;
    if (!Number.isInteger(row.rows) || (row.rows as number) < 1) problem(`${what}.rows`, `expected a positive integer, got ${JSON.stringify(row.rows)}`);
    else if (k !== undefined && row.rows !== k) problem(`${what}.rows`, `expected ${k}, the channels of ${String(methods.layer)}, got ${String(row.rows)}`);
    if (!Number.isInteger(row.batchRows) || (row.batchRows as number) < 1 || (row.batchRows as number) > (row.rows as number))
      problem(`${what}.batchRows`, `expected an integer in 1..rows, got ${JSON.stringify(row.batchRows)}`);
    if (isFiniteNumber(row.perRowMs) && isFiniteNumber(row.rows)) consistent(row.perImageMs, row.perRowMs * row.rows, `${what}.perImageMs`);
  });

  // The pixel-level methods: each backward over the section's forward on its basis (GPU time needs
  // timestamp queries), Guided Grad-CAM's extra over guided backprop, and SmoothGrad's and IG's
  // samples, batches and time per sample over the forward's wall clock.
  const pixel = object(r.pixel, 'pixel');
  oneOf(pixel.basis, ['gpu', 'wall'], 'pixel.basis');
  if (pixel.basis === 'gpu' && features && !timestamps) problem('pixel.basis', "'gpu' on a device without timestamp-query");
  const pixelTimed = (Array.isArray(pixel.backward) && pixel.backward.length > 0) || (Array.isArray(pixel.sampled) && pixel.sampled.length > 0);
  if (pixelTimed || pixel.forwardMs !== undefined) positive(pixel.forwardMs, 'pixel.forwardMs');
  if (pixelTimed || pixel.forwardWallMs !== undefined) positive(pixel.forwardWallMs, 'pixel.forwardWallMs');
  const forwardWall = pixel.forwardWallMs;
  if (pixel.basis === 'wall' && isFiniteNumber(forwardWall)) consistent(pixel.forwardMs, forwardWall, 'pixel.forwardMs (the forward\'s wall clock)');
  const pixelBackward = Array.isArray(pixel.backward) ? pixel.backward : (problem('pixel.backward', 'expected a list'), []);
  const seenPixel = new Set<unknown>();
  const backwardRows = pixelBackward.map((b, i) => {
    const row = object(b, `pixel.backward[${i}]`);
    const what = `pixel.backward[${i}] (${String(row.method)})`;
    oneOf(row.method, ['saliency', 'guided-backprop', 'guided-gradcam'], `${what}.method`);
    if (seenPixel.has(row.method)) problem(`${what}.method`, 'timed twice');
    seenPixel.add(row.method);
    positive(row.oursMs, `${what}.oursMs`);
    if (row.gpuMs !== undefined || pixel.basis === 'gpu') positive(row.gpuMs, `${what}.gpuMs`);
    positive(row.backwardOverForward, `${what}.backwardOverForward`);
    const v = pixel.basis === 'gpu' ? row.gpuMs : row.oursMs;
    if (isFiniteNumber(v) && isFiniteNumber(pixel.forwardMs) && pixel.forwardMs > 0) consistent(row.backwardOverForward, v / pixel.forwardMs, `${what}.backwardOverForward`);
    return { row, what };
  });
  const guidedRow = backwardRows.find(({ row }) => row.method === 'guided-backprop')?.row;
  for (const { row, what } of backwardRows) {
    if (row.method !== 'guided-gradcam') {
      if (row.extraMs !== undefined || row.extraPct !== undefined) problem(what, 'only guided-gradcam has an extra over guided-backprop');
      continue;
    }
    if (!guidedRow) {
      problem(what, 'no guided-backprop row: guided backprop is the baseline of its extra');
      continue;
    }
    for (const f of ['extraMs', 'extraPct'] as const) if (!isFiniteNumber(row[f])) problem(`${what}.${f}`, `expected a finite number, got ${JSON.stringify(row[f])}`);
    if (isFiniteNumber(row.oursMs) && isFiniteNumber(guidedRow.oursMs) && guidedRow.oursMs > 0) {
      consistent(row.extraMs, row.oursMs - guidedRow.oursMs, `${what}.extraMs`);
      consistent(row.extraPct, 100 * (row.oursMs / guidedRow.oursMs - 1), `${what}.extraPct`);
    }
  }
  const pixelSampled = Array.isArray(pixel.sampled) ? pixel.sampled : (problem('pixel.sampled', 'expected a list'), []);
  pixelSampled.forEach((p, i) => {
    const row = object(p, `pixel.sampled[${i}]`);
    const what = `pixel.sampled[${i}] (${String(row.method)})`;
    oneOf(row.method, ['smoothgrad', 'integrated-gradients'], `${what}.method`);
    if (seenPixel.has(row.method)) problem(`${what}.method`, 'timed twice');
    seenPixel.add(row.method);
    positive(row.perSampleMs, `${what}.perSampleMs`);
    positive(row.perSampleOverForward, `${what}.perSampleOverForward`);
    if (typeof row.partial !== 'boolean') problem(`${what}.partial`, `expected a boolean, got ${JSON.stringify(row.partial)}`);
    const ints = ['samples', 'batchRows', 'submissions', 'fromSamples'] as const;
    const bad = ints.filter((f) => !Number.isInteger(row[f]) || (row[f] as number) < 1);
    for (const f of bad) problem(`${what}.${f}`, `expected a positive integer, got ${JSON.stringify(row[f])}`);
    if (!bad.length) {
      const [samples, batchRows, submissions, fromSamples] = ints.map((f) => row[f] as number);
      if (batchRows > samples) problem(`${what}.batchRows`, `${batchRows} rows for ${samples} samples`);
      if (submissions !== Math.ceil(samples / batchRows)) problem(`${what}.submissions`, `expected ${Math.ceil(samples / batchRows)} batches of ${batchRows} for ${samples} samples, got ${submissions}`);
      if (row.partial === true && (fromSamples > batchRows || submissions < 2)) problem(`${what}.fromSamples`, `a partial timing is of the second batch: at most ${batchRows} samples of ${submissions} batches, got ${fromSamples}`);
      if (row.partial === false && fromSamples !== samples) problem(`${what}.fromSamples`, `expected ${samples}, the whole call, got ${fromSamples}`);
      if (row.method === 'integrated-gradients' && samples < 3) problem(`${what}.samples`, `expected at least 3 (a step, the baseline and the image), got ${samples}`);
    }
    if (isFiniteNumber(row.perSampleMs) && isFiniteNumber(forwardWall) && forwardWall > 0) consistent(row.perSampleOverForward, row.perSampleMs / forwardWall, `${what}.perSampleOverForward`);
  });
  return problems;
}
