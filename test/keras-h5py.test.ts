// The converter on Keras weight files written by h5py itself, the way Keras writes them, in every layout
// Keras has used for VGG16 (the fixtures of test/weights.test.ts come from our own h5wasm writer, which
// only proves that our writer and our reader agree). Weights are made here (heNormalWeights), handed to
// Debian's /usr/bin/python3 as raw float32 files, and written by h5py as the Keras version in question
// would: Keras 1 (the official VGG16/VGG19 files, written by h5py 2: fixed-length byte strings),
// Keras 2 `save_weights('x.h5')` and `save('x.h5')` (h5py 3: variable-length strings), Keras' split
// attributes (`layer_names0`, `layer_names1`, … past HDF5_OBJECT_HEADER_LIMIT), and Keras 3
// `.weights.h5` in its successive namings. After conversion every tensor must equal its source bit for
// bit; a full-size VGG16 written by h5py must give the same shards (byte for byte, so the same loads and
// probabilities) as the same weights written by our own writer.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import h5wasm, { File as H5File, Group } from 'h5wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inferShapes, VGG16, type ModelSpec } from '../src/engine/model.js';
import { heNormalWeights } from '../src/engine/synthetic.js';
import type { WeightsManifest } from '../src/engine/weights/format.js';
import { convertKerasH5 } from '../src/hosts/node/keras/convert.js';
import { asciiAsUtf8 } from '../src/hosts/node/keras/kerasH5.js';
import { writeSyntheticKerasH5 } from '../src/hosts/node/keras/syntheticH5.js';
import { TINY_VGG } from './support/tinyVgg.js';

// Debian's python3 with python3-h5py and python3-numpy (not a pyenv shim on PATH).
const PYTHON = '/usr/bin/python3';

