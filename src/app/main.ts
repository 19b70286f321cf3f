// The demo page: Grad-CAM of VGG16 on this browser's WebGPU device. Weights come from /weights/vgg16/
// (converted by `npm run weights`, cached in Cache Storage); without them the page runs seeded random
// weights and says so. The engine keeps the image's forward on the GPU, so each control reruns only
// what it changes: a new image the whole network, a class, layer or score the backward and the map,
// α, blend and colormap the overlay pass alone. A pixel-level map (saliency, guided backprop, Guided
// Grad-CAM, SmoothGrad, Integrated Gradients) is drawn in a second canvas from GradCam.attribute() on the
// same kept forward, rerun only when its own inputs change. A file chosen while the model loads is kept
// and runs when it is ready. ?weights=<dir> loads weights/<dir>/ instead (any model its manifest
// describes; the tests run a small one). A lost GPU device is replaced without reloading the page: the
// weights come back from Cache Storage and the image, class, layer, method and live mode stay as they
// were. window.__gradcam (PageDebug, below) lets a test destroy the device and read what is held.
import {
  CAM_METHODS,
  classCount,
  gpuMemory,
  METHOD_SPECS,
  classSuggestions,
  colorizeHeatmap,
  colormap,
  decodeImageFile,
  describeTuning,
  encodeNpy,
  matchingClasses,
  GpuWeights,
  heNormalWeights,
  IMAGENET_CLASS_INDEX,
  isPixelMethod,
  loadWeightsFromUrl,
  openGradCam,
  PIXEL_DEFAULTS,
  PIXEL_METHOD_SPECS,
  PIXEL_METHODS,
  pixelsOf,
  requestBrowserDevice,
  servedWeights,
  VGG16,
  type BlendMode,
  type CamMethod,
  type CamTarget,
  type ColormapName,
  type GradCam,
  type GradCamResult,
  type GpuMemoryLedger,
  type ImageInput,
  type ModelSpec,
  type PixelMethod,
  type PixelOptions,
  type PixelResult,
  type ScoreKind,
  type Tuning,
  type TuningMode,
} from '../index.js';
import { deviceLoss } from '../hosts/browser/device.js';
import { countDeviceObjects, type DeviceObjectCounts } from '../hosts/browser/deviceObjects.js';
import { fetchWeightsManifest, type BrowserLoadResult, type FetchedManifest } from '../hosts/browser/weights.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $('status');
const elapsed = $('elapsed');
const progress = $<HTMLProgressElement>('progress');
const note = $('weights-note');
const cacheNote = $('cache-note');
const deviceNote = $('device-note');
const controls = {
  file: $<HTMLInputElement>('file'),
  sample: $<HTMLButtonElement>('sample'),
  webcam: $<HTMLButtonElement>('webcam'),
  live: $<HTMLInputElement>('live'),
  layer: $<HTMLSelectElement>('layer'),
  score: $<HTMLSelectElement>('score'),
  method: $<HTMLSelectElement>('method'),
  targetKind: $<HTMLSelectElement>('target-kind'),
  eigenSmooth: $<HTMLInputElement>('eigen-smooth'),
  augSmooth: $<HTMLInputElement>('aug-smooth'),
  topMaps: $<HTMLInputElement>('top-maps'),
  pixelMethod: $<HTMLSelectElement>('pixel-method'),
  samples: $<HTMLInputElement>('samples'),
  noise: $<HTMLInputElement>('noise'),
  steps: $<HTMLInputElement>('steps'),
  alpha: $<HTMLInputElement>('alpha'),
  blend: $<HTMLSelectElement>('blend'),
  colormap: $<HTMLSelectElement>('colormap'),
  search: $<HTMLInputElement>('class-search'),
  saveOverlay: $<HTMLButtonElement>('save-overlay'),
  saveHeatmap: $<HTMLButtonElement>('save-heatmap'),
};
const pageStart = performance.now();
const params = new URLSearchParams(location.search);
/** The model the page runs: VGG16 until the served manifest names another. */
let model: ModelSpec = VGG16;
const MODEL_NAMES: Record<string, string> = { vgg16: 'VGG16', vgg19: 'VGG19' };
const modelName = () => MODEL_NAMES[model.name] ?? model.name;
// An ImageNet head has ImageNet's labels; another model's classes are numbered, as the engine names them.
const labelOf = (i: number) => (classCount(model) === 1000 ? IMAGENET_CLASS_INDEX[String(i)][1] : `class ${i}`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// ---------------------------------------------------------------- status, with elapsed time while busy

let ticker: ReturnType<typeof setInterval> | undefined;
function busy(message: string) {
  status.className = 'busy';
  status.textContent = message;
  const t0 = performance.now();
  clearInterval(ticker);
  elapsed.textContent = '';
  ticker = setInterval(() => (elapsed.textContent = seconds(performance.now() - t0)), 100);
}
function say(message: string) {
  clearInterval(ticker);
  elapsed.textContent = '';
  status.className = '';
  status.textContent = message;
}
function fail(message: string) {
  say(message);
  status.className = 'error';
}
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

// ---------------------------------------------------------------- drawing

function drawRgba(canvas: HTMLCanvasElement, width: number, height: number, data: Uint8ClampedArray | Uint8Array) {
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(data), width, height), 0, 0);
}

function generatedImage(): ImageInput {
  const c = new OffscreenCanvas(320, 240);
  const ctx = c.getContext('2d')!;
  const g = ctx.createLinearGradient(0, 0, 320, 240);
  g.addColorStop(0, '#3a7bd5');
  g.addColorStop(1, '#f2c94c');
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, 320, 240);
  ctx.fillStyle = '#7b4a2a';
  ctx.beginPath();
  ctx.arc(190, 110, 60, 0, 2 * Math.PI);
  ctx.fill();
  return pixelsOf(c, c.width, c.height);
}

