// A benchmark report in words and pictures, for every host: the markdown `npm run bench` prints and
// writes to bench-results/latest.md, which the bench page also copies; and the per-layer chart as SVG
// (rasterised to PNG by scripts/lib/benchReport.ts, drawn inline by the page). Browser-safe: no Node.
import type { KernelRow } from './kernelBench.js';
import type { BenchReport, Latency } from './run.js';

const ratio = (l: Latency) => (l.ratio === undefined ? '–' : `${l.ratio.toFixed(2)}×`);
const ms = (v: number | undefined, digits = 1) => (v === undefined ? '–' : v.toFixed(digits));

export function deviceName(r: BenchReport): string {
  const d = r.device;
  return `${[d.vendor, d.architecture, d.description].filter(Boolean).join(' ')}${d.software ? ' (software)' : ''}`;
}

function weightsLine(r: BenchReport): string {
  const w = r.weights;
  return w.synthetic ? `random weights (synthetic${w.seed !== undefined ? `, seed ${w.seed}` : ''}; timings do not depend on the values)` : `${w.model} weights converted from Keras`;
}

/**
 * The browser a report's page ran in, from its user agent (the JSON's host is 'chrome' for every
 * browser page: the schema predates the bench page; the user agent says which browser it was).
 */
export function browserName(userAgent: string | undefined): string {
  if (!userAgent) return 'Browser';
  if (/\bEdg\//.test(userAgent)) return 'Edge';
  if (/\b(Headless)?Chrome\//.test(userAgent)) return 'Chrome';
  if (/\bFirefox\//.test(userAgent)) return 'Firefox';
  if (/\bSafari\//.test(userAgent)) return 'Safari';
  return 'Browser';
}

const NAMES: Record<string, string> = {
  gradcam: 'Grad-CAM',
  'gradcam++': 'Grad-CAM++',
  xgradcam: 'XGrad-CAM',
  hirescam: 'HiResCAM',
  'gradcam-elementwise': 'Grad-CAM element-wise',
  layercam: 'LayerCAM',
  eigencam: 'Eigen-CAM',
  eigengradcam: 'EigenGrad-CAM',
  scorecam: 'Score-CAM',
  ablationcam: 'Ablation-CAM',
  saliency: 'Saliency',
  'guided-backprop': 'Guided backprop',
  'guided-gradcam': 'Guided Grad-CAM',
  smoothgrad: 'SmoothGrad',
  'integrated-gradients': 'Integrated Gradients',
};
export const methodName = (m: string) => NAMES[m] ?? m;
const seconds = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : `${(ms / 1000).toFixed(1)} s`);

/** The CAM methods: a table of the gradient and eigen methods, then a line each for the top-5 and the perturbation methods. */
export function methodsMarkdown(r: BenchReport): string[] {
  const m = r.methods;
  if (!m || (!m.timings.length && !m.perturbation.length)) return [];
  const lines: string[] = [];
  if (m.timings.length) {
    lines.push(
      `| CAM method (${m.layer}, kept forward) | ms | GPU ms | extra over Grad-CAM |`,
      '| --- | ---: | ---: | ---: |',
      ...m.timings.map(
        (t) =>
          `| ${methodName(t.method)} | ${ms(t.oursMs)} | ${ms(t.gpuMs)} | ${t.method === 'gradcam' ? '– (baseline)' : `${t.extraPct >= 0 ? '+' : ''}${t.extraPct.toFixed(1)}% (${t.basis === 'gpu' ? 'GPU' : 'wall'})`} |`,
      ),
      '',
    );
  }
  const t = m.topMaps;
  if (t)
    lines.push(
      `Top-5 Grad-CAM maps (${t.basis === 'gpu' ? 'GPU time' : 'wall clock'}): in one pass ${ms(t.topMs)} ms, ${t.ratio.toFixed(2)}× one map (${ms(t.oneMs)} ms; target ≤ 1.5×); ` +
        `in five passes ${ms(t.separateMs)} ms, ${(t.separateMs / t.oneMs).toFixed(2)}×.`,
      '',
    );
  for (const p of m.perturbation)
    lines.push(
      `${methodName(p.method)} (wall clock): ${ms(p.perRowMs)} ms per batch row (batches of ${p.batchRows}); ${p.extrapolated ? 'about ' : ''}${seconds(p.perImageMs)} per image of ${p.rows} rows` +
        `${p.extrapolated ? ', extrapolated from the second batch' : ''}.`,
      '',
    );
  return lines;
}

const samplesText = (n: number) => `${n} sample${n === 1 ? '' : 's'}`;

/**
 * The pixel-level methods: a table of the backward to the image against the forward (saliency, guided
 * backprop, Guided Grad-CAM with its extra over guided backprop), a line that states the ratio, then a
 * line each for SmoothGrad and Integrated Gradients per sample in batches.
 */
export function pixelMarkdown(r: BenchReport): string[] {
  const p = r.pixel;
  if (!p || (!p.backward.length && !p.sampled.length)) return [];
  const lines: string[] = [];
  const gpu = p.basis === 'gpu';
  if (p.backward.length) {
    lines.push(
      '| pixel method (kept forward) | ms | backward GPU ms | backward / forward | extra over guided backprop |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...p.backward.map(
        (b) =>
          `| ${methodName(b.method)} | ${ms(b.oursMs)} | ${ms(b.gpuMs)} | ${b.backwardOverForward.toFixed(2)}× | ${b.extraPct === undefined ? '–' : `${b.extraPct >= 0 ? '+' : ''}${b.extraPct.toFixed(1)}% (wall)`} |`,
      ),
      '',
      `Backward to the image (${gpu ? 'GPU time, from the score through the preprocessing' : 'wall clock of the whole call'}): ` +
        `${p.backward
          .filter((b) => b.method !== 'guided-gradcam')
          .map((b) => `${methodName(b.method).toLowerCase()} ${b.backwardOverForward.toFixed(2)}×`)
          .join(', ')} the forward (${ms(p.forwardMs)} ms${gpu ? ' GPU, preprocessing included' : ' wall clock'}, run before each timed backward); a well-built backward costs about 2× its forward.`,
      '',
    );
  }
  for (const s of p.sampled)
    lines.push(
      `${methodName(s.method)} (wall clock): ${ms(s.perSampleMs)} ms per sample in batches of ${s.batchRows}, ${s.perSampleOverForward.toFixed(2)}× a forward; ` +
        `${s.partial ? `from the second batch's ${samplesText(s.fromSamples)} (the first also built the batched network)` : `from ${samplesText(s.fromSamples)} in ${s.submissions} batches${r.runs > 1 ? `, median of ${r.runs} runs` : ''}`}.`,
      '',
    );
  return lines;
}

const dir = (d: KernelRow['direction']) => (d === 'forward' ? 'fwd' : 'bwd');
const peakText = (k: KernelRow) => `${k.pctOfPeak.toFixed(0)}% ${k.bound === 'compute' ? 'compute' : 'bw'}`;

/** One kernel of one layer in one direction (and shape: a dense backward for several targets is its own), every version measured. */
export interface LayerKernel {
  layer: string;
  direction: KernelRow['direction'];
  kernel: string;
  shape: string;
  /** Its rows, fastest first. */
  versions: KernelRow[];
  best: KernelRow;
}

/** The report's kernel rows grouped by layer, direction, kernel and shape, in the order they were measured (the model's). */
export function layerKernels(kernels: readonly KernelRow[]): LayerKernel[] {
  const groups = new Map<string, KernelRow[]>();
  for (const k of kernels) {
    const key = `${k.layer}|${k.direction}|${k.name}|${k.shape}`;
    groups.set(key, [...(groups.get(key) ?? []), k]);
  }
  return [...groups.values()].map((rows) => {
    const versions = [...rows].sort((a, b) => a.medianMs - b.medianMs);
    const [first] = rows;
    return { layer: first.layer, direction: first.direction, kernel: first.name, shape: first.shape, versions, best: versions[0] };
  });
}

/**
 * Per layer and direction, the fastest version measured, its share of the measured peak, and TF.js
 * WebGPU's time for that layer over ours: the peer's forward profile (tf.time per Keras layer, by
 * name) against the sum of our layer's fastest kernels (the predictions layer is a dense kernel and a
 * softmax). '–' where the peer has no time for it: it profiles the forward only.
 */
export function bestPerLayerMarkdown(r: BenchReport): string[] {
  const groups = layerKernels(r.kernels);
  if (!groups.length) return [];
  const peer = new Map(r.layers.filter((l) => l.peerMs !== undefined).map((l) => [l.layer, l.peerMs!]));
  // Ours per layer and direction: the sum of each kernel's best (the several-target variants aside).
  const ours = new Map<string, number>();
  for (const g of groups) if (!g.shape.endsWith(' shared')) ours.set(`${g.layer}|${g.direction}`, (ours.get(`${g.layer}|${g.direction}`) ?? 0) + g.best.medianMs);
  const vsPeer = (g: LayerKernel) => {
    const p = g.direction === 'forward' && !g.shape.endsWith(' shared') ? peer.get(g.layer) : undefined;
    if (p === undefined) return ['–', '–'];
    const o = ours.get(`${g.layer}|${g.direction}`)!;
    return [ms(p, 2), `${(p / o).toFixed(2)}×`];
  };
  return [
    '| layer | kernel | shape | best version | median ms | % of peak | versions measured | TF.js WebGPU layer (ms) | TF.js / ours |',
    '| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...groups.map((g) => `| ${g.layer} ${dir(g.direction)} | ${g.kernel} | ${g.shape} | ${g.best.version} | ${ms(g.best.medianMs, 2)} | ${peakText(g.best)} | ${g.versions.length} | ${vsPeer(g).join(' | ')} |`),
    '',
  ];
}

/**
 * Versions × layers, one table per kernel: a row per layer (and shape) it ran on, a column per version
 * that any of its rows measured (the columns come from the rows, so a new version is a new column),
 * median ms in the cells, the fastest of each row in bold, '' where a version does not support the shape
 * or was not measured. Only kernels with a row of two or more versions (`--all-versions`).
 */
export function versionTablesMarkdown(r: BenchReport): string[] {
  const byKernel = new Map<string, LayerKernel[]>();
  for (const g of layerKernels(r.kernels)) byKernel.set(g.kernel, [...(byKernel.get(g.kernel) ?? []), g]);
  const lines: string[] = [];
  for (const [kernel, groups] of byKernel) {
    if (!groups.some((g) => g.versions.length > 1)) continue;
    // Columns in the order first measured, which follows the kernel's own version order.
    const columns = [...new Set(r.kernels.filter((k) => k.name === kernel).map((k) => k.version))];
    lines.push(
      `${kernel} (${groups[0].direction}), median ms per version, the fastest in bold:`,
      '',
      `| layer | shape | ${columns.join(' | ')} |`,
      `| --- | --- | ${columns.map(() => '---:').join(' | ')} |`,
      ...groups.map((g) => {
        const cells = columns.map((c) => {
          const row = g.versions.find((v) => v.version === c);
          if (!row) return '';
          return row === g.best && g.versions.length > 1 ? `**${ms(row.medianMs, 2)}**` : ms(row.medianMs, 2);
        });
        return `| ${g.layer} ${dir(g.direction)} | ${g.shape} | ${cells.join(' | ')} |`;
      }),
      '',
    );
  }
  return lines;
}

/** One host's section. `ranBy` says how the run was started, e.g. "Command: `npm run bench -- --quick`". */
export function reportMarkdown(r: BenchReport, ranBy: string): string {
  const e = r.endToEnd;
  const lines = [
    `## ${r.host === 'node' ? 'Node (Dawn)' : browserName(r.device.userAgent)}: ${deviceName(r)}, ${r.date.slice(0, 10)}`,
    '',
    `${ranBy}; ${r.runs} runs, median; model ${r.model}${r.f16 ? ', our dense weights float16' : ''}; ${weightsLine(r)}; measured peaks ${r.peaks.gflops.toFixed(2)} GFLOP/s, ${r.peaks.gbps.toFixed(2)} GB/s (${r.peaks.timing}).`,
    '',
    '| end to end | ours (ms) | TF.js WebGPU (ms) | speed-up | TF.js WASM (ms) |',
    '| --- | ---: | ---: | ---: | ---: |',
    `| forward | ${ms(e.forward.oursMs)} | ${ms(e.forward.peerMs)} | ${ratio(e.forward)} | ${ms(e.forward.wasmMs)} |`,
    `| Grad-CAM | ${ms(e.gradcam.oursMs)} | ${ms(e.gradcam.peerMs)} | ${ratio(e.gradcam)} | ${ms(e.gradcam.wasmMs)} |`,
    ...e.batched.map((b) => `| forward, batch ${b.batch} | ${ms(b.oursMs)} (${ms(b.oursPerImageMs)} per image) | ${ms(b.peerMs)} | ${ratio(b)} | – |`),
    '',
    `Cold start (${r.coldStartFrom} → first heatmap): ${r.coldStartMs.toFixed(0)} ms. GPU memory: ${(r.gpuMemoryBytes / 1e6).toFixed(0)} MB.` +
      (r.heatmapAgreement ? ` Heatmaps ours vs TF.js WebGPU: max |Δ| ${r.heatmapAgreement.maxAbsDiff.toExponential(2)}.` : ''),
    '',
    ...methodsMarkdown(r),
    ...pixelMarkdown(r),
    `Kernel choice: ${r.tuning.summary[0]}.${Object.keys(r.tuning.choices).length ? ` ${Object.entries(r.tuning.choices).map(([k, v]) => `${k} → ${v}`).join('; ')}.` : ''}`,
    '',
  ];
  if (r.layers.some((l) => l.peerMs !== undefined)) {
    lines.push('| layer (forward) | ours (ms) | TF.js WebGPU (ms) | speed-up |', '| --- | ---: | ---: | ---: |');
    for (const l of r.layers) lines.push(`| ${l.layer} | ${ms(l.oursMs, 2)} | ${ms(l.peerMs, 2)} | ${l.peerMs ? `${(l.peerMs / l.oursMs).toFixed(2)}×` : '–'} |`);
    lines.push('');
  }
  lines.push(...bestPerLayerMarkdown(r), ...versionTablesMarkdown(r));
  lines.push(
    '| layer | kernel | shape | median ms | GFLOP/s | GB/s | % of peak |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: |',
    ...r.kernels.map(
      (k) =>
        `| ${k.layer} ${dir(k.direction)} | ${k.name}.${k.version} | ${k.shape} | ${k.medianMs.toFixed(2)} | ${k.gflops.toFixed(2)} | ${k.gbps.toFixed(2)} | ${peakText(k)} |`,
    ),
  );
  return lines.join('\n');
}

/** The whole summary: a heading with the date, then one section per host. */
export function benchMarkdown(reports: readonly BenchReport[], ranBy: string): string {
  return `${[`# Benchmark, ${reports[0].date.slice(0, 10)}`, ...reports.map((r) => reportMarkdown(r, ranBy))].join('\n\n')}\n`;
}

const escapeXml = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** Two significant digits below 10 ms (small inputs give layers of a few microseconds). */
const chartMs = (v: number) => (v >= 10 ? v.toFixed(0) : v.toPrecision(2));

/** Horizontal bars per layer, ours and the peer's, on a log scale (times span three decades). */
export function layerChartSvg(r: BenchReport): string {
  const rows = r.layers;
  const values = rows.flatMap((l) => [l.oursMs, l.peerMs ?? 0]).filter((v) => v > 0);
  // Whole decades, at least one, so a chart whose times are all one power of ten still has a scale.
  const loExp = Math.floor(Math.log10(Math.min(...values)));
  const hiExp = Math.max(loExp + 1, Math.ceil(Math.log10(Math.max(...values))));
  const [lo, hi] = [Math.pow(10, loExp), Math.pow(10, hiExp)];
  const left = 130;
  const width = 900;
  const plotW = width - left - 90;
  const rowH = 26;
  const top = 60;
  const height = top + rows.length * rowH + 50;
  const x = (v: number) => left + (plotW * Math.log10(Math.max(v, lo) / lo)) / Math.log10(hi / lo);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${escapeXml(`VGG16 forward GPU time per layer (ms, log scale): ours vs TF.js WebGPU`)}</text>`,
    `<text x="${left}" y="38" fill="#555">${escapeXml(`${r.host}, ${deviceName(r)}, ${r.date.slice(0, 10)}; ours ${r.endToEnd.forward.oursMs.toFixed(0)} ms, TF.js ${r.endToEnd.forward.peerMs?.toFixed(0) ?? '–'} ms end to end`)}</text>`,
  ];
  for (let e = loExp; e <= hiExp; e++) {
    const d = Math.pow(10, e);
    parts.push(`<line x1="${x(d)}" y1="${top - 6}" x2="${x(d)}" y2="${top + rows.length * rowH}" stroke="#ddd"/>`);
    parts.push(`<text x="${x(d)}" y="${top + rows.length * rowH + 16}" text-anchor="middle" fill="#555">${d >= 1 ? d.toFixed(0) : d.toPrecision(1)}</text>`);
  }
  rows.forEach((l, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${left - 6}" y="${y + 15}" text-anchor="end">${escapeXml(l.layer)}</text>`);
    parts.push(`<rect x="${left}" y="${y + 2}" width="${Math.max(1, x(l.oursMs) - left)}" height="10" fill="#1f77b4"/>`);
    parts.push(`<text x="${x(l.oursMs) + 4}" y="${y + 11}" font-size="10">${chartMs(l.oursMs)}</text>`);
    if (l.peerMs !== undefined) {
      parts.push(`<rect x="${left}" y="${y + 13}" width="${Math.max(1, x(l.peerMs) - left)}" height="10" fill="#ff7f0e"/>`);
      parts.push(`<text x="${x(l.peerMs) + 4}" y="${y + 22}" font-size="10">${chartMs(l.peerMs)}</text>`);
    }
  });
  const ly = top + rows.length * rowH + 32;
  parts.push(`<rect x="${left}" y="${ly}" width="12" height="10" fill="#1f77b4"/><text x="${left + 16}" y="${ly + 9}">ours (pass timestamps)</text>`);
  parts.push(`<rect x="${left + 200}" y="${ly}" width="12" height="10" fill="#ff7f0e"/><text x="${left + 216}" y="${ly + 9}">TF.js WebGPU (tf.time kernel ms)</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