// Writes one .h5 per job as the Keras version named by its layout would. Names and types follow Keras'
// code: keras/src/legacy/saving/legacy_h5_format.py (save_weights_to_hdf5_group,
// save_attributes_to_hdf5_group, HDF5_OBJECT_HEADER_LIMIT), Keras 1's Container.save_weights, and
// keras/src/saving/saving_lib.py (H5IOStore, _save_container_state) for `.weights.h5`.
const WRITER = `
import json, sys
import numpy as np
import h5py

spec = json.load(open(sys.argv[1], encoding='utf-8'))
HDF5_OBJECT_HEADER_LIMIT = 64512

def values(layer):
    return [np.fromfile(w['file'], dtype='<f4').reshape(w['shape']) for w in layer['weights']]

def save_attributes(group, name, data, limit):
    # Keras: if the array of names is larger than the limit, split it into equal parts name0, name1, ...
    whole = np.asarray(data)
    parts = 1
    chunks = np.array_split(whole, parts)
    while any(c.nbytes > limit for c in chunks):
        parts += 1
        chunks = np.array_split(whole, parts)
    if parts == 1:
        group.attrs[name] = data
    else:
        for i, c in enumerate(chunks):
            group.attrs[name + str(i)] = c

def names_value(names, kind):
    # What Keras hands h5py is a list of bytes; an empty list becomes an empty float64 array either way.
    if not names:
        return []
    if kind == 'fixed':      # h5py 2 turned a list of bytes into a fixed-length (S) array
        return np.array([n.encode('utf8') for n in names])
    if kind == 'bytes':      # h5py 3 stores it as variable-length ASCII strings
        return [n.encode('utf8') for n in names]
    if kind == 'vlen-utf8':  # dtype=h5py.string_dtype(): variable-length UTF-8
        return np.array(names, dtype=h5py.string_dtype())
    raise ValueError(kind)

def dataset(group, name, value):
    d = group.create_dataset(name, value.shape, dtype=value.dtype)
    d[...] = value

def keras1(f, o, layers):
    # Keras 1 Container.save_weights: model order, weights named by the backend variable, in the layer group.
    names = (['input_1'] if o.get('inputLayer') else []) + [l['name'] for l in layers]
    by_name = {l['name']: l for l in layers}
    f.attrs['layer_names'] = names_value(names, 'fixed')
    if o.get('versionAttrs'):
        f.attrs['backend'] = np.bytes_(o.get('backend', 'tensorflow').encode())
        f.attrs['keras_version'] = np.bytes_(b'1.2.2')
    for name in names:
        layer = by_name.get(name, {'weights': []})
        g = f.create_group(name)
        weight_names = [name + ('_W_1' if w['kind'] == 'kernel' else '_b_1') + o.get('suffix', '') + ':0' for w in layer['weights']]
        g.attrs['weight_names'] = names_value(weight_names, 'fixed')
        for n, v in zip(weight_names, values(layer)):
            dataset(g, n, v)

def keras2(f, o, layers):
    kind = o.get('strings', 'bytes')
    limit = o.get('limit', HDF5_OBJECT_HEADER_LIMIT)
    root = f
    if o.get('fullModel'):
        # model.save('x.h5'): metadata on the file, the weights in /model_weights, the optimizer's beside them.
        f.attrs['keras_version'] = '2.13.1'
        f.attrs['backend'] = 'tensorflow'
        f.attrs['model_config'] = json.dumps({'class_name': 'Functional', 'config': {'name': 'vgg16'}}).encode('utf8')
        f.attrs['training_config'] = json.dumps({'loss': 'categorical_crossentropy'}).encode('utf8')
        root = f.create_group('model_weights')
    names = ['input_1'] + [l['name'] for l in layers]
    by_name = {l['name']: l for l in layers}
    save_attributes(root, 'layer_names', names_value(names, kind), limit)
    if o.get('badLayerNames'):
        del root.attrs['layer_names']
        root.attrs['layer_names'] = np.arange(len(names))
    root.attrs['backend'] = o.get('backend', 'tensorflow').encode('utf8')
    root.attrs['keras_version'] = '2.13.1'.encode('utf8')
    for name in sorted(names):
        layer = by_name.get(name, {'weights': []})
        g = root.create_group(name)
        weight_names = [name + '/' + w['kind'] + o.get('suffix', '') + ':0' for w in layer['weights']]
        save_attributes(g, 'weight_names', names_value([] if name in o.get('noWeightNames', []) else weight_names, kind), limit)
        for n, v in zip(weight_names, values(layer)):
            dataset(g, n, v)
    save_attributes(root.create_group('top_level_model_weights'), 'weight_names', [], limit)
    if o.get('fullModel'):
        g = f.create_group('optimizer_weights')
        save_attributes(g, 'weight_names', names_value(['Adam/iter:0'], kind), limit)
        dataset(g, 'Adam/iter:0', np.array(120, dtype='int64'))

SNAKE = {'InputLayer': 'input_layer', 'Conv2D': 'conv2d', 'MaxPooling2D': 'max_pooling2d', 'Flatten': 'flatten', 'Dense': 'dense'}

def keras3(f, o, layers):
    # saving_lib: every saveable gets <path>/vars holding its variables as '0', '1', ...; the model's own
    # (none) at /vars; a container's members are named by class with counters (by layer name in Keras 2's
    # early saving_lib); newer Keras 3 puts the object's name on each vars group, and some versions create
    # no group for an object without variables.
    def entry(path, name, has_vars):
        if o.get('deferGroups') and not has_vars:
            return None
        g = f.create_group(path).create_group('vars') if path else f.create_group('vars')
        if o.get('nameAttrs'):
            g.attrs['name'] = name
        return g
    entry('', 'vgg16', False)
    container = o.get('container', 'layers')
    used = {}
    for layer in [{'name': 'input_layer', 'cls': 'InputLayer', 'weights': []}] + layers:
        if o.get('naming') == 'name':
            key = layer['name']
        else:
            key = SNAKE[layer['cls']]
            if key in used:
                used[key] += 1
                key = key + '_' + str(used[key])
            else:
                used[key] = 0
        g = entry(container + '/' + key, layer['name'], bool(layer['weights']))
        for i, v in enumerate(values(layer)):
            g[str(i)] = v
    if o.get('optimizer'):
        g = entry('optimizer', 'adam', True)
        g['0'] = np.array(120, dtype='int64')
        g['1'] = np.array(0.001, dtype='float32')

for job in spec['jobs']:
    with h5py.File(job['out'], 'w') as f:
        {'keras1': keras1, 'keras2': keras2, 'keras3': keras3}[job['writer']](f, job.get('options', {}), spec['layers'])
print('h5py', h5py.__version__, 'HDF5', h5py.version.hdf5_version, 'numpy', np.__version__)
`;

