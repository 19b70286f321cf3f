// TensorFlow.js in a browser page for the benchmark peer (src/bench/tfjsVgg.ts), shared by the Chrome
// host of `npm run bench` (src/bench/chrome.page.ts) and the bench page (src/app/bench.ts). Everything
// is imported dynamically, so TF.js is fetched only when the peer runs and never reaches the demo
// page's bundle. tfjs-core and its gradients (tf.grad needs them registered) rather than the full
// @tensorflow/tfjs, which would add layers, the converter and the CPU backend, none of which the peer uses.
import type { PeerBackend } from './tfjsVgg.js';

type Tf = typeof import('@tensorflow/tfjs-core');

/** TF.js with `backend` selected (WebGPU asks navigator.gpu for its own device on the same adapter). */
export async function browserPeer(backend: PeerBackend): Promise<Tf> {
  const tf = await import('@tensorflow/tfjs-core');
  // After the core, never beside it: a production build puts the gradients in a chunk of their own
  // that does not import the core's flags, and registering a gradient reads the DEBUG flag.
  await import('@tensorflow/tfjs-core/dist/register_all_gradients');
  if (backend === 'webgpu') {
    await import('@tensorflow/tfjs-backend-webgpu');
  } else {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // The .wasm binaries as assets of this build (vite's ?url: served by the dev server, copied into a
    // production build), one per CPU capability; TF.js picks threaded SIMD only on cross-origin
    // isolated pages, else SIMD, else plain.
    const [plain, simd, threadedSimd] = await Promise.all([
      import('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url'),
      import('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url'),
      import('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url'),
    ]);
    wasm.setWasmPaths({
      'tfjs-backend-wasm.wasm': plain.default,
      'tfjs-backend-wasm-simd.wasm': simd.default,
      'tfjs-backend-wasm-threaded-simd.wasm': threadedSimd.default,
    });
  }
  if (!(await tf.setBackend(backend))) throw new Error(`TensorFlow.js backend '${backend}' could not be initialised`);
  await tf.ready();
  return tf;
}
