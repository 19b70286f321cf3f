// The tuning cache in Node: one JSON file of tables keyed by adapter/kernel set and model, under
// $GRADCAM_CACHE_DIR, $XDG_CACHE_HOME/gradcam-webgpu or ~/.cache/gradcam-webgpu. Written atomically
// (temp file + rename), so an interrupted run never leaves a half-written cache.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TuningStore, TuningTable } from '../../engine/tuning.js';

export function defaultTuningPath(): string {
  const dir = process.env.GRADCAM_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'gradcam-webgpu');
  return join(dir, 'tuning.json');
}

type CacheFile = { tables: Record<string, TuningTable> };

function readCache(path: string): CacheFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { tables: {} };
  }
  try {
    const parsed = JSON.parse(text) as Partial<CacheFile>;
    return { tables: parsed.tables && typeof parsed.tables === 'object' ? parsed.tables : {} };
  } catch {
    // A damaged cache only costs a re-tune; it is replaced on the next write.
    return { tables: {} };
  }
}

export function fileTuningStore(path = defaultTuningPath()): TuningStore {
  const id = (key: string, model: string) => `${model}|${key}`;
  return {
    where: path,
    async read(key, model) {
      return readCache(path).tables[id(key, model)];
    },
    async write(table) {
      const cache = readCache(path);
      cache.tables[id(table.key, table.model)] = table;
      mkdirSync(dirname(path), { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      try {
        writeFileSync(tmp, `${JSON.stringify(cache, null, 1)}\n`);
        renameSync(tmp, path);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw new Error(`could not write the tuning cache ${path}: ${(err as Error).message}; set GRADCAM_CACHE_DIR to a writable directory or pass --tune off`);
      }
    },
  };
}
