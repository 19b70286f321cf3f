// The bench page (/bench.html): `npm run bench`'s measurements (src/bench/run.ts, unchanged) in the
// visitor's own browser and GPU. The form picks quick or full, the input size, runs, the CAM methods,
// the pixel-level methods, the TF.js peer, tuning and float16; the URL carries the same settings
// (?mode=quick&size=64&runs=3&methods=all&pixel=all&peer=1&tune=auto&f16=0, and autostart=1 to start
// at once), so a link reproduces a
// run. The report is the same JSON the CLI writes (downloadable) and the same markdown (copied).
// TF.js is imported only when the peer runs (src/bench/tfjsPeer.browser.ts), so the demo page's
// bundle never contains it.
import { localStorageTuningStore, requestBrowserDevice, type CamMethod, type PixelMethod, type TuningMode } from '../index.js';
import { benchPreset, checkBenchSize, formatMethodList, formatPixelList, parseMethodList, parsePixelList, softwareMinutes, vgg16AtSize, type BenchMode } from '../bench/config.js';
import type { KernelRow } from '../bench/kernelBench.js';
import { benchMarkdown, layerChartSvg, methodName, methodsMarkdown, pixelMarkdown } from '../bench/report.js';
import { isSoftwareAdapter, runBench, type BenchProgress, type BenchReport, type Latency } from '../bench/run.js';
import { browserPeer } from '../bench/tfjsPeer.browser.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $('status');
const form = {
  form: $<HTMLFormElement>('form'),
  size: $<HTMLSelectElement>('size'),
  runs: $<HTMLInputElement>('runs'),
  methods: $<HTMLInputElement>('methods'),
  pixel: $<HTMLInputElement>('pixel'),
  peer: $<HTMLInputElement>('peer'),
  tune: $<HTMLSelectElement>('tune'),
  f16: $<HTMLInputElement>('f16'),
  start: $<HTMLButtonElement>('start'),
};
const progressBar = $<HTMLProgressElement>('progress');
const kernelsBody = $<HTMLTableElement>('kernels').tBodies[0];

type PageState = 'starting' | 'ready' | 'running' | 'done' | 'error' | 'unavailable';
const setState = (s: PageState) => (document.body.dataset.state = s);

function say(message: string) {
  status.className = '';
  status.textContent = message;
}

