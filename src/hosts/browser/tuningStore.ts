// The tuning cache in the browser: one localStorage entry per adapter/kernel set and model. Storage
// that is full or blocked (private windows) only means tuning runs again next time.
import type { TuningStore, TuningTable } from '../../engine/tuning.js';

const PREFIX = 'gradcam-webgpu/tuning/';

export function localStorageTuningStore(): TuningStore {
  const id = (key: string, model: string) => `${PREFIX}${model}|${key}`;
  return {
    where: 'localStorage',
    async read(key, model) {
      try {
        const text = globalThis.localStorage?.getItem(id(key, model));
        return text ? (JSON.parse(text) as TuningTable) : undefined;
      } catch {
        return undefined;
      }
    },
    async write(table) {
      try {
        globalThis.localStorage?.setItem(id(table.key, table.model), JSON.stringify(table));
      } catch {
        // Not stored: the next visit tunes again.
      }
    },
  };
}