/** The heatmap canvas: the map upsampled to the image's aspect (as the overlay is), long side at most 1024. */
const HEATMAP_MAX_SIDE = 1024;
function drawHeatmap(r: GradCamResult, image: ImageInput, name: ColormapName) {
  const scale = Math.min(1, HEATMAP_MAX_SIDE / Math.max(image.width, image.height));
  const [w, h] = [Math.max(1, Math.round(image.width * scale)), Math.max(1, Math.round(image.height * scale))];
  drawRgba($('heatmap'), w, h, colorizeHeatmap(r.heatmap, w, h, name));
  $('heatmap-caption').textContent = `heatmap: ${r.heatmap.width}×${r.heatmap.height} cells at ${r.layer}, upsampled to ${w}×${h}`;
}

function drawLegend(name: ColormapName) {
  const lut = colormap(name);
  const rgba = new Uint8ClampedArray(256 * 4);
  // Top of the bar is 1.
  for (let i = 0; i < 256; i++) rgba.set([lut[3 * (255 - i)], lut[3 * (255 - i) + 1], lut[3 * (255 - i) + 2], 255], 4 * i);
  drawRgba($('legend'), 1, 256, rgba);
}

function showTuning(tuning: Tuning, where: string) {
  const [head] = describeTuning(tuning, where);
  $('kernels-source').textContent = head;
  const body = $<HTMLTableElement>('kernel-choices').tBodies[0];
  // A new device after a loss shows its choice afresh.
  body.replaceChildren();
  for (const [key, version] of Object.entries(tuning.choices)) {
    const [kernel, shape] = key.split('|');
    const row = body.insertRow();
    row.dataset.key = key;
    const measured = Object.entries(tuning.table?.timings[key] ?? {}).map(([v, ms]) => `${v} ${ms.toFixed(2)}`);
    for (const text of [kernel, shape, version, measured.join(', ')]) row.insertCell().textContent = text;
  }
}

function download(blob: Blob, name: string) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

// ---------------------------------------------------------------- weights and engine

/** weights/<dir>/: ?weights=<dir>, default vgg16. */
const WEIGHTS_DIR = params.get('weights') ?? 'vgg16';
const WEIGHTS_URL = `weights/${WEIGHTS_DIR}/`;
/** The served weights' manifest, learned once and kept to reopen them on a new device without a request; undefined: random weights. */
let served: FetchedManifest | undefined;

function randomWeightsNote(e: unknown) {
  note.hidden = false;
  note.textContent =
    `Random weights: ${errorText(e)}. Until then this page runs ${modelName()} with seeded He-normal ` + 'weights made in the browser, so predictions and maps are meaningless.';
}

/** Which model the page runs, from the served manifest (VGG16, with random weights, when there is none). */
async function learnModel(): Promise<void> {
  busy('Loading weights…');
  try {
    if (!/^[\w.-]+$/.test(WEIGHTS_DIR)) throw new Error(`?weights=${WEIGHTS_DIR} is not a directory name under weights/ (letters, digits, '_', '.', '-'); use e.g. ?weights=vgg16`);
    // Asked first, so that missing weights cost no failing request (a 404 in the console).
    if ((await servedWeights(WEIGHTS_URL)) === null)
      throw new Error(`no converted weights are served at ${WEIGHTS_URL} (weights/index.json does not list them). Run 'npm run weights' (or 'npm run weights -- --synthetic') and reload`);
    served = await fetchWeightsManifest(WEIGHTS_URL);
    model = served.model;
  } catch (e) {
    randomWeightsNote(e);
  }
}

function showDamagedCache(loaded: BrowserLoadResult) {
  if (loaded.damaged.length === 0) return;
  cacheNote.hidden = false;
  cacheNote.textContent =
    `This browser's cache held a damaged copy of ${loaded.damaged.map((d) => `${d.file} (${d.reason})`).join(', ')}: ` +
    'dropped and fetched again from the server (every cached shard is checked against its sha256 on each load).';
}

/**
 * The weights on `device`: the served ones (from Cache Storage when this browser has them), else
 * seeded random ones. A first load that fails falls back to random weights and says why; reopening on
 * a new device after a loss (`reopen`) must give the same weights, so it throws instead.
 */
async function loadWeights(device: GPUDevice, reopen: boolean): Promise<GpuWeights | Map<string, Float32Array>> {
  try {
    if (served) {
      busy(reopen ? "Loading the weights again, from this browser's cache…" : 'Loading weights…');
      progress.hidden = false;
      const loaded = await loadWeightsFromUrl(device, WEIGHTS_URL, {
        manifest: served,
        onProgress: (p) => {
          progress.value = p.loadedBytes / p.totalBytes;
          status.textContent = `Loading weights: ${(p.loadedBytes / 1e6).toFixed(0)} / ${(p.totalBytes / 1e6).toFixed(0)} MB (${p.cachedShards} of ${p.shards} shards from this browser's cache)`;
        },
      });
      debug.loads.push({ cachedShards: loaded.cachedShards, shards: loaded.shards, damaged: loaded.damaged.map((d) => d.file), seconds: loaded.seconds, sha256Seconds: loaded.timings.sha256 });
      showDamagedCache(loaded);
      if (loaded.source.synthetic) {
        note.hidden = false;
        note.textContent = `Random weights: weights/${WEIGHTS_DIR} holds synthetic weights (seed ${String(loaded.source.seed)}), so predictions and maps are meaningless. Run 'npm run weights -- --force' for Keras' ImageNet weights.`;
      }
      return loaded.weights;
    }
  } catch (e) {
    // On a lost device the weights are fine: the caller gets another device.
    if (reopen || (await deviceLoss(device, e))) throw e;
    served = undefined;
    randomWeightsNote(e);
  } finally {
    progress.hidden = true;
  }
  busy('Generating random weights…');
  await new Promise((r) => setTimeout(r));
  return heNormalWeights(model, { seed: 1, classifierGain: 0.01 });
}

// ?tune=force re-measures, ?tune=off runs each kernel's default version.
const tuneParam = params.get('tune');
const tuneMode: TuningMode = tuneParam === 'force' || tuneParam === 'off' ? tuneParam : 'auto';
// ?f16=1 stores the dense layers' weights as float16 (half their memory; numbers move by ~1e-3).
const f16 = params.get('f16') === '1';