function fail(message: string) {
  status.className = 'error';
  status.textContent = message;
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

function log(line: string) {
  $('log').textContent += `${line}\n`;
}

// ---- settings: the form and the URL say the same thing ----

interface Settings {
  mode: BenchMode;
  size: number;
  runs: number;
  methods: readonly CamMethod[];
  pixel: readonly PixelMethod[];
  peer: boolean;
  tune: TuningMode;
  f16: boolean;
}

const modeInputs = () => [...document.querySelectorAll<HTMLInputElement>('input[name="mode"]')];
const selectedMode = (): BenchMode => (modeInputs().find((i) => i.checked)?.value === 'full' ? 'full' : 'quick');

/** The methods field: empty means the mode's preset; a list the page cannot use blocks the form (see checkMethodsField). */
function formMethods(mode: BenchMode): readonly CamMethod[] {
  const parsed = form.methods.value.trim() === '' ? benchPreset(mode).methods : parseMethodList(form.methods.value);
  return typeof parsed === 'string' ? benchPreset(mode).methods : parsed;
}

/** The pixel methods field, as the methods field: empty means the mode's preset. */
function formPixel(mode: BenchMode): readonly PixelMethod[] {
  const parsed = form.pixel.value.trim() === '' ? benchPreset(mode).pixel : parsePixelList(form.pixel.value);
  return typeof parsed === 'string' ? benchPreset(mode).pixel : parsed;
}

/** The browser refuses to submit the form while the methods or pixel field names no method it knows. */
function checkMethodsField() {
  const parsed = form.methods.value.trim() === '' ? [] : parseMethodList(form.methods.value);
  form.methods.setCustomValidity(typeof parsed === 'string' ? parsed : '');
  const pixel = form.pixel.value.trim() === '' ? [] : parsePixelList(form.pixel.value);
  form.pixel.setCustomValidity(typeof pixel === 'string' ? pixel : '');
}

/** The form's settings; an empty runs field means the mode's preset. */
function formSettings(): Settings {
  const mode = selectedMode();
  const runs = Number(form.runs.value);
  return {
    mode,
    size: Number(form.size.value),
    runs: form.runs.value !== '' && Number.isInteger(runs) && runs >= 1 ? runs : benchPreset(mode).runs,
    methods: formMethods(mode),
    pixel: formPixel(mode),
    peer: form.peer.checked,
    tune: form.tune.value as TuningMode,
    f16: form.f16.checked,
  };
}

/** Puts the URL's settings into the form; what it cannot use is said, not silently dropped. */
function applyUrlSettings(params: URLSearchParams): string[] {
  const ignored: string[] = [];
  const mode = params.get('mode');
  if (mode !== null) {
    if (mode === 'quick' || mode === 'full') for (const i of modeInputs()) i.checked = i.value === mode;
    else ignored.push(`mode=${mode} (quick or full)`);
  }
  const size = params.get('size');
  if (size !== null) {
    const why = checkBenchSize(Number(size));
    if (why) ignored.push(`size=${size} (${why})`);
    else {
      if (![...form.size.options].some((o) => o.value === size)) form.size.add(new Option(`${size}×${size}`, size));
      form.size.value = size;
    }
  }
  const runs = params.get('runs');
  if (runs !== null) {
    if (Number.isInteger(Number(runs)) && Number(runs) >= 1) form.runs.value = runs;
    else ignored.push(`runs=${runs} (a positive integer)`);
  }
  const methods = params.get('methods');
  if (methods !== null) {
    const parsed = parseMethodList(methods);
    if (typeof parsed === 'string') ignored.push(`methods=${methods} (${parsed})`);
    else form.methods.value = formatMethodList(parsed);
  }
  const pixel = params.get('pixel');
  if (pixel !== null) {
    const parsed = parsePixelList(pixel);
    if (typeof parsed === 'string') ignored.push(`pixel=${pixel} (${parsed})`);
    else form.pixel.value = formatPixelList(parsed);
  }
  const peer = params.get('peer');
  if (peer !== null) form.peer.checked = peer !== '0';
  const tune = params.get('tune');
  if (tune !== null) {
    if (tune === 'auto' || tune === 'force' || tune === 'off') form.tune.value = tune;
    else ignored.push(`tune=${tune} (auto, force or off)`);
  }
  if (params.get('f16') !== null) form.f16.checked = params.get('f16') === '1';
  return ignored;
}

// Commas stay readable; '+' (gradcam++) must be escaped, or it reads as a space.
const settingsQuery = (s: Settings) =>
  new URLSearchParams({ mode: s.mode, size: String(s.size), runs: String(s.runs), methods: formatMethodList(s.methods), pixel: formatPixelList(s.pixel), peer: s.peer ? '1' : '0', tune: s.tune, f16: s.f16 ? '1' : '0' })
    .toString()
    .replace(/%2C/g, ',');

// ---- the adapter, shown before anything runs ----

let softwareAdapter = false;

async function showAdapter(): Promise<boolean> {
  const adapter = 'gpu' in navigator && navigator.gpu ? await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' }) : null;
  if (!adapter) {
    // The browser host says what is missing and what to do, as on the demo page.
    try {
      (await requestBrowserDevice()).destroy();
    } catch (e) {
      fail(messageOf(e));
      return false;
    }
    fail('WebGPU gave no adapter to this page. Reload it; if this persists, check chrome://gpu (or your browser\'s GPU page).');
    return false;
  }
  const info = adapter.info;
  softwareAdapter = isSoftwareAdapter(info);
  const table = $<HTMLTableElement>('adapter');
  const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const rows: [string, string][] = [
    ['vendor', info.vendor || '(not given)'],
    ['architecture', info.architecture || '(not given)'],
    ['device', info.device || '(not given)'],
    ['description', info.description || '(not given)'],
    ['kind', softwareAdapter ? 'software (a CPU rasteriser: expect minutes where a GPU takes seconds)' : 'GPU'],
    ['max storage binding', mb(adapter.limits.maxStorageBufferBindingSize)],
    ['max buffer', mb(adapter.limits.maxBufferSize)],
    ['max invocations per workgroup', String(adapter.limits.maxComputeInvocationsPerWorkgroup)],
    ['workgroup storage', `${(adapter.limits.maxComputeWorkgroupStorageSize / 1024).toFixed(0)} KiB`],
  ];
  for (const [k, v] of rows) {
    const row = table.insertRow();
    row.dataset.key = k;
    row.insertCell().textContent = k;
    row.insertCell().textContent = v;
  }
  const features = [...adapter.features].sort();
  $('features').textContent = `Features: ${features.join(', ') || 'none'}.`;
  if (!adapter.features.has('timestamp-query')) {
    $('features').textContent +=
      ' No timestamp-query: kernel times are wall clock (submit to done, so they include dispatch overhead) and there are no per-layer times.';
  }
  return true;
}

// ---- a run ----

function updateModeNote() {
  const s = formSettings();
  const preset = benchPreset(s.mode);
  const what =
    s.mode === 'quick'
      ? `quick: ${s.runs} runs, ${preset.layers!.length} representative layers, the kernel versions chosen for this device, batch 1`
      : `full: ${s.runs} runs, every layer, every version of every kernel, batch 1 and ${preset.batches.at(-1)}`;
  const minutes = softwareMinutes({ ...preset, runs: s.runs, size: s.size, peer: s.peer, allVersions: preset.allVersions, methods: s.methods, pixel: s.pixel });
  form.runs.placeholder = String(preset.runs);
  form.methods.placeholder = formatMethodList(preset.methods);
  form.pixel.placeholder = formatPixelList(preset.pixel);
  $('mode-note').textContent =
    `${what}, CAM methods: ${formatMethodList(s.methods)}, pixel methods: ${formatPixelList(s.pixel)}${s.peer ? ', with TensorFlow.js (WebGPU, then WASM)' : ''}. ` +
    (softwareAdapter ? `About ${minutes} min on this software adapter.` : `Usually a few minutes on a GPU (about ${minutes} min on a CPU rasteriser).`) +
    ' Keep this tab in front while it runs.';
}

const fmtMs = (v: number | undefined) => (v === undefined ? '–' : v >= 100 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(3));
const ratioText = (l: Latency) => (l.ratio === undefined ? '–' : `${l.ratio.toFixed(2)}×`);

function kernelRow(r: KernelRow): HTMLTableRowElement {
  const row = document.createElement('tr');
  row.dataset.key = `${r.name}.${r.version}|${r.layer}|${r.direction}`;
  const cells: [string, boolean][] = [
    [`${r.layer} ${r.direction === 'forward' ? 'fwd' : 'bwd'}`, false],
    [`${r.name}.${r.version}`, false],
    [r.shape, false],
    [fmtMs(r.medianMs), true],
    [`${fmtMs(r.p10Ms)}–${fmtMs(r.p90Ms)}`, true],
    [r.gflops.toFixed(2), true],
    [r.gbps.toFixed(2), true],
    [`${r.pctOfPeak.toFixed(0)}% ${r.bound === 'compute' ? 'compute' : 'bw'}`, true],
    [r.timing === 'gpu-timestamp' ? 'GPU timestamps' : 'wall clock', false],
  ];
  for (const [text, num] of cells) {
    const cell = row.insertCell();
    cell.textContent = text;
    if (num) cell.className = 'num';
  }
  const bar = document.createElement('span');
  bar.className = 'pct';
  bar.style.width = `${Math.min(100, r.pctOfPeak) / 2}px`;
  row.cells[7].append(bar);
  return row;
}

function showReport(r: BenchReport, settings: Settings) {
  const e2e = $<HTMLTableElement>('end-to-end');
  e2e.replaceChildren();
  const head = e2e.createTHead().insertRow();
  for (const [text, num] of [['', false], ['ours (ms)', true], ['TF.js WebGPU (ms)', true], ['speed-up', true], ['TF.js WASM (ms)', true]] as const) {
    const th = document.createElement('th');
    th.textContent = text;
    if (num) th.className = 'num';
    head.append(th);
  }
  const body = e2e.createTBody();
  const addRow = (key: string, cells: string[]) => {
    const row = body.insertRow();
    row.dataset.key = key;
    cells.forEach((text, i) => {
      const cell = row.insertCell();
      cell.textContent = text;
      if (i > 0) cell.className = 'num';
    });
  };
  const { forward, gradcam, batched } = r.endToEnd;
  addRow('forward', ['forward (image → probabilities)', fmtMs(forward.oursMs), fmtMs(forward.peerMs), ratioText(forward), fmtMs(forward.wasmMs)]);
  addRow('gradcam', ['Grad-CAM (image → overlay)', fmtMs(gradcam.oursMs), fmtMs(gradcam.peerMs), ratioText(gradcam), fmtMs(gradcam.wasmMs)]);
  for (const b of batched) addRow(`batch${b.batch}`, [`forward, batch ${b.batch}`, `${fmtMs(b.oursMs)} (${fmtMs(b.oursPerImageMs)} per image)`, fmtMs(b.peerMs), ratioText(b), '–']);
  $('end-to-end-note').textContent =
    `${r.model}, median of ${r.runs} runs${r.quick && r.peer.webgpu ? ` (TF.js WebGPU: ${r.peer.webgpu.runs} timed run after a first)` : ''}. ` +
    `Cold start (${r.coldStartFrom} → first heatmap): ${(r.coldStartMs / 1000).toFixed(1)} s. GPU memory: ${(r.gpuMemoryBytes / 1e6).toFixed(0)} MB. ` +
    (r.heatmapAgreement ? `Heatmaps, ours vs TF.js WebGPU: max |Δ| ${r.heatmapAgreement.maxAbsDiff.toExponential(2)}${r.heatmapAgreement.agree ? '' : ' — they disagree'}. ` : '') +
    `Measured peaks: ${r.peaks.gflops.toFixed(2)} GFLOP/s multiply–add, ${r.peaks.gbps.toFixed(2)} GB/s copy (${r.peaks.timing}).` +
    (settings.peer ? '' : ' The TF.js peer was off.');
  showMethods(r);
  showPixel(r);
  // The SVG is built from the report with every text escaped (src/bench/report.ts).
  $('layer-chart').innerHTML = r.layers.length ? layerChartSvg(r) : '<p>No per-layer times: this device has no timestamp-query feature.</p>';
  $('tuning').textContent = r.tuning.summary.join('\n').replace(/\n\s+/g, '; ');
  kernelsBody.replaceChildren(...r.kernels.map(kernelRow));
  $('results').hidden = false;
}

/** The CAM methods: the table of the gradient and eigen methods, the top-5 and perturbation lines (as in the markdown). */
function showMethods(r: BenchReport) {
  const m = r.methods;
  const table = $<HTMLTableElement>('methods-table');
  table.replaceChildren();
  $('methods-section').hidden = !m.timings.length && !m.perturbation.length;
  if (m.timings.length) {
    const head = table.createTHead().insertRow();
    for (const [text, num] of [[`method (${m.layer}, kept forward)`, false], ['ms', true], ['GPU ms', true], ['extra over Grad-CAM', true]] as const) {
      const th = document.createElement('th');
      th.textContent = text;
      if (num) th.className = 'num';
      head.append(th);
    }
    const body = table.createTBody();
    for (const t of m.timings) {
      const row = body.insertRow();
      row.dataset.key = t.method;
      const extra = t.method === 'gradcam' ? 'baseline' : `${t.extraPct >= 0 ? '+' : ''}${t.extraPct.toFixed(1)}% (${t.basis === 'gpu' ? 'GPU' : 'wall'})`;
      [t.method, fmtMs(t.oursMs), fmtMs(t.gpuMs), extra].forEach((text, i) => {
        const cell = row.insertCell();
        cell.textContent = text;
        if (i > 0) cell.className = 'num';
      });
    }
  }
  // The lines after the markdown table: the top-5 and the perturbation methods.
  $('methods-note').textContent = methodsMarkdown(r)
    .filter((l) => l && !l.startsWith('|'))
    .join(' ');
}

/** The pixel-level methods: the backward to the image against the forward, then the lines (as in the markdown). */
function showPixel(r: BenchReport) {
  const p = r.pixel;
  const table = $<HTMLTableElement>('pixel-table');
  table.replaceChildren();
  $('pixel-section').hidden = !p.backward.length && !p.sampled.length;
  if (p.backward.length) {
    const head = table.createTHead().insertRow();
    for (const [text, num] of [['method (kept forward)', false], ['ms', true], ['backward GPU ms', true], ['backward / forward', true], ['extra over guided backprop', true]] as const) {
      const th = document.createElement('th');
      th.textContent = text;
      if (num) th.className = 'num';
      head.append(th);
    }
    const body = table.createTBody();
    for (const b of p.backward) {
      const row = body.insertRow();
      row.dataset.key = b.method;
      const extra = b.extraPct === undefined ? '–' : `${b.extraPct >= 0 ? '+' : ''}${b.extraPct.toFixed(1)}% (wall)`;
      [methodName(b.method), fmtMs(b.oursMs), fmtMs(b.gpuMs), `${b.backwardOverForward.toFixed(2)}×`, extra].forEach((text, i) => {
        const cell = row.insertCell();
        cell.textContent = text;
        if (i > 0) cell.className = 'num';
      });
    }
  }
  // The lines after the markdown table: the ratio stated, SmoothGrad and Integrated Gradients per sample.
  $('pixel-note').textContent = pixelMarkdown(r)
    .filter((l) => l && !l.startsWith('|'))
    .join(' ');
}

function share(report: BenchReport, settings: Settings) {
  const markdown = benchMarkdown([report], `Bench page: \`${location.pathname}?${settingsQuery(settings)}\``);
  const shareStatus = $('share-status');
  const fallback = $<HTMLTextAreaElement>('markdown-fallback');
  $('download-json').onclick = () => {
    // The CLI's file name and content: the file can go into bench-results/ beside the others.
    const blob = new Blob([JSON.stringify(report, null, 1)], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${report.date.replace(/[:.]/g, '-')}-${report.host}.json`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
    shareStatus.textContent = `Saved ${a.download}.`;
  };
  $('copy-markdown').onclick = async () => {
    try {
      if (!navigator.clipboard?.writeText) throw new Error('this page has no clipboard API (it needs https:// or localhost)');
      await navigator.clipboard.writeText(markdown);
      fallback.hidden = true;
      shareStatus.textContent = `Copied the markdown summary (${markdown.split('\n').length} lines).`;
    } catch (e) {
      // Clipboard refused (permission, focus, insecure origin): the text in a box, selected.
      fallback.value = markdown;
      fallback.hidden = false;
      fallback.select();
      const copied = document.execCommand('copy');
      shareStatus.textContent = copied
        ? 'Copied the markdown summary (through the box below).'
        : `The clipboard is not available (${messageOf(e)}): the summary is selected in the box below, copy it from there.`;
    }
  };
}

async function run(settings: Settings) {
  setState('running');
  // The URL reproduces the run; autostart stays when it came in, so a reload mid-run (vite's dev server
  // reloads when it discovers a dependency late) starts the run again instead of waiting for a click.
  const autostart = new URLSearchParams(location.search).get('autostart') === '1';
  history.replaceState(null, '', `?${settingsQuery(settings)}${autostart ? '&autostart=1' : ''}`);
  form.start.disabled = true;
  $('results').hidden = true;
  $('markdown-fallback').hidden = true;
  $('share-status').textContent = '';
  kernelsBody.replaceChildren();
  $('kernels-section').hidden = false;
  $('kernels-note').textContent = 'Filled as each kernel is measured: median GPU time over the runs after a warm-up; % of the peak this device measured (compute peak for convolutions, copy bandwidth for the rest).';
  $('log').textContent = '';
  $('running').hidden = false;
  progressBar.removeAttribute('value');
  const t0 = performance.now();
  const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(0)} s`;
  const tick = setInterval(() => ($('elapsed').textContent = elapsed()), 1000);
  const progress = (p: BenchProgress) => {
    progressBar.max = p.total;
    progressBar.value = p.done;
    $('stage').textContent = `step ${p.done + (p.stage === 'done' ? 0 : 1)} of ${p.total} · ${p.stage} · ${p.what}`;
    if (p.kernel) kernelsBody.append(kernelRow(p.kernel));
  };
  let device: GPUDevice | undefined;
  // A lost device (driver reset, a GPU process crash) fails whatever runs next; the loss is the news.
  let lost: string | undefined;
  try {
    const model = vgg16AtSize(settings.size);
    say(`Running the ${settings.mode} benchmark at ${settings.size}×${settings.size}…`);
    device = await requestBrowserDevice(model, {
      onLost: (info) => {
        lost = `the GPU device was lost (${info.reason || 'unknown reason'}): ${info.message}. Reload the page to run again.`;
        log(lost);
      },
      onUncapturedError: (error) => {
        console.error(`WebGPU error: ${error.message}`);
        log(`WebGPU error: ${error.message}`);
      },
    });
    const report = await runBench(
      device,
      { name: 'chrome', log, progress, peer: browserPeer, tuningStore: localStorageTuningStore() },
      { ...benchPreset(settings.mode), model, runs: settings.runs, methods: settings.methods, pixel: settings.pixel, peer: settings.peer, tune: settings.tune, f16: settings.f16 },
    );
    showReport(report, settings);
    share(report, settings);
    say(`Finished in ${elapsed()}: ${report.kernels.length} kernel cases, forward ${fmtMs(report.endToEnd.forward.oursMs)} ms, Grad-CAM ${fmtMs(report.endToEnd.gradcam.oursMs)} ms.`);
    setState('done');
  } catch (e) {
    fail(`The benchmark stopped: ${lost ?? messageOf(e)}`);
    log(`error: ${messageOf(e)}`);
    setState('error');
  } finally {
    clearInterval(tick);
    $('elapsed').textContent = elapsed();
    device?.destroy();
    form.start.disabled = false;
  }
}

async function main() {
  const params = new URLSearchParams(location.search);
  const ignored = applyUrlSettings(params);
  let available: boolean;
  try {
    available = await showAdapter();
  } catch (e) {
    fail(messageOf(e));
    available = false;
  }
  if (!available) {
    setState('unavailable');
    return;
  }
  checkMethodsField();
  updateModeNote();
  form.methods.addEventListener('input', checkMethodsField);
  form.pixel.addEventListener('input', checkMethodsField);
  form.form.addEventListener('change', updateModeNote);
  form.form.addEventListener('input', updateModeNote);
  form.form.addEventListener('submit', (e) => {
    e.preventDefault();
    void run(formSettings());
  });
  form.start.disabled = false;
  say(ignored.length ? `Ready. Ignored from the URL: ${ignored.join('; ')}.` : 'Ready: choose the settings and press Start.');
  setState('ready');
  if (params.get('autostart') === '1') void run(formSettings());
}

void main();
