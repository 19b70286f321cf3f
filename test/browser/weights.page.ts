// Loads a converted weights directory with the browser loader and reports on window.__weightsResult
// for test/chrome.test.ts and test/browser-weights.test.ts. Query:
//   dir=<url>   the weights directory
//   loads=<n>   loads in a row (default 2: the network, then Cache Storage)
//   keep=1      keep Cache Storage as it is (default: emptied first, as a first visit)
//   served=1    first ask servedWeights(dir) (the server's index.json), and load only if it lists dir
//   models=0    pass no models: the manifest's modelSpec must say what tinyvgg is
import { requestBrowserDevice } from '../../src/hosts/browser/device.js';
import { loadWeightsFromUrl, servedWeights, WEIGHTS_CACHE } from '../../src/hosts/browser/weights.js';
import { readBack } from '../support/gpu.js';
import { TINY_VGG } from '../support/tinyVgg.js';

export interface WeightsPageResult {
  done: boolean;
  error?: string;
  /** servedWeights(dir), as JSON ('undefined' when it returned undefined), with served=1. */
  served?: string;
  loads: { cachedShards: number; bytes: number; progressEvents: number; damaged: string[] }[];
  /** Tensor bits as u32 arrays, from the last load. */
  tensors: Record<string, number[]>;
  /** The keys in the loader's Cache Storage at the end (also after a failure). */
  cacheKeys: string[];
}

declare global {
  interface Window {
    __weightsResult: WeightsPageResult;
  }
}

const result: WeightsPageResult = { done: false, loads: [], tensors: {}, cacheKeys: [] };
window.__weightsResult = result;
const params = new URLSearchParams(location.search);
const dir = params.get('dir')!;

try {
  if (params.get('keep') !== '1') await caches.delete(WEIGHTS_CACHE);
  let load = true;
  if (params.get('served') === '1') {
    const served = await servedWeights(dir);
    result.served = served === undefined ? 'undefined' : JSON.stringify(served);
    load = served !== null;
  }
  if (load) {
    const device = await requestBrowserDevice(TINY_VGG);
    const loads = Number(params.get('loads') ?? 2);
    try {
      for (let i = 0; i < loads; i++) {
        let progressEvents = 0;
        const models = params.get('models') === '0' ? undefined : { [TINY_VGG.name]: TINY_VGG };
        const r = await loadWeightsFromUrl(device, dir, { models, onProgress: () => progressEvents++ });
        result.loads.push({ cachedShards: r.cachedShards, bytes: r.bytes, progressEvents, damaged: r.damaged.map((d) => d.file) });
        if (i === loads - 1) for (const [name, b] of r.weights.buffers) result.tensors[name] = [...new Uint32Array((await readBack(device, b)).buffer)];
        r.weights.destroy();
      }
    } finally {
      device.destroy();
    }
  }
} catch (e) {
  result.error = e instanceof Error ? e.message : String(e);
} finally {
  const cache = await caches.open(WEIGHTS_CACHE);
  result.cacheKeys = (await cache.keys()).map((r) => r.url);
  document.getElementById('summary')!.textContent = result.error ?? 'done';
  result.done = true;
}