/** The device the engine runs on; undefined while there is none (starting, or replacing a lost one). */
let device: GPUDevice | undefined;
/** Devices the page gave up on: their loss is no news. */
const retired = new WeakSet<GPUDevice>();
/** Devices lost in a row with no run done in between: at MAX_LOSSES the page stops asking for more. */
let lossesInARow = 0;
const MAX_LOSSES = 3;
const lossText = (info: GPUDeviceLostInfo) => `${info.reason}${info.message ? `: ${info.message.replace(/\.$/, '')}` : ''}`;

/**
 * A new device, the weights on it and the engine, made current. A device lost while it opens is
 * replaced (up to MAX_LOSSES in a row); any other failure is thrown with nothing left allocated.
 */
async function openEngine(reopen: boolean): Promise<void> {
  for (;;) {
    // The page watches device.lost itself (onDeviceLost); the default handler would log an error.
    const next = await requestBrowserDevice(model, { onLost: () => undefined });
    debug.devices++;
    countDeviceObjects(next);
    void next.lost.then((info) => onDeviceLost(next, info));
    try {
      const weights = await loadWeights(next, reopen);
      busy('Preparing the kernels…');
      const opened = await openGradCam({
        device: next,
        weights: { model, tensors: weights },
        tune: tuneMode,
        f16,
        onTuningProgress: (_line, step) => {
          progress.hidden = false;
          progress.value = step.done / step.total;
          status.textContent = `Optimising kernels for this GPU, once (${step.done}/${step.total})…`;
        },
      });
      progress.hidden = true;
      showTuning(opened.tuning, opened.tuningWhere ?? 'localStorage');
      device = next;
      cam = opened.cam;
      return;
    } catch (e) {
      progress.hidden = true;
      const loss = await deviceLoss(next, e);
      retired.add(next);
      next.destroy();
      if (!loss || ++lossesInARow >= MAX_LOSSES) throw e;
      busy(`The GPU device was lost while the model loaded (${lossText(loss)}); getting a new one…`);
      reopen = served !== undefined;
    }
  }
}

let recovering: Promise<void> | undefined;

/** Called by device.lost, and by a run that failed on a lost device (whichever comes first). */
function onDeviceLost(lost: GPUDevice, info: GPUDeviceLostInfo) {
  // Only the device in service is replaced here; one lost while it opens is openEngine's.
  if (lost !== device || retired.has(lost)) return;
  retired.add(lost);
  recovering = recover(lost, info).finally(() => (recovering = undefined));
}

/**
 * Replaces a lost device: waits for the run in flight to fail, frees the engine, opens a new device
 * with the weights from Cache Storage (the kept manifest: no request to the server when the cache has
 * every shard), and reruns the image with the controls as they are; live mode's loop waits meanwhile.
 */
async function recover(lost: GPUDevice, info: GPUDeviceLostInfo) {
  const t0 = performance.now();
  const inRun = running !== undefined;
  const what = `The GPU device was lost (${lossText(info)})`;
  busy(`${what}; getting a new one…`);
  await running?.catch(() => undefined);
  const old = cam;
  cam = undefined;
  device = undefined;
  forwardedImage = undefined;
  pixelKey = undefined;
  camMapReplaced = false;
  old?.dispose();
  const loss: LossRecord = { reason: info.reason, message: info.message, inRun, liveMode: controls.live.checked };
  debug.losses.push(loss);
  const loads = debug.loads.length;
  try {
    if (++lossesInARow >= MAX_LOSSES) throw new Error(`${MAX_LOSSES} devices were lost in a row`);
    await openEngine(served !== undefined);
  } catch (e) {
    fail(`${what}, and no new one could take over: ${errorText(e)}. Reload the page.`);
    return;
  }
  loss.recoveredMs = performance.now() - t0;
  // Read once the failed run's own clean-up is done too.
  loss.leftOnLostDevice = gpuMemory(lost);
  const load = debug.loads[loads];
  const from = load ? `, with the weights from this browser's cache (${load.cachedShards} of ${load.shards} shards)` : '';
  deviceNote.hidden = false;
  deviceNote.textContent = `${what}${inRun ? ' during a run' : ''}: a new device took over in ${seconds(loss.recoveredMs)}${from}, without reloading the page.`;
  say(`${what}; a new device took over.`);
  if (image) void request(IMAGE);
  // Nothing to rerun: the recovery itself is the success that ends a run of losses.
  else lossesInARow = 0;
}

// ---------------------------------------------------------------- what a test reads (window.__gradcam)

interface LossRecord {
  reason: string;
  message: string;
  /** Whether a run was in flight when the loss was seen. */
  inRun: boolean;
  liveMode: boolean;
  /** The lost device's buffer ledger once the engine was freed (zero buffers: nothing kept). */
  leftOnLostDevice?: GpuMemoryLedger;
  recoveredMs?: number;
}

/** After each live frame: what the device holds. */
interface FrameRecord {
  buffers: number;
  bytes: number;
  objects: DeviceObjectCounts;
}

interface PageDebug {
  /** The engine's device (destroy() it to test recovery). */
  readonly device: GPUDevice | undefined;
  readonly cam: GradCam | undefined;
  /** No run in flight or queued, no device being replaced. */
  readonly idle: boolean;
  /** The current device's buffer ledger and object counts. */
  memory(): { ledger: GpuMemoryLedger; objects: DeviceObjectCounts } | undefined;
  /** Each served-weights load: shards from Cache Storage, shards whose cached copy was damaged. */
  loads: { cachedShards: number; shards: number; damaged: string[]; seconds: number; sha256Seconds: number }[];
  losses: LossRecord[];
  /** Devices requested so far. */
  devices: number;
  /** Live frames done, and the records of the last FRAME_RECORDS of them. */
  liveFrames: number;
  frames: FrameRecord[];
}