interface Job {
  name: string;
  writer: 'keras1' | 'keras2' | 'keras3';
  options?: Record<string, unknown>;
}

const KERAS_CLASS = { conv3x3: 'Conv2D', maxpool2x2: 'MaxPooling2D', flatten: 'Flatten', dense: 'Dense' } as const;

/** Raw float32 files for the weights and one h5py run writing every job's .h5 into dir. */
function writeWithH5py(dir: string, model: ModelSpec, weights: Map<string, Float32Array>, jobs: Job[]): { files: Map<string, string>; versions: string } {
  const check = spawnSync(PYTHON, ['-c', 'import h5py, numpy'], { encoding: 'utf8' });
  if (check.status !== 0)
    throw new Error(
      `${PYTHON} with h5py and numpy is needed to write the fixtures (${(check.stderr || String(check.error)).trim().split('\n').at(-1)}); ` +
        `install Debian's python3-h5py and python3-numpy (apt-get install python3-h5py python3-numpy)`,
    );
  const raw = join(dir, 'raw');
  mkdirSync(raw, { recursive: true });
  const layers = inferShapes(model).map((l) => ({
    name: l.layer.name,
    cls: KERAS_CLASS[l.layer.kind],
    weights: l.weights.map((w) => {
      const file = join(raw, `${w.name.replace('/', '__')}.f32`);
      const t = weights.get(w.name)!;
      writeFileSync(file, new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
      return { file, shape: w.shape, kind: w.name.endsWith('/kernel') ? 'kernel' : 'bias' };
    }),
  }));
  const files = new Map(jobs.map((j) => [j.name, join(dir, `${j.name}.h5`)]));
  const spec = join(dir, 'spec.json');
  writeFileSync(spec, JSON.stringify({ layers, jobs: jobs.map((j) => ({ ...j, out: files.get(j.name) })) }));
  const run = spawnSync(PYTHON, ['-c', WRITER, spec], { encoding: 'utf8', maxBuffer: 1 << 24 });
  rmSync(raw, { recursive: true, force: true });
  if (run.status !== 0) throw new Error(`h5py writer failed (exit ${run.status}):\n${run.stderr}`);
  return { files, versions: run.stdout.trim() };
}

/** Bytes [offset, offset + length) of the concatenated shards of a converted directory. */
function readConverted(dir: string, manifest: WeightsManifest, offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let shardStart = 0;
  let done = 0;
  for (const s of manifest.shards) {
    const shardEnd = shardStart + s.bytes;
    const from = offset + done;
    if (done < length && from < shardEnd) {
      const n = Math.min(shardEnd - from, length - done);
      const fd = openSync(join(dir, s.file), 'r');
      try {
        if (readSync(fd, out, done, n, from - shardStart) !== n) throw new Error(`${s.file}: short read`);
      } finally {
        closeSync(fd);
      }
      done += n;
    }
    shardStart = shardEnd;
  }
  if (done !== length) throw new Error(`${dir}: shards end before byte ${offset + length}`);
  return out;
}

const manifestOf = (dir: string): WeightsManifest => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));

