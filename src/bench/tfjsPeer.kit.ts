// TensorFlow.js in the device kit (`npm run kit`, src/bench/kit.node.ts) for the benchmark peer
// (src/bench/tfjsVgg.ts): the kit is one bundled ES module, so TF.js comes in as ES modules, as in
// the browser peer (tfjs-core, its gradients, the two backends), not as the CommonJS bundle that
// src/bench/tfjsPeer.node.ts requires from node_modules. WebGPU gets Dawn's adapter as navigator.gpu;
// WASM reads its binaries from the kit's folder (Node has no threads for it: SIMD, else plain).
import type { PeerBackend } from './tfjsVgg.js';
import { requestNodeAdapter } from '../hosts/node/device.js';

type Tf = typeof import('@tensorflow/tfjs-core');

/** The .wasm files the WASM peer can load in Node (no threaded build: TF.js turns threads off there). */
export const KIT_WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm'] as const;

/** The peer of src/bench/run.ts's BenchHost, with the WASM binaries in `wasmDir`. */
export function kitPeer(wasmDir: string): (backend: PeerBackend) => Promise<Tf> {
  return async (backend) => {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-core/dist/register_all_gradients');
    tf.enableProdMode();
    if (backend === 'webgpu') {
      // The WebGPU backend registers itself on import only where navigator.gpu exists.
      if (!(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) {
        const { gpu } = await requestNodeAdapter();
        Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: 'node' }, configurable: true });
      }
      await import('@tensorflow/tfjs-backend-webgpu');
    } else {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const dir = wasmDir.endsWith('/') ? wasmDir : `${wasmDir}/`;
      // A folder prefix: TF.js appends the file name it picks (one of KIT_WASM_FILES in Node).
      wasm.setWasmPaths(dir);
    }
    if (!(await tf.setBackend(backend))) throw new Error(`TensorFlow.js backend '${backend}' could not be initialised`);
    await tf.ready();
    return tf;
  };
}
