// TensorFlow.js in Node for the benchmark peer (src/bench/tfjsVgg.ts): the CommonJS bundle (it
// registers the gradients), with WebGPU on Dawn's adapter given to it as navigator.gpu.
import { createRequire } from 'node:module';
import type { PeerBackend } from './tfjsVgg.js';
import { requestNodeAdapter } from '../hosts/node/device.js';

const require = createRequire(import.meta.url);
type Tf = typeof import('@tensorflow/tfjs-core');

/** TF.js with `backend` selected. */
export async function nodePeer(backend: PeerBackend): Promise<Tf> {
  const tf = require('@tensorflow/tfjs') as Tf;
  tf.enableProdMode(); // no "running TensorFlow.js in Node.js" banner in the bench output
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