/** Every converted tensor against its source, bit for bit; returns how many were compared. */
function expectTensorsBitExact(dir: string, weights: Map<string, Float32Array>): number {
  const manifest = manifestOf(dir);
  expect(manifest.tensors.map((t) => t.name)).toEqual([...weights.keys()]);
  for (const t of manifest.tensors) {
    const src = weights.get(t.name)!;
    const ok = readConverted(dir, manifest, t.offset, t.bytes).equals(Buffer.from(src.buffer, src.byteOffset, src.byteLength));
    expect(ok, `${t.name} bit for bit`).toBe(true);
  }
  return manifest.tensors.length;
}

interface AttrKind {
  /** HDF5 class: 0 integer, 1 float, 3 string. */
  type: number;
  size: number;
  vlen: boolean;
  /** Strings: 0 ASCII, 1 UTF-8. */
  cset?: number;
  shape: number[];
  /** What h5wasm's get_attribute returns for it. */
  value: unknown;
}

/** What an attribute is in the file, read with h5wasm directly (not through the converter). */
async function attrKinds(file: string, path: string): Promise<Record<string, AttrKind>> {
  await h5wasm.ready;
  const f = new H5File(file, 'r');
  try {
    const obj = path === '/' ? f : f.get(path);
    if (!(obj instanceof Group)) throw new Error(`${file}: no group ${path}`);
    const out: Record<string, AttrKind> = {};
    for (const [name, a] of Object.entries(obj.attrs)) {
      const m = a.metadata;
      out[name] = { type: m.type, size: m.size, vlen: m.vlen, ...(m.type === 3 ? { cset: m.cset } : {}), shape: a.shape ?? [], value: obj.get_attribute(name, false) };
    }
    return out;
  } finally {
    f.close();
  }
}

const FIXED = { type: 3, vlen: false, cset: 0 };
const VLEN_ASCII = { type: 3, vlen: true, cset: 0 };
const VLEN_UTF8 = { type: 3, vlen: true, cset: 1 };
const EMPTY_FLOAT64 = { type: 1, size: 8, shape: [0] };

// Every layout, with the layout the converter must report.
const TINY_JOBS: (Job & { layout: 'keras1' | 'keras2' | 'keras3'; what: string })[] = [
  { name: 'keras1-official', writer: 'keras1', layout: 'keras1', what: 'Keras 1 as the official VGG16/VGG19 files: layer_names only, fixed-length strings, empty float64 weight_names' },
  { name: 'keras1-input', writer: 'keras1', layout: 'keras1', options: { inputLayer: true, versionAttrs: true }, what: "Keras 1 with 'input_1' listed and fixed-length scalar backend/keras_version" },
  { name: 'keras1-utf8', writer: 'keras1', layout: 'keras1', options: { suffix: '_é€' }, what: "UTF-8 bytes in fixed-length strings (h5wasm decodes them with TextDecoder('ascii'))" },
  { name: 'keras2', writer: 'keras2', layout: 'keras2', what: "Keras 2 save_weights('x.h5') with h5py 3: variable-length ASCII strings" },
  { name: 'keras2-utf8-bytes', writer: 'keras2', layout: 'keras2', options: { suffix: '_é€' }, what: 'UTF-8 bytes in variable-length ASCII strings (h5wasm reads them as Latin-1)' },
  { name: 'keras2-fixed', writer: 'keras2', layout: 'keras2', options: { strings: 'fixed' }, what: 'Keras 2 save_weights with h5py 2: fixed-length strings' },
  { name: 'keras2-utf8', writer: 'keras2', layout: 'keras2', options: { strings: 'vlen-utf8' }, what: 'names as h5py.string_dtype() (variable-length UTF-8)' },
  { name: 'keras2-split', writer: 'keras2', layout: 'keras2', options: { limit: 40 }, what: 'layer_names0… and weight_names0… split as Keras splits past its header limit (limit 40 bytes here)' },
  { name: 'keras2-model', writer: 'keras2', layout: 'keras2', options: { fullModel: true }, what: "Keras 2 model.save('x.h5'): the weights under /model_weights" },
  { name: 'keras3', writer: 'keras3', layout: 'keras3', options: { optimizer: true }, what: 'Keras 3.0 .weights.h5: class names with counters, empty vars groups, /vars and /optimizer/vars' },
  { name: 'keras3-deferred', writer: 'keras3', layout: 'keras3', options: { deferGroups: true }, what: 'Keras 3 .weights.h5 without groups for layers without weights' },
  { name: 'keras3-named', writer: 'keras3', layout: 'keras3', options: { nameAttrs: true, optimizer: true }, what: "newer Keras 3 .weights.h5: each vars group has a scalar 'name' attribute" },
  { name: 'keras3-by-name', writer: 'keras3', layout: 'keras3', options: { naming: 'name' }, what: "Keras 2's early saving_lib .weights.h5: groups named by layer" },
  { name: 'keras2.13', writer: 'keras3', layout: 'keras3', options: { container: '_layer_checkpoint_dependencies' }, what: "Keras 2.13's .weights.h5 (as Keras 3's loader reads it): /_layer_checkpoint_dependencies instead of /layers" },
];

