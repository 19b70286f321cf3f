import type { ModelSpec } from '../../src/engine/model.js';

/**
 * TINY_VGG with its fc1 and second pool taken out: two conv layers (both CAM targets, at two map sizes),
 * a pool and a softmax classifier, so every stage of the engine runs, at about half TINY_VGG's time per
 * run and fewer pipelines to compile on SwiftShader: for tests that run the engine many times (the soak)
 * or on several fresh devices (the device-loss tests).
 */
export const MICRO_VGG: ModelSpec = {
  name: 'microvgg',
  inputShape: [8, 8, 3],
  layers: [
    { name: 'block1_conv1', kind: 'conv3x3', filters: 4, activation: 'relu' },
    { name: 'block1_pool', kind: 'maxpool2x2' },
    { name: 'block2_conv1', kind: 'conv3x3', filters: 8, activation: 'relu' },
    { name: 'flatten', kind: 'flatten' },
    { name: 'predictions', kind: 'dense', units: 10, activation: 'softmax' },
  ],
};
