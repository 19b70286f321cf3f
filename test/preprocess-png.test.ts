// An image-like PNG made here, encoded and decoded as a file would be, through the engine's image
// path (GPU preprocessing inside Network.forward), compared element for element with Pillow's nearest
// resize + Keras' preprocess_input computed on the CPU by an independent transliteration.
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelSpec } from '../src/engine/model.js';
import { Network } from '../src/engine/network.js';
import { INPUT_TENSOR } from '../src/engine/plan.js';
import { heNormalWeights } from '../src/engine/synthetic.js';
import { maxPool2x2Ref } from '../src/kernels/maxPool2x2.ref.js';
import { syntheticPhoto } from './support/images.js';
import { testDevice } from './support/nodeDevice.js';
import { pilNearestResizeRgb } from './support/pil.js';

// The network is data: a one-layer model is enough to drive the image path at VGG's input size.
const PROBE: ModelSpec = { name: 'probe', inputShape: [224, 224, 3], layers: [{ name: 'pool', kind: 'maxpool2x2' }] };

let device: GPUDevice;
let net: Network;
beforeAll(async () => {
  device = await testDevice();
  net = await Network.create(device, PROBE, heNormalWeights(PROBE));
});
afterAll(() => {
  net?.dispose();
  device?.destroy();
});

function pngRoundTrip(width: number, height: number, seed: number) {
  const img = syntheticPhoto(width, height, seed);
  const png = new PNG({ width, height });
  png.data = Buffer.from(img.data);
  const file = PNG.sync.write(png);
  const decoded = PNG.sync.read(file);
  return { width: decoded.width, height: decoded.height, data: new Uint8Array(decoded.data) };
}

/** Keras: x = img_to_array(img)[..., ::-1] (BGR); x[..., c] -= mean[c], in float32. */
function kerasPreprocess(rgb: Uint8Array): Float32Array {
  const mean = [103.939, 116.779, 123.68];
  const out = new Float32Array(rgb.length);
  for (let i = 0; i < rgb.length; i += 3) for (let c = 0; c < 3; c++) out[i + c] = Math.fround(rgb[i + 2 - c] - Math.fround(mean[c]));
  return out;
}

describe('PNG → preprocess equals Pillow nearest + preprocess_input, element for element', () => {
  it.each([
    [320, 240],
    [500, 375],
    [224, 224],
    [97, 61],
    [1031, 769],
  ])('%i×%i', async (width, height) => {
    const image = pngRoundTrip(width, height, width + height);
    const { tensors, probabilities } = await net.forward(image, { read: [INPUT_TENSOR] });
    const got = tensors.get(INPUT_TENSOR)!;
    const want = kerasPreprocess(pilNearestResizeRgb(image.data, width, height, 224, 224));
    expect(got.length).toBe(224 * 224 * 3);
    let mismatches = 0;
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) mismatches++;
    expect(mismatches).toBe(0);
    // The image path feeds the network: the model's output is the pool of exactly this input.
    expect(probabilities).toEqual(new Float32Array(maxPool2x2Ref({ n: 1, h: 224, w: 224, c: 3 }, want)));
  });
});
