// The benchmark peer: the same VGG forward and Grad-CAM written with TensorFlow.js ops, on whichever
// backend the host selected (WebGPU on the same adapter as ours, or WASM as the CPU baseline). The
// TF.js namespace is passed in, so Node (CommonJS bundle) and the browser (ES modules) share this.
// TF.js is a devDependency: it is the yardstick, never part of the engine.
import type { ModelSpec } from '../engine/model.js';

type Tf = typeof import('@tensorflow/tfjs-core');
type Tensor = import('@tensorflow/tfjs-core').Tensor;
type Tensor4D = import('@tensorflow/tfjs-core').Tensor4D;
type Tensor2D = import('@tensorflow/tfjs-core').Tensor2D;
type Scalar = import('@tensorflow/tfjs-core').Scalar;

export type PeerBackend = 'webgpu' | 'wasm';

/**
 * One Keras VGG layer in TF.js ops (softmax layers give their logits when `logits`); `weight(name,
 * shape)` gives a layer's kernel or bias. Shared with the test reference (src/bench/tfjsReference.ts).
 */
export function tfjsVggLayer(tf: Tf, l: ModelSpec['layers'][number], x: Tensor, weight: (name: string, shape: number[]) => Tensor, logits = false): Tensor {
  switch (l.kind) {
    case 'conv3x3': {
      const k = weight(`${l.name}/kernel`, [3, 3, x.shape[3]!, l.filters]) as Tensor4D;
      return tf.relu(tf.add(tf.conv2d(x as Tensor4D, k, 1, 'same'), weight(`${l.name}/bias`, [l.filters])));
    }
    case 'maxpool2x2':
      return tf.maxPool(x as Tensor4D, 2, 2, 'valid');
    case 'flatten':
      return tf.reshape(x, [x.shape[0]!, -1]);
    case 'dense': {
      const k = weight(`${l.name}/kernel`, [x.shape[1]!, l.units]) as Tensor2D;
      const z = tf.add(tf.matMul(x as Tensor2D, k), weight(`${l.name}/bias`, [l.units]));
      if (l.activation === 'relu') return tf.relu(z);
      return l.activation === 'softmax' && !logits ? tf.softmax(z) : z;
    }
  }
}

export class TfjsVgg {
  private readonly w = new Map<string, Tensor>();

  constructor(
    private readonly tf: Tf,
    readonly model: ModelSpec,
    weights: ReadonlyMap<string, Float32Array>,
  ) {
    for (const l of model.layers) {
      if (l.kind !== 'conv3x3' && l.kind !== 'dense') continue;
      for (const suffix of ['kernel', 'bias']) {
        const data = weights.get(`${l.name}/${suffix}`)!;
        this.w.set(`${l.name}/${suffix}`, tf.tensor(data, undefined, 'float32'));
      }
    }
  }

  private layer(l: ModelSpec['layers'][number], x: Tensor): Tensor {
    return tfjsVggLayer(this.tf, l, x, (name, shape) => this.tf.reshape(this.w.get(name)!, shape));
  }

  private inputTensor(input: Float32Array): Tensor {
    const per = this.model.inputShape.reduce((a, b) => a * b, 1);
    return this.tf.tensor4d(input, [input.length / per, ...this.model.inputShape]);
  }

  /** Probabilities for preprocessed NHWC input (one or more images), read back. */
  async forward(input: Float32Array): Promise<Float32Array> {
    const p = this.tf.tidy(() => this.model.layers.reduce((x, l) => this.layer(l, x), this.inputTensor(input)));
    const out = (await p.data()) as Float32Array;
    p.dispose();
    return out;
  }

  /**
   * One forward, layer by layer, each timed by TF.js' profiler (GPU timestamps on WebGPU when the
   * device has them, so shader compilation is not counted). Kernel ms per Keras layer; undefined where
   * the backend cannot time kernels (TF.js then gives an error object instead of a number).
   */
  async profileLayers(input: Float32Array): Promise<{ layer: string; ms: number | undefined }[]> {
    const { tf } = this;
    const out: { layer: string; ms: number | undefined }[] = [];
    let x = this.inputTensor(input);
    for (const l of this.model.layers) {
      let y: Tensor | undefined;
      const t = await tf.time(() => {
        y = this.layer(l, x);
      });
      await y!.data();
      x.dispose();
      x = y!;
      out.push({ layer: l.name, ms: typeof t.kernelMs === 'number' ? t.kernelMs : undefined });
    }
    x.dispose();
    return out;
  }

  /** The recipe's heatmap (via tf.grad of the softmax score w.r.t. the layer's output), read back. */
  async gradcam(input: Float32Array, layer: string, classIndex?: number): Promise<{ heatmap: Float32Array; classIndex: number }> {
    const { tf } = this;
    const at = this.model.layers.findIndex((l) => l.name === layer);
    // The top-1 class needs one readback (WebGPU has no synchronous reads in Node).
    let c = classIndex;
    if (c === undefined) {
      const top = tf.tidy(() => tf.argMax(this.model.layers.reduce((x, l) => this.layer(l, x), this.inputTensor(input)), 1));
      c = ((await top.data()) as Int32Array)[0];
      top.dispose();
    }
    const cls = c;
    const heat = tf.tidy(() => {
      let a: Tensor = this.inputTensor(input);
      for (const l of this.model.layers.slice(0, at + 1)) a = this.layer(l, a);
      const rest = this.model.layers.slice(at + 1);
      const score = (x: Tensor) => tf.reshape(tf.slice(rest.reduce((y, l) => this.layer(l, y), x), [0, cls], [1, 1]), []) as Scalar;
      const g = tf.grad(score)(a);
      const alpha = tf.mean(g, [0, 1, 2]);
      const pos = tf.relu(tf.mean(tf.mul(a, alpha), -1));
      const max = tf.max(pos);
      return tf.where(tf.greater(max, 0), tf.div(pos, tf.maximum(max, 1e-30)), tf.zerosLike(pos));
    });
    const heatmap = (await heat.data()) as Float32Array;
    heat.dispose();
    return { heatmap, classIndex: cls };
  }

  dispose(): void {
    for (const t of this.w.values()) t.dispose();
  }
}
