// The small VGG-shaped model of the end-to-end CAM tests, and the planted network whose right answer
// is known without any framework.
import type { ModelSpec } from '../../src/engine/model.js';
import { heNormalWeights } from '../../src/engine/synthetic.js';

// A small VGG-shaped classifier over 32×32 images, big enough for several conv targets.
export const SMALL: ModelSpec = {
  name: 'smallvgg',
  inputShape: [32, 32, 3],
  layers: [
    { name: 'block1_conv1', kind: 'conv3x3', filters: 8, activation: 'relu' },
    { name: 'block1_conv2', kind: 'conv3x3', filters: 8, activation: 'relu' },
    { name: 'block1_pool', kind: 'maxpool2x2' },
    { name: 'block2_conv1', kind: 'conv3x3', filters: 16, activation: 'relu' },
    { name: 'block2_conv2', kind: 'conv3x3', filters: 16, activation: 'relu' },
    { name: 'block2_pool', kind: 'maxpool2x2' },
    { name: 'flatten', kind: 'flatten' },
    { name: 'fc1', kind: 'dense', units: 64, activation: 'relu' },
    { name: 'predictions', kind: 'dense', units: 1000, activation: 'softmax' },
  ],
};

// Every conv layer passes channel 0 straight through (centre tap 1 from input channel 0 to output
// channel 0; input channel 0 is the preprocessed RED channel, since BGR puts R last we tap channel
// 2 in the first layer). Black background: R − 123.68 < 0, so ReLU zeroes it; a red square survives.
// The classifier scores the sum of channel 0 for class 0. So dscore/dA is positive exactly where the
// square is (max-pool routing keeps it there), and the map is the square, downsampled.
export function planted(model: ModelSpec): Map<string, Float32Array> {
  const w = heNormalWeights(model, { seed: 1 });
  for (const [name, t] of w) t.fill(0), void name;
  let first = true;
  for (const l of model.layers) {
    if (l.kind !== 'conv3x3') continue;
    const k = w.get(`${l.name}/kernel`)!;
    const cIn = k.length / (9 * l.filters);
    k[(4 * cIn + (first ? 2 : 0)) * l.filters + 0] = 1;
    first = false;
  }
  const fc1 = w.get('fc1/kernel')!;
  const [ph, pw, pc] = [8, 8, 16];
  for (let p = 0; p < ph * pw; p++) fc1[(p * pc + 0) * 64 + 0] = 1;
  w.get('predictions/kernel')![0 * 1000 + 0] = 0.001;
  return w;
}

export function squareImage(x0: number, y0: number, size: number) {
  const W = 64;
  const H = 64;
  const data = new Uint8ClampedArray(W * H * 4);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const inside = x >= x0 && x < x0 + size && y >= y0 && y < y0 + size;
      data.set(inside ? [250, 20, 20, 255] : [0, 0, 0, 255], 4 * (y * W + x));
    }
  return { width: W, height: H, data };
}

