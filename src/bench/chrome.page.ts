// The Chrome host of `npm run bench`: the configuration comes in the URL (?config=<json>), progress
// goes to the console (relayed by scripts/bench.ts), the report to window.__bench.
import { requestBrowserDevice } from '../hosts/browser/device.js';
import { VGG16, type ModelSpec } from '../engine/model.js';
import { localStorageTuningStore } from '../hosts/browser/tuningStore.js';
import { runBench, type BenchConfig, type BenchReport } from './run.js';
import type { PeerBackend } from './tfjsVgg.js';

/** What scripts/bench.ts passes: BenchConfig with the model named by input size. */
export type ChromeBenchConfig = Omit<BenchConfig, 'model'> & { size: number };

declare global {
  interface Window {
    __bench: { done: boolean; report?: BenchReport; error?: string };
  }
}

type Tf = typeof import('@tensorflow/tfjs-core');

window.__bench = { done: false };
const logEl = document.getElementById('log')!;
const log = (line: string) => {
  console.log(`bench: ${line}`);
  logEl.textContent += `${line}\n`;
};

async function peer(backend: PeerBackend): Promise<Tf> {
  const tf = (await import('@tensorflow/tfjs')) as unknown as Tf;
  if (backend === 'webgpu') {
    await import('@tensorflow/tfjs-backend-webgpu');
  } else {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // The dev server serves the package's .wasm files from node_modules.
    wasm.setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
  }
  if (!(await tf.setBackend(backend))) throw new Error(`TensorFlow.js backend '${backend}' could not be initialised`);
  await tf.ready();
  return tf;
}

async function main() {
  const config = JSON.parse(new URLSearchParams(location.search).get('config') ?? '{}') as ChromeBenchConfig;
  const model: ModelSpec = config.size === 224 ? VGG16 : { ...VGG16, name: `vgg16@${config.size}`, inputShape: [config.size, config.size, 3] };
  const device = await requestBrowserDevice(model);
  try {
    const report = await runBench(device, { name: 'chrome', log, peer, tuningStore: localStorageTuningStore() }, { ...config, model });
    window.__bench = { done: true, report };
  } finally {
    device.destroy();
  }
}

main().catch((e: unknown) => {
  const message = e instanceof Error ? e.message : String(e);
  logEl.className = 'error';
  log(`error: ${message}`);
  window.__bench = { done: true, error: message };
});
