// The demo page: VGG16 forward on this browser's WebGPU device, top-5 ImageNet predictions for an
// image the user chooses. Until converted Keras weights can be loaded, it runs seeded random
// weights and says so.
import { requestBrowserDevice } from '../engine/browser.js';
import { decodePredictions } from '../engine/imagenet.js';
import { VGG16 } from '../engine/model.js';
import { Network, type ImageInput } from '../engine/network.js';
import { heNormalWeights } from '../engine/synthetic.js';
import { loadWeightsFromUrl } from '../engine/weights/browser.js';
import type { GpuWeights } from '../engine/weights/gpuWeights.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $('status');
const canvas = $<HTMLCanvasElement>('original');
const fileInput = $<HTMLInputElement>('file');
const sampleButton = $<HTMLButtonElement>('sample');
const drop = $('drop');

function fail(message: string) {
  status.className = 'error';
  status.textContent = message;
}

function imageFromCanvasSource(source: CanvasImageSource & { width: number; height: number }): ImageInput {
  canvas.width = source.width;
  canvas.height = source.height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(source, 0, 0);
  const data = ctx.getImageData(0, 0, source.width, source.height);
  return { width: data.width, height: data.height, data: data.data };
}

function generatedImage(): ImageInput {
  const off = new OffscreenCanvas(320, 240);
  const ctx = off.getContext('2d')!;
  const g = ctx.createLinearGradient(0, 0, 320, 240);
  g.addColorStop(0, '#3a7bd5');
  g.addColorStop(1, '#f2c94c');
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, 320, 240);
  ctx.fillStyle = '#7b4a2a';
  ctx.beginPath();
  ctx.arc(190, 110, 60, 0, 2 * Math.PI);
  ctx.fill();
  return imageFromCanvasSource(off);
}

function showPredictions(probabilities: Float32Array) {
  const table = $<HTMLTableElement>('predictions');
  table.replaceChildren();
  for (const p of decodePredictions(probabilities, 5)) {
    const row = table.insertRow();
    row.insertCell().textContent = p.label;
    row.insertCell().textContent = p.wnid;
    row.insertCell().textContent = `${(100 * p.probability).toFixed(2)} %`;
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.max(1, 200 * p.probability)}px`;
    row.insertCell().append(bar);
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
  const note = $('weights-note');
  const t0 = performance.now();
  let weights: GpuWeights | Map<string, Float32Array>;
  try {
    status.textContent = 'Loading weights…';
    const loaded = await loadWeightsFromUrl(device, 'weights/vgg16/', {
      onProgress: (p) => {
        status.textContent = `Loading weights: ${(p.loadedBytes / 1e6).toFixed(0)} / ${(p.totalBytes / 1e6).toFixed(0)} MB (${p.cachedShards} shards from cache)`;
      },
    });
    weights = loaded.weights;
    if (loaded.source.synthetic) {
      note.hidden = false;
      note.textContent = `Random weights: weights/vgg16 holds synthetic weights (seed ${String(loaded.source.seed)}), so the predictions are meaningless. Run 'npm run weights -- --force' for Keras' ImageNet weights.`;
    }
  } catch (e) {
    // No converted weights served: still show the engine working, on random weights, and say so.
    note.hidden = false;
    note.textContent =
      `Random weights: ${e instanceof Error ? e.message : String(e)}. Until then this page runs VGG16 with seeded ` +
      'He-normal weights made in the browser, so the predictions are meaningless.';
    status.textContent = 'Generating random weights…';
    await new Promise((r) => setTimeout(r));
    weights = heNormalWeights(VGG16, { seed: 1, classifierGain: 0.01 });
  }
  const net = await Network.create(device, VGG16, weights);
  status.textContent = `Ready (${((performance.now() - t0) / 1000).toFixed(1)} s to load). Choose an image.`;
  sampleButton.disabled = false;

  let busy = false;
  const classify = async (image: ImageInput) => {
    if (busy) return;
    busy = true;
    status.className = '';
    status.textContent = `Running VGG16 on ${image.width}×${image.height}…`;
    try {
      const start = performance.now();
      const { probabilities } = await net.forward(image);
      status.textContent = `VGG16 forward: ${(performance.now() - start).toFixed(0)} ms (image ${image.width}×${image.height}, resized to 224×224 like Keras).`;
      showPredictions(probabilities);
    } catch (e) {
      fail(e instanceof Error ? e.message : String(e));
    } finally {
      busy = false;
    }
  };

  const classifyFile = async (file: File) => {
    try {
      const bitmap = await createImageBitmap(file);
      await classify(imageFromCanvasSource(bitmap));
      bitmap.close();
    } catch {
      fail(`Could not decode '${file.name}' as an image. Choose a PNG, JPEG, WebP or another format this browser opens.`);
    }
  };
  fileInput.addEventListener('change', () => fileInput.files?.[0] && void classifyFile(fileInput.files[0]));
  sampleButton.addEventListener('click', () => void classify(generatedImage()));
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer?.files[0];
    if (file) void classifyFile(file);
  });
}

void main();
