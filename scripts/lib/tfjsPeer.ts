// The benchmark peer: the same VGG16 forward and Grad-CAM written with TensorFlow.js ops, run on its
// WebGPU backend (on the same adapter as ours) or its WASM backend (the CPU baseline).
import { createRequire } from 'node:module';
import type { ModelSpec } from '../../src/engine/model.js';
import { requestNodeAdapter } from '../../src/engine/node.js';

const require = createRequire(import.meta.url);
type Tf = typeof import('@tensorflow/tfjs-core');
type Tensor = import('@tensorflow/tfjs-core').Tensor;
type Tensor4D = import('@tensorflow/tfjs-core').Tensor4D;
type Tensor2D = import('@tensorflow/tfjs-core').Tensor2D;
type Scalar = import('@tensorflow/tfjs-core').Scalar;

const tf = require('@tensorflow/tfjs') as Tf;

export type PeerBackend = 'webgpu' | 'wasm';

/** Switches TF.js to a backend; WebGPU in Node gets Dawn's GPU object as navigator.gpu. */
export async function usePeerBackend(backend: PeerBackend): Promise<Tf> {
  if (backend === 'webgpu') {
    if (!(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) {
      const { gpu } = await requestNodeAdapter();
      Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: 'node' }, configurable: true });
    }
    require('@tensorflow/tfjs-backend-webgpu');
  } else {
    require('@tensorflow/tfjs-backend-wasm');
  }
  if (!(await tf.setBackend(backend))) throw new Error(`TensorFlow.js backend '${backend}' could not be initialised`);
  await tf.ready();
  return tf;
}

export class TfjsVgg {
  private readonly w = new Map<string, Tensor>();

  constructor(
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

  private layer(l: ModelSpec['layers'][number], x: Tensor, logits = false): Tensor {
    switch (l.kind) {
      case 'conv3x3': {
        const k = tf.reshape(this.w.get(`${l.name}/kernel`)!, [3, 3, x.shape[3]!, l.filters]) as Tensor4D;
        return tf.relu(tf.add(tf.conv2d(x as Tensor4D, k, 1, 'same'), this.w.get(`${l.name}/bias`)!));
      }
      case 'maxpool2x2':
        return tf.maxPool(x as Tensor4D, 2, 2, 'valid');
      case 'flatten':
        return tf.reshape(x, [1, -1]);
      case 'dense': {
        const k = tf.reshape(this.w.get(`${l.name}/kernel`)!, [x.shape[1]!, l.units]) as Tensor2D;
        const z = tf.add(tf.matMul(x as Tensor2D, k), this.w.get(`${l.name}/bias`)!);
        if (l.activation === 'relu') return tf.relu(z);
        return l.activation === 'softmax' && !logits ? tf.softmax(z) : z;
      }
    }
  }

  /** Probabilities for a preprocessed NHWC input, read back. */
  async forward(input: Float32Array): Promise<Float32Array> {
    const p = tf.tidy(() => this.model.layers.reduce((x, l) => this.layer(l, x), tf.tensor4d(input, [1, ...this.model.inputShape]) as Tensor));
    const out = (await p.data()) as Float32Array;
    p.dispose();
    return out;
  }

  /** The recipe's heatmap (via tf.grad of the softmax score w.r.t. the layer's output), read back. */
  async gradcam(input: Float32Array, layer: string, classIndex?: number): Promise<{ heatmap: Float32Array; classIndex: number }> {
    const at = this.model.layers.findIndex((l) => l.name === layer);
    // The top-1 class needs one readback (WebGPU has no synchronous reads in Node).
    let c = classIndex;
    if (c === undefined) {
      const top = tf.tidy(() => tf.argMax(this.model.layers.reduce((x, l) => this.layer(l, x), tf.tensor4d(input, [1, ...this.model.inputShape]) as Tensor), 1));
      c = ((await top.data()) as Int32Array)[0];
      top.dispose();
    }
    const cls = c;
    const result = tf.tidy(() => {
      let a: Tensor = tf.tensor4d(input, [1, ...this.model.inputShape]);
      for (const l of this.model.layers.slice(0, at + 1)) a = this.layer(l, a);
      const rest = this.model.layers.slice(at + 1);
      const c = cls;
      const score = (x: Tensor) => tf.reshape(tf.slice(rest.reduce((y, l) => this.layer(l, y), x), [0, c], [1, 1]), []) as Scalar;
      const g = tf.grad(score)(a);
      const alpha = tf.mean(g, [0, 1, 2]);
      const raw = tf.mean(tf.mul(a, alpha), -1);
      const pos = tf.relu(raw);
      const max = tf.max(pos);
      const heat = tf.where(tf.greater(max, 0), tf.div(pos, tf.maximum(max, 1e-30)), tf.zerosLike(pos));
      return { heat, c };
    });
    const heatmap = (await result.heat.data()) as Float32Array;
    result.heat.dispose();
    return { heatmap, classIndex: result.c };
  }

  dispose(): void {
    for (const t of this.w.values()) t.dispose();
  }
}
