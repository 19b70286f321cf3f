// The demo page: Grad-CAM of VGG16 on this browser's WebGPU device. Weights come from /weights/vgg16/
// (converted by `npm run weights`, cached in Cache Storage); without them the page runs seeded random
// weights and says so. Every control reruns Grad-CAM on the current image.
import {
  decodeImageFile,
  describeTuning,
  GpuWeights,
  heNormalWeights,
  IMAGENET_CLASS_INDEX,
  jetColormap,
  loadWeightsFromUrl,
  openGradCam,
  pixelsOf,
  requestBrowserDevice,
  VGG16,
  type GradCamResult,
  type ImageInput,
  type ScoreKind,
  type Tuning,
  type TuningMode,
} from '../index.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $('status');
const progress = $<HTMLProgressElement>('progress');
const note = $('weights-note');
const controls = {
  file: $<HTMLInputElement>('file'),
  sample: $<HTMLButtonElement>('sample'),
  webcam: $<HTMLButtonElement>('webcam'),
  live: $<HTMLInputElement>('live'),
  layer: $<HTMLSelectElement>('layer'),
  score: $<HTMLSelectElement>('score'),
  alpha: $<HTMLInputElement>('alpha'),
  search: $<HTMLInputElement>('class-search'),
};
const pageStart = performance.now();
const labelOf = (i: number) => IMAGENET_CLASS_INDEX[String(i)][1];

function fail(message: string) {
  status.className = 'error';
  status.textContent = message;
}

function say(message: string) {
  status.className = '';
  status.textContent = message;
}

function drawRgba(canvas: HTMLCanvasElement, width: number, height: number, data: Uint8ClampedArray) {
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

const jet = jetColormap();
function drawHeatmap(r: GradCamResult) {
  const { width, height, data } = r.heatmap;
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < data.length; i++) {
    const u = Math.min(255, Math.floor(255 * data[i]));
    rgba.set([jet[3 * u], jet[3 * u + 1], jet[3 * u + 2], 255], 4 * i);
  }
  drawRgba($('heatmap'), width, height, rgba);
  $('heatmap-caption').textContent = `heatmap ${height}×${width} (${r.layer})`;
}

function showTuning(tuning: Tuning, where: string) {
  const [head] = describeTuning(tuning, where);
  $('kernels-source').textContent = head;
  const table = $<HTMLTableElement>('kernel-choices');
  for (const [key, version] of Object.entries(tuning.choices)) {
    const [kernel, shape] = key.split('|');
    const row = table.insertRow();
    row.dataset.key = key;
    for (const text of [kernel, shape, version, ...Object.entries(tuning.table?.timings[key] ?? {}).map(([v, ms]) => `${v} ${ms.toFixed(2)} ms`)]) row.insertCell().textContent = text;
  }
}