const SHARD = 4096;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gradcam-h5py-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Keras files written by h5py (a VGG-shaped model with tiny tensors): converted bit for bit', () => {
  let weights: Map<string, Float32Array>;
  let files: Map<string, string>;
  const ERROR_JOBS: Job[] = [
    { name: 'bad-layer-names', writer: 'keras2', options: { badLayerNames: true } },
    { name: 'no-weight-names', writer: 'keras2', options: { noWeightNames: ['fc1'] } },
    { name: 'theano', writer: 'keras1', options: { versionAttrs: true, backend: 'theano' } },
  ];

  beforeAll(() => {
    weights = heNormalWeights(TINY_VGG, { seed: 21 });
    const written = writeWithH5py(join(dir, 'tiny'), TINY_VGG, weights, [...TINY_JOBS, ...ERROR_JOBS]);
    files = written.files;
    console.log(`fixtures written by ${written.versions}`);
  });

  it.each(TINY_JOBS.map((j) => [`${j.name}: ${j.what}`, j] as const))('%s', async (_, job) => {
    const out = join(dir, 'tiny', `out-${job.name}`);
    const result = await convertKerasH5(files.get(job.name)!, out, { models: [TINY_VGG], shardBytes: SHARD });
    expect(result.manifest.source).toMatchObject({ layout: job.layout });
    expect(result.manifest.shards.length).toBeGreaterThan(1);
    expect(expectTensorsBitExact(out, weights)).toBe(8);
  });

  it("the reported bug: block1_pool's weight_names is an empty float64 array, and the Keras 1 file converts", async () => {
    // Before the fix: "layer 'block1_pool' has 1 weights (none), expected 0 (kernel, bias)".
    const file = files.get('keras1-official')!;
    const pool = await attrKinds(file, '/block1_pool');
    expect(pool.weight_names).toMatchObject(EMPTY_FLOAT64);
    expect(pool.weight_names.value).toBeInstanceOf(Float64Array);
    const out = join(dir, 'tiny', 'out-bug');
    await expect(convertKerasH5(file, out, { models: [TINY_VGG] })).resolves.toMatchObject({ manifest: { model: 'tinyvgg' } });
    expectTensorsBitExact(out, weights);
  });

  it('the fixtures hold what h5py stores for each kind of attribute (as h5wasm reads it)', async () => {
    const at = async (job: string, path = '/') => attrKinds(files.get(job)!, path);
    // Keras 1 / h5py 2: fixed-length byte strings; a layer without weights: an empty float64 array.
    const k1 = await at('keras1-official');
    expect(Object.keys(k1)).toEqual(['layer_names']);
    expect(k1.layer_names).toMatchObject({ ...FIXED, size: 'block1_conv1'.length, shape: [7] });
    expect(k1.layer_names.value).toEqual(TINY_VGG.layers.map((l) => l.name));
    expect((await at('keras1-official', '/fc1')).weight_names).toMatchObject({ ...FIXED, shape: [2], value: ['fc1_W_1:0', 'fc1_b_1:0'] });
    // Fixed-length scalars (numpy bytes_).
    const k1i = await at('keras1-input');
    expect(k1i.backend).toMatchObject({ ...FIXED, shape: [], value: 'tensorflow' });
    expect(k1i.layer_names.value).toEqual(['input_1', ...TINY_VGG.layers.map((l) => l.name)]);
    expect((await at('keras1-input', '/input_1')).weight_names).toMatchObject(EMPTY_FLOAT64);
    // h5py 3: a list of bytes is stored as variable-length ASCII strings; bytes scalars likewise.
    const k2 = await at('keras2');
    expect(k2.layer_names).toMatchObject({ ...VLEN_ASCII, shape: [8] });
    expect(k2.backend).toMatchObject({ ...VLEN_ASCII, shape: [], value: 'tensorflow' });
    expect((await at('keras2', '/block1_conv1')).weight_names).toMatchObject({ ...VLEN_ASCII, value: ['block1_conv1/kernel:0', 'block1_conv1/bias:0'] });
    expect((await at('keras2', '/top_level_model_weights')).weight_names).toMatchObject(EMPTY_FLOAT64);
    expect((await at('keras2-fixed')).layer_names).toMatchObject({ ...FIXED, shape: [8] });
    // UTF-8 bytes in strings flagged ASCII come back one character per byte (Keras decodes them as UTF-8):
    // variable-length ones as Latin-1, fixed-length ones through TextDecoder('ascii'), which is Latin-1 in
    // Node 20 and windows-1252 (0x82 → '‚') where Node follows the Encoding standard.
    const latin1 = (s: unknown) => (s as string).replace('\u201a', '\x82');
    expect(((await at('keras1-utf8', '/fc1')).weight_names.value as string[]).map(latin1)).toEqual(['fc1_W_1_Ã©â\x82¬:0', 'fc1_b_1_Ã©â\x82¬:0']);
    expect((await at('keras2-utf8-bytes', '/fc1')).weight_names.value).toEqual(['fc1/kernel_Ã©â\x82¬:0', 'fc1/bias_Ã©â\x82¬:0']);
    // The converter maps either back to the bytes: é is C3 A9, € is E2 82 AC.
    expect(asciiAsUtf8('fc1_W_1_Ã©â\x82¬:0')).toBe('fc1_W_1_é€:0');
    expect(asciiAsUtf8('fc1_W_1_Ã©â\u201a¬:0')).toBe('fc1_W_1_é€:0');
    expect(asciiAsUtf8('block1_conv1')).toBe('block1_conv1');
    // h5py.string_dtype(): variable-length UTF-8; a Python str scalar likewise.
    expect((await at('keras2-utf8')).layer_names).toMatchObject({ ...VLEN_UTF8, shape: [8] });
    expect((await at('keras2-model')).keras_version).toMatchObject({ ...VLEN_UTF8, shape: [], value: '2.13.1' });
    expect((await at('keras2-model', '/model_weights')).layer_names).toMatchObject({ ...VLEN_ASCII, shape: [8] });
    // Split: layer_names0…2 as numpy chunks (fixed-length), no layer_names; weight_names split where long.
    const split = await at('keras2-split');
    expect(Object.keys(split).sort()).toEqual(['backend', 'keras_version', 'layer_names0', 'layer_names1', 'layer_names2']);
    expect(split.layer_names0).toMatchObject({ ...FIXED, shape: [3] });
    expect([split.layer_names0, split.layer_names1, split.layer_names2].flatMap((a) => a.value as string[])).toEqual(['input_1', ...TINY_VGG.layers.map((l) => l.name)]);
    expect(Object.keys(await at('keras2-split', '/block1_conv1')).sort()).toEqual(['weight_names0', 'weight_names1']);
    expect(Object.keys(await at('keras2-split', '/fc1'))).toEqual(['weight_names']);
    // Keras 3: a UTF-8 scalar on each vars group in newer versions, nothing in older ones.
    expect((await at('keras3-named', '/layers/conv2d_1/vars')).name).toMatchObject({ ...VLEN_UTF8, shape: [], value: 'block2_conv1' });
    expect(await at('keras3', '/layers/conv2d_1/vars')).toEqual({});
  });

  it('refuses an attribute that does not hold names, naming file, attribute and layer', async () => {
    const out = join(dir, 'tiny', 'never');
    await expect(convertKerasH5(files.get('bad-layer-names')!, out, { models: [TINY_VGG] })).rejects.toThrow(
      /bad-layer-names\.h5: attribute 'layer_names' of \/ holds int64 values \(8\), not names/,
    );
    await expect(convertKerasH5(files.get('no-weight-names')!, out, { models: [TINY_VGG] })).rejects.toThrow(
      /no-weight-names\.h5: layer 'fc1' has 0 weights \(none\), expected 2 \(kernel, bias\)/,
    );
    await expect(convertKerasH5(files.get('theano')!, out, { models: [TINY_VGG] })).rejects.toThrow(
      /theano\.h5: written by Keras' Theano backend \(attribute 'backend' is 'theano'\).*tf_dim_ordering_tf_kernels\.h5/,
    );
  });
});

