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
type GradSaveFunc = import('@tensorflow/tfjs-core').GradSaveFunc;
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

/**
 * How the backward treats every ReLU of the network (the 'relu' activations of conv and dense layers;
 * max-pool and softmax always keep their true gradients): 'plain' is the true gradient, dy·[x > 0];
 * 'guided' (Springenberg et al., guided backpropagation) passes dy only where x > 0 and dy > 0;
 * 'deconvnet' (Zeiler & Fergus) passes it only where dy > 0, whatever the forward input was.
 */
export type ReluRule = 'plain' | 'guided' | 'deconvnet';

export interface InputGradientOptions {
  classIndex: number;
  /** 'prob': the class's softmax output; 'logit': its pre-softmax value ('predictions/logits'). */
  score: 'prob' | 'logit';
  rule: ReluRule;
}

/** A ReLU whose backward follows the rule: tf.customGrad, saving the forward input for 'guided'. */
function ruleRelu(rule: Exclude<ReluRule, 'plain'>): (x: Tensor) => Tensor {
  const relu = tf.customGrad((...args: (Tensor | GradSaveFunc)[]) => {
    const x = args[0] as Tensor;
    (args[1] as GradSaveFunc)([x]);
    return {
      value: tf.relu(x),
      gradFunc: (dy: Tensor, saved: Tensor[]) =>
        // step(v) is 1 where v > 0, else 0: the guided mask [x > 0]·[dy > 0]; the deconvnet one [dy > 0].
        rule === 'guided' ? tf.mul(tf.relu(dy), tf.step(saved[0])) : tf.relu(dy),
    };
  });
  return (x) => relu(x);
}

/**
 * The gradient of one class score w.r.t. the preprocessed input (NHWC [1, H, W, 3], BGR − mean: the
 * `input` tfjsForward takes), under a ReLU rule, by tf.valueAndGrad on the CPU backend. `gradient` has
 * the input's layout; `score` is the class's score (float32, as TF.js computed it).
 */
export async function tfjsInputGradient(
  model: ModelSpec,
  weights: ReadonlyMap<string, Float32Array>,
  input: Float32Array,
  options: InputGradientOptions,
): Promise<{ gradient: Float32Array; score: number }> {
  const per = model.inputShape[0] * model.inputShape[1] * model.inputShape[2];
  if (input.length !== per) throw new Error(`tfjsInputGradient: input has ${input.length} values, one ${model.inputShape.join('×')} row has ${per} (use tfjsInputGradients for a batch)`);
  await tfjsCpu();
  const { classIndex, score, rule } = options;
  // tfjsVggLayer takes the TF.js namespace: the same layers with the rule's ReLU swapped in.
  const ops: typeof tf = rule === 'plain' ? tf : { ...tf, relu: ruleRelu(rule) as typeof tf.relu };
  return tf.tidy(() => {
    const w = (name: string, shape: number[]) => tf.tensor(weights.get(name)!, shape, 'float32');
    const scoreOf = (x: Tensor) => {
      let y = x;
      for (const l of model.layers) y = tfjsVggLayer(ops, l, y, w, score === 'logit');
      return tf.reshape(tf.slice(y, [0, classIndex], [1, 1]), []) as Scalar;
    };
    const { value, grad } = tf.valueAndGrad(scoreOf)(tf.tensor4d(input, [1, ...model.inputShape]));
    return { gradient: grad.dataSync() as Float32Array, score: value.dataSync()[0] };
  });
}

/**
 * tfjsInputGradient for N rows ([N, H, W, 3] concatenated) with one class per row (or one class for
 * all): row by row, so each row's result is exactly the single-row one. `gradient` has the inputs'
 * layout; `scores[n]` is row n's score.
 */
export async function tfjsInputGradients(
  model: ModelSpec,
  weights: ReadonlyMap<string, Float32Array>,
  inputs: Float32Array,
  options: Omit<InputGradientOptions, 'classIndex'> & { classIndex: number | readonly number[] },
): Promise<{ gradient: Float32Array; scores: Float32Array }> {
  const per = model.inputShape[0] * model.inputShape[1] * model.inputShape[2];
  const rows = inputs.length / per;
  if (!Number.isInteger(rows) || rows < 1) throw new Error(`tfjsInputGradients: ${inputs.length} values is not a whole number of ${model.inputShape.join('×')} rows`);
  const classes = typeof options.classIndex === 'number' ? new Array<number>(rows).fill(options.classIndex) : options.classIndex;
  if (classes.length !== rows) throw new Error(`tfjsInputGradients: ${rows} rows but ${classes.length} classes`);
  const gradient = new Float32Array(inputs.length);
  const scores = new Float32Array(rows);
  for (let n = 0; n < rows; n++) {
    const r = await tfjsInputGradient(model, weights, inputs.subarray(n * per, (n + 1) * per), { ...options, classIndex: classes[n] });
    gradient.set(r.gradient, n * per);
    scores[n] = r.score;
  }
  return { gradient, scores };
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
