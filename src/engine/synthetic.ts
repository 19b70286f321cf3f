// Seeded synthetic weights, so everything (tests, demos, benchmarks) can run without the real file.
import { elementCount, weightSpecs, type ModelSpec } from './model.js';
import type { ImageInput } from './network.js';

/** mulberry32: a tiny 32-bit PRNG; good enough for test weights, identical on every host. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples by Box–Muller from a seeded uniform source. */
export function fillNormal(out: Float32Array, random: () => number, std = 1): Float32Array {
  for (let i = 0; i < out.length; i += 2) {
    const u1 = 1 - random(); // (0, 1]: log is finite
    const u2 = random();
    const r = Math.sqrt(-2 * Math.log(u1)) * std;
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

export interface SyntheticOptions {
  seed?: number;
  /** Standard deviation of the biases (Keras initialises them to 0; small non-zero ones test the bias path). */
  biasStd?: number;
  /**
   * Multiplies the last layer's kernel. He-normal keeps activations at the input's scale (≈ 60 after
   * mean subtraction), which makes logits of order 100 and a one-hot softmax; a gain of ~0.01 gives
   * an unsaturated distribution whose numerics and gradients say something.
   */
  classifierGain?: number;
}

/** He-normal kernels (std = sqrt(2 / fan_in), not truncated) for every weight tensor of the model. */
export function heNormalWeights(model: ModelSpec, options: SyntheticOptions = {}): Map<string, Float32Array> {
  const random = mulberry32(options.seed ?? 1);
  const biasStd = options.biasStd ?? 0.01;
  const last = model.layers[model.layers.length - 1].name;
  const out = new Map<string, Float32Array>();
  for (const s of weightSpecs(model)) {
    const data = new Float32Array(elementCount(s.shape));
    if (s.name.endsWith('/bias')) {
      fillNormal(data, random, biasStd);
    } else {
      const fanIn = elementCount(s.shape.slice(0, -1));
      const gain = s.layer === last ? (options.classifierGain ?? 1) : 1;
      fillNormal(data, random, gain * Math.sqrt(2 / fanIn));
    }
    out.set(s.name, data);
  }
  return out;
}

/**
 * A seeded photo-like RGBA image (smooth gradients, a disc, texture, hard edges), so resizing and the
 * network see something other than noise; used by tests, `npm run verify` and `npm run bench`.
 */
export function syntheticPhoto(width: number, height: number, seed = 3): ImageInput {
  const r = mulberry32(seed);
  const data = new Uint8ClampedArray(width * height * 4);
  const cx = width * 0.6;
  const cy = height * 0.45;
  const radius = Math.min(width, height) * 0.25;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const inDisc = (x - cx) ** 2 + (y - cy) ** 2 < radius ** 2;
      const noise = (r() - 0.5) * 30;
      data[i] = inDisc ? 200 + noise : (255 * x) / width;
      data[i + 1] = inDisc ? 60 + noise : (255 * y) / height;
      data[i + 2] = (x >> 3) % 2 === (y >> 3) % 2 ? 40 + noise : 180 + noise;
      data[i + 3] = 255;
    }
  }
  return { width, height, data };
}