const FRAME_RECORDS = 1024;
const debug: PageDebug = {
  get device() {
    return device;
  },
  get cam() {
    return cam;
  },
  get idle() {
    return pumping === undefined && recovering === undefined;
  },
  memory: () => (device ? { ledger: gpuMemory(device), objects: { ...countDeviceObjects(device) } } : undefined),
  loads: [],
  losses: [],
  devices: 0,
  liveFrames: 0,
  frames: [],
};
(window as Window & { __gradcam?: PageDebug }).__gradcam = debug;

function recordFrame() {
  debug.liveFrames++;
  const m = debug.memory();
  if (!m) return;
  if (debug.frames.length === FRAME_RECORDS) debug.frames.shift();
  debug.frames.push({ buffers: m.ledger.buffers, bytes: m.ledger.bytes, objects: m.objects });
}

// ---------------------------------------------------------------- the page

/**
 * What a change needs rerun on the CAM side, cheapest first: nothing (a pixel-level option alone), the
 * overlay pass, backward + map (+ overlay), everything. The pixel-level map is checked after each run
 * and recomputed only when what it depends on changed (see pixelRequest).
 */
const NONE = 0;
const OVERLAY = 1;
const EXPLAIN = 2;
const IMAGE = 3;
type Level = typeof OVERLAY | typeof EXPLAIN | typeof IMAGE;
type WallRow = Level | 'pixels';
const WALL_LABEL: Record<WallRow, string> = {
  [IMAGE]: 'new image: forward + map + overlay',
  [EXPLAIN]: 'new class, method, layer or score: backward + map + overlay',
  [OVERLAY]: 'new α, blend or colormap: overlay only',
  pixels: 'new pixel-level map: backward(s) to the image, the forward kept',
};

let cam: GradCam | undefined;
let image: ImageInput | undefined;
/** The image whose forward the engine keeps: until a new one's forward succeeds, every change reruns it. */
let forwardedImage: ImageInput | undefined;
let imageName = '';
let classIndex: number | undefined;
let shown: GradCamResult | undefined;
let firstHeatmapMs: number | undefined;
const gpuMs: Record<string, number> = {};
const wallMs = new Map<WallRow, number>();
/** Forwards run so far: the pixel-level map of an older forward is stale. */
let forwards = 0;
/** The request (pixelRequest().key) whose pixel-level map is shown or failed; undefined: none. */
let pixelKey: string | undefined;
/**
 * Guided Grad-CAM's attribute() leaves its own Grad-CAM map as the engine's last map, which overlay()
 * would then draw: the next α, blend or colormap change reruns the shown method's map instead.
 */
let camMapReplaced = false;

const overlayOptions = () => ({
  alpha: Number(controls.alpha.value),
  blend: controls.blend.value as BlendMode,
  colormap: controls.colormap.value as ColormapName,
});
const METHOD_NAMES: Record<CamMethod, string> = {
  gradcam: 'Grad-CAM (Keras recipe)',
  'gradcam++': 'Grad-CAM++',
  xgradcam: 'XGrad-CAM',
  hirescam: 'HiResCAM',
  'gradcam-elementwise': 'Grad-CAM elementwise',
  layercam: 'LayerCAM',
  eigencam: 'Eigen-CAM (no gradients)',
  eigengradcam: 'Eigen-Grad-CAM',
  scorecam: 'Score-CAM (512 forwards: slow)',
  ablationcam: 'Ablation-CAM (512 batched rows)',
};
const methodName = (m: CamMethod) => METHOD_NAMES[m].replace(/ \(.*\)$/, '');
const PIXEL_NAMES: Record<PixelMethod, string> = {
  saliency: 'Saliency (|gradient|)',
  'guided-backprop': 'Guided backprop',
  'guided-gradcam': 'Guided Grad-CAM (× Grad-CAM at the layer)',
  smoothgrad: 'SmoothGrad (a forward and backward per sample)',
  'integrated-gradients': 'Integrated Gradients (a forward and backward per step)',
};
const pixelName = (m: PixelMethod) => PIXEL_NAMES[m].replace(/ \(.*\)$/, '');
/** What each rendering shows, for the caption. */
const PIXEL_MEANING: Record<PixelMethod, string> = {
  saliency: 'Bright: the pixels whose change moves the score most (max |∂score/∂pixel| over R, G, B)',
  'guided-backprop': 'The gradient through ReLUs that pass only positive signals, as colour (grey: none)',
  'guided-gradcam': 'Guided backprop × the Grad-CAM map, as colour (grey: none)',
  smoothgrad: 'Saliency averaged over noisy copies of the image (bright: strongest)',
  'integrated-gradients': '|Attribution| per pixel, clipped where the brightest 2% of the total begins (Captum\'s outlier_perc 2; bright: strongest)',
};
/** size 'image' makes the engine resize on the CPU: up to this long side (as the heatmap canvas), else 224×224. */
const PIXELS_MAX_SIDE = 1024;

/** The chosen class (default top-1), or with top-5 maps the five most probable; as a counterfactual if asked. */
function explainTargets(): { target?: CamTarget; targets?: CamTarget[] } {
  const counter = controls.targetKind.value === 'counterfactual';
  if (controls.topMaps.checked) return { targets: [0, 1, 2, 3, 4].map((rank) => ({ kind: 'rank', rank })) };
  if (!counter) return { target: { kind: 'class', classIndex } };
  // A counterfactual needs a class: the chosen one, else the top-1 of the kept forward.
  return { target: { kind: 'counterfactual', classIndex: classIndex ?? topClass ?? 0 } };
}
let topClass: number | undefined;

const explainOptions = () => ({
  ...explainTargets(),
  method: controls.method.value as CamMethod,
  eigenSmooth: controls.eigenSmooth.checked,
  augSmooth: controls.augSmooth.checked,
  layer: controls.layer.value,
  score: controls.score.value as ScoreKind,
  onProgress: (done: number, total: number) => (status.textContent = `${methodName(controls.method.value as CamMethod)}: ${done} of ${total} channels scored…`),
  ...overlayOptions(),
});

