// Converter and loader on small synthetic Keras files in all three layouts: bit-exact round trips
// through shards into GPU buffers, and every bad input with its one-line error and nothing left behind.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelSpec } from '../src/engine/model.js';
import { loadWeightsFromDir } from '../src/hosts/node/weights.js';
import { convertKerasH5 } from '../src/hosts/node/keras/convert.js';
import { acceptedDtype } from '../src/hosts/node/keras/kerasH5.js';
import { writeSyntheticKerasH5 } from '../src/hosts/node/keras/syntheticH5.js';
import { readBack } from './support/gpu.js';
import { testDevice } from './support/nodeDevice.js';
import { TINY_VGG } from './support/tinyVgg.js';

const MODELS = { [TINY_VGG.name]: TINY_VGG };
// Small shards so that tensors straddle shard boundaries.
const SHARD = 4096;
let device: GPUDevice;
let dir: string;

beforeAll(async () => {
  device = await testDevice();
  dir = mkdtempSync(join(tmpdir(), 'gradcam-weights-'));
});
afterAll(() => {
  device?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function expectLoadsBitExact(outDir: string, weights: Map<string, Float32Array>) {
  const { weights: gpu } = await loadWeightsFromDir(device, outDir, { models: MODELS });
  try {
    for (const [name, data] of weights) {
      const got = await readBack(device, gpu.get(name));
      expect(new Uint32Array(got.buffer), name).toEqual(new Uint32Array(data.buffer, data.byteOffset, data.length));
    }
  } finally {
    gpu.destroy();
  }
}

const leftovers = (parent: string) => readdirSync(parent).filter((f) => /\.(tmp|old)-/.test(f));

describe('round trip: synthetic Keras file → converted shards → GPU buffers, bit for bit', () => {
  it.each(['keras1', 'keras2', 'keras3'] as const)('%s layout', async (layout) => {
    const h5 = join(dir, `tiny-${layout}.h5`);
    const weights = await writeSyntheticKerasH5(h5, TINY_VGG, { seed: 11, layout });
    const out = join(dir, `out-${layout}`);
    const result = await convertKerasH5(h5, out, { models: [TINY_VGG], shardBytes: SHARD });
    expect(result.manifest.source).toMatchObject({ layout });
    expect(result.manifest.shards.length).toBe(Math.ceil(result.bytes / SHARD));
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ format: 'gradcam-webgpu-weights', formatVersion: 1, model: 'tinyvgg', littleEndian: true });
    await expectLoadsBitExact(out, weights);
  });

  it('converts float64 datasets to float32 and says so', async () => {
    const h5 = join(dir, 'tiny-f64.h5');
    const weights = await writeSyntheticKerasH5(h5, TINY_VGG, { seed: 12, float64: true });
    const lines: string[] = [];
    const out = join(dir, 'out-f64');
    await convertKerasH5(h5, out, { models: [TINY_VGG], log: (l) => lines.push(l) });
    expect(lines.join('\n')).toMatch(/converting 8 float64 tensors to float32/);
    await expectLoadsBitExact(out, weights);
  });

  it('reports load progress up to every byte', async () => {
    const progress: number[] = [];
    const { weights, bytes } = await loadWeightsFromDir(device, join(dir, 'out-keras1'), { models: MODELS, onProgress: (p) => progress.push(p.loadedBytes) });
    weights.destroy();
    expect(progress.at(-1)).toBe(bytes);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });
});

