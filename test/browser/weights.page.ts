// Loads a converted weights directory twice with the browser loader (network, then Cache Storage) and
// reports what it loaded on window.__weightsResult for test/chrome.test.ts to compare bit for bit.
import { requestBrowserDevice } from '../../src/hosts/browser/device.js';
import { loadWeightsFromUrl, WEIGHTS_CACHE } from '../../src/hosts/browser/weights.js';
import { readBack } from '../support/gpu.js';
import { TINY_VGG } from '../support/tinyVgg.js';

export interface WeightsPageResult {
  done: boolean;
  error?: string;
  loads: { cachedShards: number; bytes: number; progressEvents: number }[];
  /** Tensor bits as u32 arrays, from the second (cached) load. */
  tensors: Record<string, number[]>;
}

declare global {
  interface Window {
    __weightsResult: WeightsPageResult;
  }
}

const result: WeightsPageResult = { done: false, loads: [], tensors: {} };
window.__weightsResult = result;
const dir = new URLSearchParams(location.search).get('dir')!;

try {
  await caches.delete(WEIGHTS_CACHE);
  const device = await requestBrowserDevice(TINY_VGG);
  for (let i = 0; i < 2; i++) {
    let progressEvents = 0;
    const r = await loadWeightsFromUrl(device, dir, { models: { [TINY_VGG.name]: TINY_VGG }, onProgress: () => progressEvents++ });
    result.loads.push({ cachedShards: r.cachedShards, bytes: r.bytes, progressEvents });
    if (i === 1) for (const [name, b] of r.weights.buffers) result.tensors[name] = [...new Uint32Array((await readBack(device, b)).buffer)];
    r.weights.destroy();
  }
  device.destroy();
} catch (e) {
  result.error = e instanceof Error ? e.message : String(e);
} finally {
  document.getElementById('summary')!.textContent = result.error ?? 'done';
  result.done = true;
}