/** A new image; the chosen class stays for webcam frames (live mode), not for a new photo. */
function setImage(next: ImageInput, name: string, keepClass = false) {
  image = next;
  imageName = name;
  if (!keepClass) {
    classIndex = undefined;
    controls.search.value = '';
  }
  // Drawn at once, before any GPU work.
  drawRgba($('original'), next.width, next.height, next.data);
  $('original-caption').textContent = `original: ${name}, ${next.width}×${next.height}`;
}

/** The GPU stage rows: the engine's stages, then the pixel-level map's backward to the image. */
const GPU_ROWS: [string, string][] = [
  ['preprocess', 'preprocess'],
  ['forward', 'forward'],
  ['backward', 'backward'],
  ['cam', 'cam'],
  ['overlay', 'overlay'],
  ['pixels', 'backward to the image (pixel-level map)'],
];

function showTimes(level: WallRow, timingsMs: Record<string, number>, reran = `${WALL_LABEL[level].split(': ')[1]} (${timingsMs.total.toFixed(1)} ms)`) {
  if (level === 'pixels') {
    // attribute()'s GPU 'backward' is the backward to the image; 'sampling' is wall-clock time.
    if (timingsMs.backward !== undefined) gpuMs.pixels = timingsMs.backward;
  } else for (const [stage, ms] of Object.entries(timingsMs)) if (stage !== 'total') gpuMs[stage] = ms;
  wallMs.set(level, timingsMs.total);
  const gpu = $<HTMLTableSectionElement>('gpu-times');
  gpu.replaceChildren();
  const head = gpu.insertRow();
  head.insertCell().innerHTML = '<strong>GPU time per stage</strong> (last run of each)';
  head.insertCell();
  for (const [stage, label] of GPU_ROWS) {
    if (!(stage in gpuMs)) continue;
    const row = gpu.insertRow();
    row.dataset.stage = stage;
    row.insertCell().textContent = label;
    Object.assign(row.insertCell(), { className: 'num', textContent: gpuMs[stage].toFixed(1) });
  }
  if (Object.keys(gpuMs).length === 0) gpu.insertRow().insertCell().textContent = 'this device has no timestamp queries';
  const wall = $<HTMLTableSectionElement>('wall-times');
  wall.replaceChildren();
  const wallHead = wall.insertRow();
  wallHead.insertCell().innerHTML = '<strong>Wall clock</strong> (start → results on the CPU)';
  wallHead.insertCell();
  for (const l of [IMAGE, EXPLAIN, OVERLAY, 'pixels'] as WallRow[]) {
    if (!wallMs.has(l)) continue;
    const row = wall.insertRow();
    row.dataset.wall = String(l);
    row.insertCell().textContent = WALL_LABEL[l];
    Object.assign(row.insertCell(), { className: 'num', textContent: wallMs.get(l)!.toFixed(1) });
  }
  $('reran').textContent = `Last change reran: ${reran}.`;
}

function showCounts() {
  if (!cam) return;
  const table = $<HTMLTableElement>('stage-counts');
  table.dataset.counts = JSON.stringify(cam.stageCounts);
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const [stage, n] of Object.entries(cam.stageCounts)) {
    const row = body.insertRow();
    row.insertCell().textContent = stage;
    Object.assign(row.insertCell(), { className: 'num', textContent: String(n) });
  }
}

/** The top-5 maps side by side, each colourised at the image's aspect, with its class. */
function drawTopMaps(r: GradCamResult) {
  const box = $('top5');
  box.hidden = r.maps.length < 2;
  box.replaceChildren();
  if (r.maps.length < 2) return;
  const scale = Math.min(1, 160 / Math.max(image!.width, image!.height));
  const [w, h] = [Math.max(1, Math.round(image!.width * scale)), Math.max(1, Math.round(image!.height * scale))];
  for (const m of r.maps) {
    const figure = document.createElement('figure');
    const canvas = document.createElement('canvas');
    drawRgba(canvas, w, h, colorizeHeatmap(m.heatmap, w, h, controls.colormap.value as ColormapName));
    const caption = document.createElement('figcaption');
    const p = r.probabilities[m.classIndex];
    caption.textContent = `${labelOf(m.classIndex)} (${m.classIndex}), ${(100 * p).toFixed(1)} %`;
    figure.dataset.index = String(m.classIndex);
    figure.append(canvas, caption);
    box.append(figure);
  }
}

