// The model-randomization sanity check (Adebayo et al. 2018, "Sanity Checks for Saliency Maps"):
// re-initialise the weights layer by layer from the top ('predictions', then 'fc2', … down to
// 'block1_conv1'), cascading (each step keeps the layers randomized before it), recompute the map after
// each step and compare it with the original one. A map that stays similar while the model it claims to
// explain is destroyed does not depend on the model: the method fails the check.
//
// The randomized weights are new GPU buffers filled on the GPU (seededNormal: He-normal kernels,
// std = sqrt(2 / fan_in), as Keras' he_normal without truncation; zero biases, as Keras initialises
// them); the loaded weights are never written. Each step runs a new engine over a view that mixes the
// randomized tensors with the loaded ones (GpuWeights borrowed: disposing it frees neither).
import { destroyDispatch, encodeDispatch } from '../../kernels/kernel.js';
import { packHalfVersions, packedHalfBytes } from '../../kernels/packHalf.js';
import { seededNormalVersions, setSeededNormalParams } from '../../kernels/seededNormal.js';
import type { CamMethod } from '../camMethods.js';
import type { GradCam } from '../gradcam.js';
import { elementCount, weightSpecs, type ModelSpec } from '../model.js';
import type { PixelMethod, PixelSampling } from '../pixelMethods.js';
import { GpuWeights } from '../weights/gpuWeights.js';
import type { MetricsHost } from './evaluate.js';
import { mapAtInput } from './evaluate.js';
import { minMaxNormalize, spearman, ssim } from './stats.js';
import type { SanityResult } from './types.js';

/**
 * The check passes when, with every layer randomized, the map's Spearman rank correlation with the
 * original has fallen to this or below. Adebayo et al. report rank correlations near 0 for Grad-CAM and
 * gradients once the top layers are randomized, and above 0.5 throughout for guided backpropagation.
 */
export const SANITY_SPEARMAN_BOUND = 0.5;

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export interface SanityRequest {
  method: CamMethod | PixelMethod;
  classIndex: number;
  layer?: string;
  mapScore?: 'prob' | 'logit';
  sampling?: PixelSampling;
  original: Float32Array;
  /** The kept forward's preprocessed input: each randomized engine runs its own forward of it. */
  input: Float32Array;
  layers?: readonly string[];
  seed: number;
  onProgress?: (done: number, total: number) => void;
  warnings: string[];
}

/** The layers with weights, from the output down (the order of the cascade). */
export function randomizationOrder(layersWithWeights: readonly string[]): string[] {
  return [...layersWithWeights].reverse();
}

/** One seed per weight tensor: the same (seed, tensor) gives the same weights on every host and batch. */
function tensorSeed(seed: number, index: number): number {
  return (seed + Math.imul(index + 1, 0x9e3779b1)) >>> 0;
}

/** The cascade's order for `model`, and a check of a caller's list against it (before any work runs). */
export function checkSanityLayers(model: ModelSpec, layers: readonly string[]): void {
  const order = randomizationOrder([...new Set(weightSpecs(model).map((s) => s.layer))]);
  if (layers.length === 0) throw new Error(`sanityLayers: name at least one layer, from the top down (${order.join(', ')})`);
  for (const l of layers) if (!order.includes(l)) throw new Error(`sanityLayers: '${l}' is not a layer with weights of ${model.name}; choose from ${order.join(', ')}`);
  layers.forEach((l, i) => {
    if (i > 0 && order.indexOf(l) <= order.indexOf(layers[i - 1])) throw new Error(`sanityLayers: list layers from the top down (as ${order.join(', ')}); '${l}' comes after '${layers[i - 1]}'`);
  });
}