describe('full-size VGG16 written by h5py in the official Keras 1 layout', () => {
  const SEED = 5;
  let weights: Map<string, Float32Array>;
  let h5pyDir: string;
  let oursDir: string;

  beforeAll(async () => {
    const t0 = performance.now();
    const big = join(dir, 'vgg16');
    mkdirSync(big);
    // The same seeded weights, once through our writer and once through h5py.
    const oursH5 = join(big, 'ours.h5');
    weights = await writeSyntheticKerasH5(oursH5, VGG16, { seed: SEED, classifierGain: 0.01 });
    const t1 = performance.now();
    const { files, versions } = writeWithH5py(big, VGG16, weights, [{ name: 'vgg16_weights_tf_dim_ordering_tf_kernels', writer: 'keras1' }]);
    const t2 = performance.now();
    h5pyDir = join(big, 'from-h5py');
    oursDir = join(big, 'from-ours');
    const a = await convertKerasH5(files.get('vgg16_weights_tf_dim_ordering_tf_kernels')!, h5pyDir);
    rmSync(files.get('vgg16_weights_tf_dim_ordering_tf_kernels')!);
    const b = await convertKerasH5(oursH5, oursDir);
    rmSync(oursH5);
    console.log(
      `full-size VGG16: our writer ${((t1 - t0) / 1000).toFixed(1)} s, h5py writer ${((t2 - t1) / 1000).toFixed(1)} s (${versions}), ` +
        `converted ${(a.bytes / 1e6).toFixed(0)} MB in ${a.seconds.toFixed(1)} s (h5py file) and ${b.seconds.toFixed(1)} s (ours)`,
    );
  }, 300_000);

  it('converts to the same shards as our writer, every tensor equal to the source bit for bit', () => {
    const a = manifestOf(h5pyDir);
    const b = manifestOf(oursDir);
    expect(a.source).toMatchObject({ layout: 'keras1' });
    expect(a.model).toBe('vgg16');
    expect(a.tensors).toEqual(b.tensors);
    expect(a.shards).toEqual(b.shards); // sizes and sha256
    for (const s of a.shards) expect(readFileSync(join(h5pyDir, s.file)).equals(readFileSync(join(oursDir, s.file))), s.file).toBe(true);
    expect(expectTensorsBitExact(h5pyDir, weights)).toBe(32);
    // Byte-identical shards load to identical buffers and give identical probabilities: the forward on
    // converted weights is checked against TF.js by test/verify.test.ts.
  });

});