function showResult(r: GradCamResult) {
  shown = r;
  topClass = r.predictions[0]?.index;
  drawTopMaps(r);
  if (r.overlay) drawRgba($('overlay'), r.overlay.width, r.overlay.height, r.overlay.data);
  showOverlayCaption();
  drawHeatmap(r, image!, controls.colormap.value as ColormapName);
  const [inH, inW] = model.inputShape;
  $('meaning').textContent = r.warnings.length
    ? r.warnings.join(' ')
    : `${r.target.sign < 0 ? `Where ${modelName()} found evidence AGAINST '${labelOf(r.classIndex)}' (what lowers its score)` : `Where ${modelName()} found evidence for '${labelOf(r.classIndex)}'`} at ${r.layer}, by ${methodName(r.method)}: 1 (top of the colour bar) is the strongest, 0 none. ` +
      `Each of the ${r.heatmap.width}×${r.heatmap.height} cells covers about ${Math.round(inW / r.heatmap.width)}×${Math.round(inH / r.heatmap.height)} pixels of the ${inW}×${inH} network input, stretched here to the photo.`;
  const body = $<HTMLTableElement>('predictions').tBodies[0];
  body.replaceChildren();
  for (const p of r.predictions) {
    const row = body.insertRow();
    row.dataset.index = String(p.index);
    if (p.index === r.classIndex) row.className = 'chosen';
    row.insertCell().textContent = p.label;
    row.insertCell().textContent = p.wnid;
    Object.assign(row.insertCell(), { className: 'num', textContent: `${(100 * p.probability).toFixed(2)} %` });
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.max(1, 200 * p.probability)}px`;
    row.insertCell().append(bar);
    row.addEventListener('click', () => {
      classIndex = p.index;
      controls.search.value = `${p.label} (${p.index})`;
      void request(EXPLAIN);
    });
  }
  controls.saveOverlay.disabled = !r.overlay;
  controls.saveHeatmap.disabled = false;
}

function showOverlayCaption() {
  const o = overlayOptions();
  $('overlay-caption').textContent = `overlay: ${o.colormap}, α ${o.alpha.toFixed(2)}, ${o.blend === 'add' ? 'α·colour + image' : '(1 − α)·image + α·colour'}`;
}

async function perform(wanted: Level) {
  if (!cam || !image) return;
  $('queued').textContent = '';
  const run = image;
  const level = run !== forwardedImage ? IMAGE : wanted === OVERLAY && camMapReplaced ? EXPLAIN : wanted;
  if (level === IMAGE) {
    busy(`Forward pass of ${modelName()} on ${imageName} (${run.width}×${run.height})…`);
    const t0 = performance.now();
    forwardedImage = undefined;
    const view = await cam.forward(run);
    forwardedImage = run;
    forwards++;
    // A counterfactual without a chosen class explains this image's top-1.
    topClass = view.predictions[0]?.index;
    busy(`Backward to ${controls.layer.value} and the map…`);
    const r = await cam.explain(explainOptions());
    // The wall time of the whole change: both submissions.
    const timings = { ...view.timingsMs, ...r.timingsMs, total: performance.now() - t0 };
    finish(level, r, timings);
  } else if (level === EXPLAIN) {
    busy(`Backward to ${controls.layer.value} and the map (the forward is kept)…`);
    const r = await cam.explain(explainOptions());
    finish(level, r, r.timingsMs);
  } else {
    const o = await cam.overlay(overlayOptions());
    drawRgba($('overlay'), o.overlay.width, o.overlay.height, o.overlay.data);
    showOverlayCaption();
    if (shown) {
      drawHeatmap(shown, image, controls.colormap.value as ColormapName);
      drawTopMaps(shown);
    }
    showTimes(level, o.timingsMs);
    showCounts();
    say(`Overlay redrawn in ${o.timingsMs.total.toFixed(1)} ms (overlay pass only).`);
  }
}

function finish(level: Level, r: GradCamResult, timings: Record<string, number>) {
  camMapReplaced = false;
  showResult(r);
  showTimes(level, timings);
  showCounts();
  firstHeatmapMs ??= performance.now() - pageStart;
  $('timings').dataset.firstHeatmapMs = String(firstHeatmapMs);
  // The gradient methods carry the five targets as rows of one backward pass; the others run one pass per target.
  const spec = METHOD_SPECS[r.method];
  const batched = spec.gradients && !spec.eigen && !r.eigenSmooth && !r.augSmooth;
  const maps = r.maps.length > 1 ? ` (and ${r.maps.length - 1} more maps, ${batched ? 'from the same backward' : 'one pass each'})` : '';
  say(
    `${methodName(r.method)} of ${r.target.sign < 0 ? 'counterfactual ' : ''}'${labelOf(r.classIndex)}' (${r.classIndex})${maps} at ${r.layer}, score ${r.score}: ${timings.total.toFixed(0)} ms. ` +
      `Time to first heatmap: ${seconds(firstHeatmapMs)}.` +
      (r.warnings.length ? ` Warning: ${r.warnings.join(' ')}` : ''),
  );
}

/**
 * The pixel-level map the controls ask for, on the kept forward: the page's class (default the top-1)
 * or its counterfactual; the layer for Guided Grad-CAM; samples and noise for SmoothGrad, steps for
 * Integrated Gradients. `key` names everything the map depends on, the forward included. The score is
 * the logit, as in the methods' papers and the engine's default, whatever the CAM's Score says: the
 * probability's gradient of a class the model gives little probability is tiny (~1e-7 per pixel), and
 * guided backprop's deprocessing (its 1e-5 in (g − mean)/(std + 1e-5)) turns it flat grey.
 */
function pixelRequest(): { key: string; options: PixelOptions } | undefined {
  const method = controls.pixelMethod.value;
  if (!isPixelMethod(method) || !image) return undefined;
  const counter = controls.targetKind.value === 'counterfactual' && !controls.topMaps.checked;
  const options: PixelOptions = {
    method,
    target: counter ? { kind: 'counterfactual', classIndex: classIndex ?? topClass ?? 0 } : { kind: 'class', classIndex },
    score: 'logit',
    size: Math.max(image.width, image.height) <= PIXELS_MAX_SIDE ? 'image' : 'model',
    ...(method === 'guided-gradcam' ? { layer: controls.layer.value } : {}),
    ...(method === 'smoothgrad' ? { samples: controls.samples.valueAsNumber, noise: controls.noise.valueAsNumber } : {}),
    ...(method === 'integrated-gradients' ? { steps: controls.steps.valueAsNumber } : {}),
  };
  return { key: JSON.stringify({ forward: forwards, ...options }), options };
}

function showPixelOptions() {
  const m = controls.pixelMethod.value;
  $('samples-label').hidden = $('noise-label').hidden = m !== 'smoothgrad';
  $('steps-label').hidden = m !== 'integrated-gradients';
}

/** The pixel-level map, when what it depends on changed since the one shown; never a forward of the image. */
async function performPixels() {
  const figure = $('pixels-figure');
  const req = pixelRequest();
  if (!req) {
    figure.hidden = true;
    pixelKey = undefined;
    return;
  }
  if (!cam || image !== forwardedImage || req.key === pixelKey) return;
  // Marked before the run: a failing request is not retried until one of its inputs changes.
  pixelKey = req.key;
  const { method } = req.options;
  const name = pixelName(method);
  const sampled = PIXEL_METHOD_SPECS[method].sampled;
  busy(sampled ? `${name}: batched forwards and backwards of ${method === 'smoothgrad' ? 'noisy copies of the image' : 'points from the baseline to the image'}…` : `${name}: backward to the image (the forward is kept)…`);
  progress.value = 0;
  progress.hidden = !sampled;
  // Set before the call: it may fail after its Grad-CAM map replaced the shown one.
  if (method === 'guided-gradcam') camMapReplaced = true;
  let r: PixelResult;
  try {
    r = await cam.attribute({
      ...req.options,
      onProgress: (done, total) => {
        progress.value = done / total;
        status.textContent = `${name}: ${done} of ${total} ${method === 'smoothgrad' ? 'noisy copies' : 'path points (the steps, the baseline and the image)'}…`;
      },
    });
  } catch (e) {
    figure.hidden = false;
    drawRgba($<HTMLCanvasElement>('pixels'), 224, 224, new Uint8ClampedArray(4 * 224 * 224));
    $('pixels-caption').textContent = `${name}: failed (see the status line above)`;
    throw e;
  } finally {
    progress.hidden = true;
  }
  figure.hidden = false;
  figure.dataset.method = r.method;
  figure.dataset.classIndex = String(r.classIndex);
  drawRgba($<HTMLCanvasElement>('pixels'), r.rendering.width, r.rendering.height, r.rendering.data);
  const [inH, inW] = model.inputShape;
  const what = `${r.target.sign < 0 ? 'counterfactual ' : ''}'${labelOf(r.classIndex)}' (${r.classIndex})`;
  const parts = [
    `${name}${r.layer ? ` at ${r.layer}` : ''} of ${what}, score ${r.score}. ${PIXEL_MEANING[r.method]}.`,
    req.options.size === 'model' ? `${inW}×${inH}, the network input (a photo over ${PIXELS_MAX_SIDE} px is not resized back).` : `Computed at ${inW}×${inH}, resized to ${r.rendering.width}×${r.rendering.height}.`,
  ];
  const s = r.sampling;
  if (s && r.method === 'smoothgrad') parts.push(`${s.samples} noisy copies, σ = ${s.noise} × the range (${s.sigma!.toFixed(1)}), seed ${s.seed}, in ${s.submissions} batches of ≤ ${s.batchRows}.`);
  const c = r.completeness;
  if (s && c)
    parts.push(
      `${s.steps} steps from ${s.baseline === 0 ? 'a black image' : `a grey image (level ${s.baseline})`}: Σ attributions ${c.sumAttributions.toPrecision(4)} vs s(image) − s(baseline) ${(c.scoreInput - c.scoreBaseline).toPrecision(4)}, ` +
        `completeness gap ${c.gap.toPrecision(2)}${c.scoreInput !== c.scoreBaseline ? ` (${((100 * c.gap) / Math.abs(c.scoreInput - c.scoreBaseline)).toPrecision(2)} %)` : ''}; more steps close it.`,
    );
  if (r.warnings.length) parts.push(`Warning: ${r.warnings.join(' ')}`);
  $('pixels-caption').textContent = parts.join(' ');
  const ran = sampled ? `${s!.samples} batched forwards + backwards of ${method === 'smoothgrad' ? 'noisy copies' : 'path points'} (the image's forward kept)` : WALL_LABEL.pixels.split(': ')[1];
  showTimes('pixels', r.timingsMs, `the ${name} map: ${ran} (${r.timingsMs.total.toFixed(1)} ms)`);
  showCounts();
  say(`${name} of ${what}, score ${r.score}: ${r.timingsMs.total.toFixed(0)} ms on the kept forward.` + (r.warnings.length ? ` Warning: ${r.warnings.join(' ')}` : ''));
}

// Changes arriving while a run is busy are merged: the next run does the most any of them needs, then
// the pixel-level map if its inputs changed.
let wanted = 0;
let pixelsWanted = false;
let pumping: Promise<void> | undefined;
/** The run in flight (a device lost meanwhile is replaced once it has failed). */
let running: Promise<void> | undefined;
function request(level: Level | typeof NONE): Promise<void> {
  wanted = Math.max(wanted, level);
  pixelsWanted = true;
  pumping ??= pump().finally(() => (pumping = undefined));
  return pumping;
}
async function pump() {
  for (;;) {
    // Changes made while a lost device is replaced wait for the new one.
    if (recovering) await recovering;
    if (!((wanted || pixelsWanted) && cam && image)) return;
    // A pixel-level change alone still needs this image's forward first.
    const level = image !== forwardedImage ? IMAGE : wanted;
    wanted = 0;
    pixelsWanted = false;
    const on = device!;
    running = (async () => {
      if (level) await perform(level as Level);
      await performPixels();
    })();
    try {
      await running;
      lossesInARow = 0;
    } catch (e) {
      // A run that failed because the device was lost is rerun on the new one (see recover).
      const loss = await deviceLoss(on, e);
      if (loss) onDeviceLost(on, loss);
      else {
        // An engine call that failed on a live device (out of memory, say) frees the engine's caches,
        // the kept forward among them: the next change starts from the image again.
        forwardedImage = undefined;
        pixelKey = undefined;
        fail(errorText(e));
      }
    } finally {
      running = undefined;
    }
  }
}

async function useFile(file: File) {
  try {
    setImage(await decodeImageFile(file), file.name);
  } catch {
    fail(`Could not decode '${file.name}' as an image. Choose a PNG, JPEG, WebP or another format this browser opens.`);
    return;
  }
  if (cam) await request(IMAGE);
  else $('queued').textContent = `'${file.name}' is queued: it runs as soon as the model is ready.`;
}

function wireControls() {
  controls.file.addEventListener('change', () => controls.file.files?.[0] && void useFile(controls.file.files[0]));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer?.files[0];
    if (file) void useFile(file);
  });
  controls.sample.addEventListener('click', () => {
    setImage(generatedImage(), 'generated test image');
    void request(IMAGE);
  });
  for (const m of CAM_METHODS) controls.method.add(new Option(METHOD_NAMES[m], m, m === 'gradcam', m === 'gradcam'));
  // Score-CAM and Ablation-CAM rerun hundreds of forwards per augmentation: aug-smooth is for the others
  // (registered before the rerun below, which reads the checkbox).
  controls.method.addEventListener('change', () => {
    const perturbation = METHOD_SPECS[controls.method.value as CamMethod].perturbation !== undefined;
    if (perturbation) controls.augSmooth.checked = false;
    controls.augSmooth.disabled = perturbation;
    controls.augSmooth.parentElement!.title = perturbation ? 'aug-smooth would rerun the 512 forwards six times; it is for the gradient and eigen methods' : 'average of 6 passes: mirrored or not × brightness 0.9, 1.0, 1.1';
  });
  for (const c of [controls.layer, controls.score, controls.method, controls.targetKind, controls.eigenSmooth, controls.augSmooth, controls.topMaps])
    c.addEventListener('change', () => void request(EXPLAIN));
  // The pixel-level map: its own options rerun it alone (the class, score and image it shares rerun it too).
  controls.pixelMethod.add(new Option('none', '', true, true));
  for (const m of PIXEL_METHODS) controls.pixelMethod.add(new Option(PIXEL_NAMES[m], m));
  controls.samples.value = String(PIXEL_DEFAULTS.samples);
  controls.noise.value = String(PIXEL_DEFAULTS.noise);
  controls.steps.value = String(PIXEL_DEFAULTS.steps);
  controls.pixelMethod.addEventListener('change', showPixelOptions);
  for (const c of [controls.pixelMethod, controls.samples, controls.noise, controls.steps]) c.addEventListener('change', () => void request(NONE));
  // The top-5 maps are each class's own: a counterfactual or a clicked class does not apply to them.
  controls.topMaps.addEventListener('change', () => {
    controls.targetKind.disabled = controls.topMaps.checked;
    controls.targetKind.title = controls.topMaps.checked ? 'the top-5 maps explain each class itself; untick top-5 maps for a counterfactual' : '';
  });
  controls.alpha.addEventListener('input', () => {
    $('alpha-value').textContent = Number(controls.alpha.value).toFixed(2);
    void request(OVERLAY);
  });
  for (const c of [controls.blend, controls.colormap]) c.addEventListener('change', () => void request(OVERLAY));
  // The colour bar follows the colormap at once, with or without an image yet.
  controls.colormap.addEventListener('change', () => drawLegend(controls.colormap.value as ColormapName));

  const suggestions = $('classes');
  controls.search.addEventListener('input', () => {
    suggestions.replaceChildren(...classSuggestions(controls.search.value, 12).map((i) => new Option(`${labelOf(i)} (${i})`)));
  });
  controls.search.addEventListener('change', () => {
    const text = controls.search.value;
    if (!text.trim()) return;
    const found = matchingClasses(text);
    if (found.length === 0)
      return fail(`'${text}' matches no ImageNet class: type a label (African elephant), a wnid (n02504458) or an index (0–999), or pick a suggestion.`);
    if (found.length > 1)
      return fail(`'${text}' names ${found.length} ImageNet classes: ${found.map((i) => `${labelOf(i)} (${i}, ${IMAGENET_CLASS_INDEX[String(i)][0]})`).join(' and ')}; type the index or the wnid.`);
    classIndex = found[0];
    controls.search.value = `${labelOf(classIndex)} (${classIndex})`;
    if (image && cam) void request(EXPLAIN);
  });

  controls.saveOverlay.addEventListener('click', () => {
    $<HTMLCanvasElement>('overlay').toBlob((blob) => blob && download(blob, `gradcam-${shown ? labelOf(shown.classIndex) : 'overlay'}.png`), 'image/png');
  });
  controls.saveHeatmap.addEventListener('click', () => {
    if (!shown) return;
    const npy = encodeNpy(shown.heatmap.data, [shown.heatmap.height, shown.heatmap.width]);
    download(new Blob([npy as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }), `${shown.method}-${shown.layer}-${shown.classIndex}.npy`);
  });

  // Webcam: one frame on demand, or frames continuously with the rate shown.
  let video: Promise<HTMLVideoElement | undefined> | undefined;
  const openCamera = async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: true });
      const v = document.createElement('video');
      v.srcObject = stream;
      v.muted = true;
      await v.play();
      return v;
    } catch (e) {
      fail(`No webcam: ${errorText(e)}. Allow camera access for this page, or choose an image instead.`);
      video = undefined;
      return undefined;
    }
  };
  // One stream for the page, however often the buttons are pressed.
  const camera = () => (video ??= openCamera());
  const frame = (v: HTMLVideoElement) => pixelsOf(v, v.videoWidth, v.videoHeight);
  controls.webcam.addEventListener('click', async () => {
    const v = await camera();
    if (!v) return;
    setImage(frame(v), 'webcam frame');
    await request(IMAGE);
  });
  let liveLoop = 0;
  controls.live.addEventListener('change', async () => {
    const loop = ++liveLoop;
    const v = controls.live.checked ? await camera() : undefined;
    if (!v) return void (controls.live.checked = false);
    let frames = 0;
    const t0 = performance.now();
    // Only the newest loop runs: unticking and ticking again while a frame is in flight ends the old one.
    while (controls.live.checked && loop === liveLoop) {
      // Frames of one size reuse the engine's image and overlay buffers; the chosen class stays.
      setImage(frame(v), 'webcam (live)', true);
      await request(IMAGE);
      if (status.className === 'error') {
        controls.live.checked = false;
        break;
      }
      recordFrame();
      frames++;
      $('fps').textContent = `${(frames / ((performance.now() - t0) / 1000)).toFixed(2)} frames/s`;
    }
  });
}

async function main() {
  wireControls();
  drawLegend('jet');
  await learnModel();
  try {
    await openEngine(false);
  } catch (e) {
    progress.hidden = true;
    fail(errorText(e));
    return;
  }
  for (const l of cam!.convLayers) controls.layer.add(new Option(l, l, l === cam!.defaultLayer, l === cam!.defaultLayer));
  for (const b of [controls.sample, controls.webcam, controls.live, controls.layer]) {
    b.disabled = false;
    (b.closest('label') ?? b).removeAttribute('title');
  }
  showCounts();
  const ready = `Ready (${seconds(performance.now() - pageStart)}).`;
  if (image) {
    say(`${ready} Running the queued ${imageName}…`);
    await request(IMAGE);
  } else {
    say(`${ready} Choose an image.`);
  }
}

void main();
