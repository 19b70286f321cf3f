import type { ModelSpec } from '../../src/engine/model.js';

/** A VGG-shaped model small enough for fast converter and loader round trips. */
export const TINY_VGG: ModelSpec = {
  name: 'tinyvgg',
  inputShape: [16, 16, 3],
  layers: [
    { name: 'block1_conv1', kind: 'conv3x3', filters: 8, activation: 'relu' },
    { name: 'block1_pool', kind: 'maxpool2x2' },
    { name: 'block2_conv1', kind: 'conv3x3', filters: 16, activation: 'relu' },
    { name: 'block2_pool', kind: 'maxpool2x2' },
    { name: 'flatten', kind: 'flatten' },
    { name: 'fc1', kind: 'dense', units: 32, activation: 'relu' },
    { name: 'predictions', kind: 'dense', units: 10, activation: 'softmax' },
  ],
};