describe('bad inputs: a one-line error naming file, layer and field; no output left behind', () => {
  const convertFails = async (h5: string, pattern: RegExp, models: readonly ModelSpec[] = [TINY_VGG]) => {
    const out = join(dir, 'never');
    await expect(convertKerasH5(h5, out, { models })).rejects.toThrow(pattern);
    expect(() => statSync(out)).toThrow();
    expect(leftovers(dir)).toEqual([]);
  };

  it('not an HDF5 file', async () => {
    const f = join(dir, 'notes.h5');
    writeFileSync(f, 'these are not weights, just text that is long enough to hold a superblock');
    await convertFails(f, /notes\.h5: not an HDF5 file/);
  });

  it('truncated file', async () => {
    const f = join(dir, 'cut.h5');
    copyFileSync(join(dir, 'tiny-keras1.h5'), f);
    truncateSync(f, Math.floor(statSync(f).size / 2));
    await convertFails(f, /cut\.h5: truncated: \d+ bytes, but its HDF5 superblock says \d+/);
  });

  it('a ResNet-like file (wrong layers)', async () => {
    const resnet: ModelSpec = {
      name: 'resnetish',
      inputShape: [8, 8, 3],
      layers: [
        { name: 'conv1', kind: 'conv3x3', filters: 4, activation: 'relu' },
        { name: 'res2a_branch2a', kind: 'conv3x3', filters: 4, activation: 'relu' },
        { name: 'avg_pool', kind: 'maxpool2x2' },
        { name: 'flatten', kind: 'flatten' },
        { name: 'fc1000', kind: 'dense', units: 10, activation: 'softmax' },
      ],
    };
    const f = join(dir, 'resnet.h5');
    await writeSyntheticKerasH5(f, resnet);
    await convertFails(f, /resnet\.h5: does not hold TINYVGG weights: its layers are conv1, res2a_branch2a, avg_pool, flatten, fc1000/);
  });

  it('a missing layer', async () => {
    const f = join(dir, 'nofc1.h5');
    await writeSyntheticKerasH5(f, { ...TINY_VGG, layers: TINY_VGG.layers.filter((l) => l.name !== 'fc1') });
    await convertFails(f, /nofc1\.h5: layer 'fc1' missing \(TINYVGG needs block1_conv1, /);
  });

  it('the notop file is named as such', async () => {
    const f = join(dir, 'notop.h5');
    await writeSyntheticKerasH5(f, { ...TINY_VGG, layers: TINY_VGG.layers.slice(0, 4) });
    await convertFails(f, /this looks like the 'notop' file/);
  });

  it('a wrong shape', async () => {
    const f = join(dir, 'shape.h5');
    await writeSyntheticKerasH5(f, { ...TINY_VGG, layers: TINY_VGG.layers.map((l) => (l.name === 'fc1' ? { ...l, units: 31 } : l)) as ModelSpec['layers'] });
    await convertFails(f, /shape\.h5: \/fc1\/fc1_W_1:0 has shape 256×31, expected 256×32 \(fc1\/kernel\)/);
  });

  it('NaN weights are refused unless --allow-nonfinite', async () => {
    const f = join(dir, 'nan.h5');
    await writeSyntheticKerasH5(f, TINY_VGG, { edit: (w) => (w.get('fc1/kernel')![70] = Number.NaN) });
    await convertFails(f, /\/fc1\/fc1_W_1:0 \(fc1\/kernel\) holds non-finite values \(1 in rows 0\.\.256, first NaN at flat index 70\); pass --allow-nonfinite/);
    const out = join(dir, 'out-nan');
    await convertKerasH5(f, out, { models: [TINY_VGG], allowNonfinite: true });
    expect(readdirSync(out)).toContain('manifest.json');
  });

  it('float16 and other dtypes: refused, saying why', () => {
    expect(() => acceptedDtype('x.h5: /fc1/k', { type: 1, size: 2, littleEndian: true })).toThrow(/float16 is refused.*re-save the weights as float32/);
    expect(() => acceptedDtype('x.h5: /fc1/k', { type: 0, size: 4, littleEndian: true })).toThrow(/not floating point/);
    expect(() => acceptedDtype('x.h5: /fc1/k', { type: 1, size: 4, littleEndian: false })).toThrow(/big-endian/);
    expect(acceptedDtype('x', { type: 1, size: 8, littleEndian: true })).toBe('float64');
  });

  it('an outDir that holds files is refused without --force; an empty one is fine', async () => {
    const h5 = join(dir, 'tiny-keras1.h5');
    const full = join(dir, 'full');
    mkdirSync(full);
    writeFileSync(join(full, 'precious.txt'), 'keep me');
    await expect(convertKerasH5(h5, full, { models: [TINY_VGG] })).rejects.toThrow(/full: already holds files; pass --force/);
    expect(readFileSync(join(full, 'precious.txt'), 'utf8')).toBe('keep me');
    await convertKerasH5(h5, full, { models: [TINY_VGG], force: true });
    expect(readdirSync(full)).toContain('manifest.json');
    expect(readdirSync(full)).not.toContain('precious.txt');
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await convertKerasH5(h5, empty, { models: [TINY_VGG] });
    expect(readdirSync(empty)).toContain('manifest.json');
    expect(leftovers(dir)).toEqual([]);
  });

  it('a failed conversion never clobbers a good outDir', async () => {
    const good = join(dir, 'out-keras1');
    const before = readFileSync(join(good, 'manifest.json'), 'utf8');
    await expect(convertKerasH5(join(dir, 'nan.h5'), good, { models: [TINY_VGG], force: true })).rejects.toThrow(/non-finite/);
    expect(readFileSync(join(good, 'manifest.json'), 'utf8')).toBe(before);
    expect(leftovers(dir)).toEqual([]);
  });

  it('a truncated or altered shard is caught when loading', async () => {
    const out = join(dir, 'out-damaged');
    await convertKerasH5(join(dir, 'tiny-keras1.h5'), out, { models: [TINY_VGG], shardBytes: SHARD });
    const shard = join(out, 'shard-001.bin');
    const bytes = readFileSync(shard);
    bytes[100] ^= 0xff;
    writeFileSync(shard, bytes);
    await expect(loadWeightsFromDir(device, out, { models: MODELS })).rejects.toThrow(/shard-001\.bin: sha256 [0-9a-f]{64} does not match manifest\.json/);
    // Skipping verification (documented flag) loads the damaged bytes as they are.
    const { weights } = await loadWeightsFromDir(device, out, { models: MODELS, verify: false });
    weights.destroy();
    truncateSync(shard, 1000);
    await expect(loadWeightsFromDir(device, out, { models: MODELS })).rejects.toThrow(/shard-001\.bin: 1000 bytes, manifest\.json says 4096 \(truncated or altered\)/);
  });

  it('a missing weights directory says how to get weights', async () => {
    await expect(loadWeightsFromDir(device, join(dir, 'nothing-here'))).rejects.toThrow(/not found or has no manifest\.json: run 'npm run weights'/);
  });

  it('a manifest with a bad field names it', async () => {
    const out = join(dir, 'out-badfield');
    await convertKerasH5(join(dir, 'tiny-keras1.h5'), out, { models: [TINY_VGG] });
    const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    m.tensors[0].shape = [3, 3, 3, 9];
    writeFileSync(join(out, 'manifest.json'), JSON.stringify(m));
    await expect(loadWeightsFromDir(device, out, { models: MODELS })).rejects.toThrow(/manifest\.json: field 'tensors\['block1_conv1\/kernel'\]\.shape' is \[3,3,3,9\], tinyvgg needs \[3,3,3,8\]/);
  });
});
