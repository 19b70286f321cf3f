// An independent implementation of the Keras VGG semantics: TensorFlow.js ops on its CPU backend
// (plain JS float32 kernels, not our code). The layer list only tells it which Keras op comes next;
// shapes come from TF.js itself. The WASM backend is deliberately not used: it breaks max-pool
// gradient ties differently from TensorFlow, which matters once gradients are compared.
import { camNormalizeRef, camRawRef, type GradientMethodRef } from '../kernels/cam.ref.js';
import { createRequire } from 'node:module';

// TF.js' CommonJS build loads the same way under vitest, tsx and plain Node (its ESM build relies on
// directory imports that Node refuses); the @tensorflow/tfjs bundle registers the CPU backend and every
// gradient, sharing one @tensorflow/tfjs-core instance with any other backend package.
const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs') as typeof import('@tensorflow/tfjs-core');
type Tensor = import('@tensorflow/tfjs-core').Tensor;
type Scalar = import('@tensorflow/tfjs-core').Scalar;
import type { ModelSpec } from '../engine/model.js';
import { tfjsVggLayer } from './tfjsVgg.js';

let ready: Promise<boolean> | undefined;

export async function tfjsCpu(): Promise<typeof tf> {
  // Production mode silences TF.js' "looks like you are running TensorFlow.js in Node.js" banner,
  // which users of `verify` read as a problem; it changes no arithmetic.
  tf.enableProdMode();
  ready ??= tf.setBackend('cpu');
  await ready;
  return tf;
}

/** Every layer's output (and 'predictions/logits'), keyed by Keras layer name. */
export async function tfjsForward(
  model: ModelSpec,
  weights: ReadonlyMap<string, Float32Array>,
  input: Float32Array,
): Promise<Map<string, Float32Array>> {
  await tfjsCpu();
  const out = new Map<string, Float32Array>();
  const w = (name: string, shape: number[]) => tf.tensor(weights.get(name)!, shape, 'float32');
  let x: Tensor = tf.tensor4d(input, [1, ...model.inputShape]);
  for (const layer of model.layers) {
    const prev = x;
    // tidy: the layer's weight tensors go with its intermediates.
    if (layer.kind === 'dense' && layer.activation === 'softmax') {
      const z = tf.tidy(() => tfjsVggLayer(tf, layer, prev, w, true));
      out.set(`${layer.name}/logits`, z.dataSync() as Float32Array);
      x = tf.softmax(z);
      z.dispose();
    } else {
      x = tf.tidy(() => tfjsVggLayer(tf, layer, prev, w));
    }
    out.set(layer.name, x.dataSync() as Float32Array);
    if (prev !== x) prev.dispose();
  }
  x.dispose();
  return out;
}

/**
 * TF.js gradient of the Grad-CAM score w.r.t. a layer's output: the forward runs on TF.js to the
 * target, then tf.grad differentiates the rest of the network (score 'prob': softmax output of the
 * class; 'logit': its logit).
 */
export async function tfjsGradient(
  model: ModelSpec,
  weights: ReadonlyMap<string, Float32Array>,
  input: Float32Array,
  layer: string,
  classIndex: number,
  score: 'prob' | 'logit',
  /** The target layer's output, when already computed (skips the forward up to it). */
  activation?: Float32Array,
): Promise<{ gradient: Float32Array; activation: Float32Array }> {
  await tfjsCpu();
  const w = (name: string, shape: number[]) => tf.tensor(weights.get(name)!, shape, 'float32');
  const at = model.layers.findIndex((l) => l.name === layer);
  return tf.tidy(() => {
    let a: Tensor;
    if (activation) {
      let shape: number[] = [1, ...model.inputShape];
      for (const l of model.layers.slice(0, at + 1)) shape = l.kind === 'maxpool2x2' ? [1, shape[1] >> 1, shape[2] >> 1, shape[3]] : l.kind === 'conv3x3' ? [1, shape[1], shape[2], l.filters] : shape;
      a = tf.tensor4d(activation, shape as [number, number, number, number]);
    } else {
      a = tf.tensor4d(input, [1, ...model.inputShape]);
      for (const l of model.layers.slice(0, at + 1)) a = tfjsVggLayer(tf, l, a, w);
    }
    const rest = model.layers.slice(at + 1);
    const scoreOf = (x: Tensor) => {
      let y = x;
      for (const l of rest) y = tfjsVggLayer(tf, l, y, w, score === 'logit');
      return tf.reshape(tf.slice(y, [0, classIndex], [1, 1]), []) as Scalar;
    };
    const g = tf.grad(scoreOf)(a);
    return { gradient: g.dataSync() as Float32Array, activation: a.dataSync() as Float32Array };
  });
}

/** A CAM method's normalised map in float64 from an activation and its gradient (both [positions, channels]). */
export function camHeatmapReference(
  method: GradientMethodRef,
  shape: { positions: number; channels: number },
  activation: Float32Array,
  gradient: Float32Array,
  eigenSmooth = false,
): Float32Array {
  return Float32Array.from(camNormalizeRef(camRawRef(method, shape, activation, gradient, eigenSmooth)).heat);
}