async function main() {
  let device: GPUDevice;
  try {
    device = await requestBrowserDevice(VGG16);
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
    return;
  }
  let weights: GpuWeights | Map<string, Float32Array>;
  try {
    say('Loading weights…');
    progress.hidden = false;
    const loaded = await loadWeightsFromUrl(device, 'weights/vgg16/', {
      onProgress: (p) => {
        progress.value = p.loadedBytes / p.totalBytes;
        say(`Loading weights: ${(p.loadedBytes / 1e6).toFixed(0)} / ${(p.totalBytes / 1e6).toFixed(0)} MB (${p.cachedShards} of ${p.shards} shards from cache)`);
      },
    });
    weights = loaded.weights;
    if (loaded.source.synthetic) {
      note.hidden = false;
      note.textContent = `Random weights: weights/vgg16 holds synthetic weights (seed ${String(loaded.source.seed)}), so predictions and maps are meaningless. Run 'npm run weights -- --force' for Keras' ImageNet weights.`;
    }
  } catch (e) {
    note.hidden = false;
    note.textContent =
      `Random weights: ${e instanceof Error ? e.message : String(e)}. Until then this page runs VGG16 with seeded He-normal ` +
      'weights made in the browser, so predictions and maps are meaningless.';
    say('Generating random weights…');
    await new Promise((r) => setTimeout(r));
    weights = heNormalWeights(VGG16, { seed: 1, classifierGain: 0.01 });
  } finally {
    progress.hidden = true;
  }
  // ?tune=force re-measures, ?tune=off runs each kernel's default version.
  const tuneParam = new URLSearchParams(location.search).get('tune');
  const tuneMode: TuningMode = tuneParam === 'force' || tuneParam === 'off' ? tuneParam : 'auto';
  // ?f16=1 stores the dense layers' weights as float16 (half their memory; numbers move by ~1e-3).
  const f16 = new URLSearchParams(location.search).get('f16') === '1';
  const opened = await openGradCam({
    device,
    weights: { model: weights instanceof GpuWeights ? weights.model : VGG16, tensors: weights },
    tune: tuneMode,
    f16,
    onTuningProgress: (line) => say(`Choosing the fastest kernels for this GPU (once): ${line}`),
  });
  showTuning(opened.tuning, opened.tuningWhere ?? 'localStorage');
  const { cam } = opened;
  for (const l of cam.convLayers) controls.layer.add(new Option(l, l, l === cam.defaultLayer, l === cam.defaultLayer));
  const classes = $('classes');
  for (let i = 0; i < 1000; i++) classes.append(new Option(`${labelOf(i)} (${i})`));
  say(`Ready (${((performance.now() - pageStart) / 1000).toFixed(1)} s). Choose an image.`);
  for (const b of [controls.sample, controls.webcam, controls.live]) b.disabled = false;

  let image: ImageInput | undefined;
  let classIndex: number | undefined;
  let firstHeatmapShown = false;
  let running: Promise<void> = Promise.resolve();

  const run = () => {
    running = running.then(async () => {
      if (!image) return;
      say(`Running Grad-CAM on ${image.width}×${image.height}…`);
      try {
        const r = await cam.run(image, {
          classIndex,
          layer: controls.layer.value,
          score: controls.score.value as ScoreKind,
          alpha: Number(controls.alpha.value),
        });
        show(r);
        if (!firstHeatmapShown) {
          firstHeatmapShown = true;
          $('timings').dataset.firstHeatmapMs = String(performance.now() - pageStart);
        }
        say(
          `Grad-CAM of '${labelOf(r.classIndex)}' (${r.classIndex}) at ${r.layer}, score ${r.score}: ${r.timingsMs.total.toFixed(0)} ms. ` +
            `Time to first heatmap: ${(Number($('timings').dataset.firstHeatmapMs) / 1000).toFixed(1)} s.` +
            (r.warnings.length ? ` Warning: ${r.warnings.join(' ')}` : ''),
        );
      } catch (e) {
        fail(e instanceof Error ? e.message : String(e));
      }
    });
    return running;
  };

  const show = (r: GradCamResult) => {
    drawRgba($('original'), image!.width, image!.height, new Uint8ClampedArray(image!.data));
    if (r.overlay) drawRgba($('overlay'), r.overlay.width, r.overlay.height, r.overlay.data);
    $('overlay-caption').textContent = `overlay (α ${controls.alpha.value})`;
    drawHeatmap(r);
    const table = $<HTMLTableElement>('predictions');
    table.replaceChildren();
    for (const p of r.predictions) {
      const row = table.insertRow();
      row.dataset.index = String(p.index);
      if (p.index === r.classIndex) row.className = 'chosen';
      row.insertCell().textContent = p.label;
      row.insertCell().textContent = p.wnid;
      row.insertCell().textContent = `${(100 * p.probability).toFixed(2)} %`;
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${Math.max(1, 200 * p.probability)}px`;
      row.insertCell().append(bar);
      row.addEventListener('click', () => {
        classIndex = p.index;
        void run();
      });
    }
    const timings = $<HTMLTableElement>('timings');
    timings.replaceChildren();
    for (const [stage, ms] of Object.entries(r.timingsMs)) {
      const row = timings.insertRow();
      row.insertCell().textContent = stage === 'total' ? 'total (wall clock)' : stage;
      row.insertCell().textContent = `${ms.toFixed(1)} ms`;
    }
  };

  const useImage = (next: ImageInput) => {
    image = next;
    classIndex = undefined;
    return run();
  };
  const useFile = async (file: File) => {
    try {
      await useImage(await decodeImageFile(file));
    } catch {
      fail(`Could not decode '${file.name}' as an image. Choose a PNG, JPEG, WebP or another format this browser opens.`);
    }
  };

  controls.file.addEventListener('change', () => controls.file.files?.[0] && void useFile(controls.file.files[0]));
  controls.sample.addEventListener('click', () => void useImage(generatedImage()));
  for (const c of [controls.layer, controls.score]) c.addEventListener('change', () => void run());
  controls.alpha.addEventListener('input', () => ($('alpha-value').textContent = Number(controls.alpha.value).toFixed(2)));
  controls.alpha.addEventListener('change', () => void run());
  controls.search.addEventListener('change', () => {
    const m = /\((\d+)\)$/.exec(controls.search.value);
    if (!m) return fail(`'${controls.search.value}' is not an ImageNet label: pick one from the list`);
    classIndex = Number(m[1]);
    void run();
  });
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

  // Webcam: one frame on demand, or frames continuously with the rate shown.
  let video: HTMLVideoElement | undefined;
  const camera = async () => {
    if (video) return video;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: true });
      video = document.createElement('video');
      video.srcObject = stream;
      video.muted = true;
      await video.play();
      return video;
    } catch (e) {
      fail(`No webcam: ${e instanceof Error ? e.message : String(e)}. Allow camera access for this page, or choose an image instead.`);
      return undefined;
    }
  };
  const frame = (v: HTMLVideoElement) => pixelsOf(v, v.videoWidth, v.videoHeight);
  controls.webcam.addEventListener('click', async () => {
    const v = await camera();
    if (v) await useImage(frame(v));
  });
  controls.live.addEventListener('change', async () => {
    const v = controls.live.checked ? await camera() : undefined;
    if (!v) return void (controls.live.checked = false);
    let frames = 0;
    const t0 = performance.now();
    while (controls.live.checked) {
      image = frame(v);
      await run();
      frames++;
      $('fps').textContent = `${(frames / ((performance.now() - t0) / 1000)).toFixed(2)} frames/s`;
    }
  });
}

void main();