export async function cascadingRandomization(host: MetricsHost, r: SanityRequest): Promise<SanityResult> {
  const { network } = host;
  const { device, model } = network;
  const specs = weightSpecs(model);
  const order = randomizationOrder([...new Set(specs.map((s) => s.layer))]);
  const cascade = r.layers ? [...r.layers] : order;
  checkSanityLayers(model, cascade);
  const [h, w] = model.inputShape;
  const random = new Map<string, GPUBuffer>();
  const original01 = minMaxNormalize(r.original);
  const result: SanityResult = { layers: [], spearman: [], ssim: [], passed: false, verdict: '' };
  if (!r.original.some((v) => v !== r.original[0])) {
    result.verdict = `cannot judge: the original ${r.method} map is constant (${r.original[0]}), so no rank correlation with it is defined; explain another class or layer`;
    return result;
  }
  try {
    for (const [step, layer] of cascade.entries()) {
      // Randomize every layer from the previous step's down to this one (the whole top when layers are skipped).
      const upTo = order.indexOf(layer);
      for (const name of order.slice(0, upTo + 1)) await randomizeLayer(device, network, specs, name, r.seed, random);
      const view = new GpuWeights(model, new Map(specs.map((s) => [s.name, random.get(s.name) ?? network.weightBuffer(s.name)])), true);
      for (const s of specs) if (network.weightIsHalf(s.name)) view.halves.add(s.name);
      const engine: GradCam = await host.create(view);
      let map: Float32Array;
      try {
        await engine.forward(new Float32Array(r.input));
        map = await mapAtInput(engine, r.method, r.classIndex, r.layer, r.mapScore, r.sampling);
      } finally {
        engine.dispose();
      }
      result.layers.push(layer);
      result.spearman.push(spearman(r.original, map));
      result.ssim.push(ssim(original01, minMaxNormalize(map), w, h, 1));
      r.onProgress?.(step + 1, cascade.length);
    }
  } finally {
    for (const b of random.values()) b.destroy();
  }
  const last = result.spearman[result.spearman.length - 1];
  const firstBelow = result.spearman.findIndex((s) => !(Math.abs(s) > SANITY_SPEARMAN_BOUND));
  // A map that became constant has no rank correlation (NaN): it no longer resembles the original.
  result.passed = !(Math.abs(last) > SANITY_SPEARMAN_BOUND);
  const lastText = Number.isNaN(last) ? 'undefined (the map became constant)' : last.toFixed(3);
  result.verdict = result.passed
    ? `passes: the map's rank correlation with the original fell to ${lastText} with ${result.layers.at(-1)} randomized (first ≤ ${SANITY_SPEARMAN_BOUND} at ${result.layers[firstBelow]}): it depends on the model's weights`
    : `FAILS: with every listed layer randomized down to ${result.layers.at(-1)}, the map still has rank correlation ${lastText} (> ${SANITY_SPEARMAN_BOUND}) with the original: it shows the image more than what the model learned`;
  return result;
}

async function randomizeLayer(
  device: GPUDevice,
  network: MetricsHost['network'],
  specs: ReturnType<typeof weightSpecs>,
  layer: string,
  seed: number,
  random: Map<string, GPUBuffer>,
): Promise<void> {
  for (const [index, s] of specs.entries()) {
    if (s.layer !== layer || random.has(s.name)) continue;
    const count = elementCount(s.shape);
    const bias = s.name.endsWith('/bias');
    const half = network.weightIsHalf(s.name);
    // createBuffer zero-fills: the biases are done.
    const f32 = device.createBuffer({ label: `${s.name} (randomized)`, size: 4 * count, usage: STORAGE() });
    random.set(s.name, f32);
    if (bias) continue;
    const fanIn = elementCount(s.shape.slice(0, -1));
    const fill = await seededNormalVersions[0].prepare(device, { count }, { out: f32 }, `randomize ${s.name}`);
    let pack;
    try {
      setSeededNormalParams(device, fill, { count }, { seed: tensorSeed(seed, index), mean: 0, std: Math.sqrt(2 / fanIn) });
      const encoder = device.createCommandEncoder({ label: `randomize ${s.name}` });
      let pass = encoder.beginComputePass({ label: fill.label });
      encodeDispatch(pass, fill);
      pass.end();
      if (half) {
        // The loaded network stores this tensor as float16: the randomized one must match its format.
        const packed = device.createBuffer({ label: `${s.name} (randomized, float16)`, size: packedHalfBytes(count), usage: STORAGE() });
        random.set(s.name, packed);
        pack = await packHalfVersions[0].prepare(device, { count }, { x: f32, y: packed });
        pass = encoder.beginComputePass({ label: pack.label });
        encodeDispatch(pass, pack);
        pass.end();
      }
      device.queue.submit([encoder.finish()]);
    } finally {
      destroyDispatch(fill);
      if (pack) destroyDispatch(pack);
      // Destroying after the submit is allowed: the queued passes still read it.
      if (half) f32.destroy();
    }
  }
}
