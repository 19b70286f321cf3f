// Fuzzing every parser a user's file reaches (test/support/fuzz.ts): 500 seeded mutations of valid
// files per parser (.h5, PNG, JPEG, manifest.json, .npy), each of which must end, within its time limit
// and without a jump in peak memory, in a result that passes a sanity check or in our one-line error
// naming the file. The counts are printed for the README; `npm run fuzz` runs more cases. Then the guard
// around h5wasm on the files that showed why it is needed: one that makes HDF5 loop, one that makes it
// abort, one that makes it allocate 100 MB, each ending in our error, the reader working again after.
// Last, what the fuzzer found in the other parsers, as plain cases (each was a crash, a wrong result or
// a message of several lines before the fix).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import h5wasm, { File as H5File } from 'h5wasm/node';
import { VGG16 } from '../src/engine/model.js';
import { decodeNpy } from '../src/engine/npy.js';
import { parseManifest } from '../src/engine/weights/format.js';
import { checkHdf5Header, openKerasWeights } from '../src/hosts/node/keras/kerasH5.js';
import { readWeightsManifest } from '../src/hosts/node/weights.js';
import { fuzz, fuzzTarget, h5Target, judgeError, manifestSeed, npyWith, PARSERS, Rng, writeField, type FuzzTarget, type ParserName, type Seed } from './support/fuzz.js';
import { TINY_VGG } from './support/tinyVgg.js';

const CASES = 500;
const dir = mkdtempSync(join(tmpdir(), 'gradcam-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** The .h5 seeds (TINY_VGG in three layouts), written once for the tests below that edit them. */
let h5Seeds: Promise<FuzzTarget> | undefined;
const h5Seed = async (name: string): Promise<Seed> => (await (h5Seeds ??= h5Target(join(dir, 'h5-seeds')))).seeds.find((s) => s.name === name)!;

describe('the runner tells our errors from failures', () => {
  const file = '/data/x.png';
  it.each([
    [new Error(`${file}: corrupt PNG: bad; download it again`), 'error'],
    [Object.assign(new Error(`${file}: corrupt`), { name: 'ImageFormatError' }), 'error'],
    [new TypeError(`${file}: cannot read properties of undefined`), 'failure'],
    [new RangeError('Invalid typed array length: -4'), 'failure'],
    [new Error(`${file}: two\nlines`), 'failure'],
    [new Error(`${file}: ${'x'.repeat(2000)}`), 'failure'],
    [new Error('corrupt PNG, but which file?'), 'failure'],
    [new Error(`${file}: cannot decode the image (x is undefined); please report this with the file`), 'failure'],
    ['a string', 'failure'],
  ] as const)('%s → %s', (e, verdict) => {
    expect(judgeError(e, file).verdict).toBe(verdict);
  });
});

describe(`${CASES} seeded mutations per parser: a checked result or our one-line error, every time`, () => {
  // Fewest distinct messages each parser must give: mutations that all stop at the first check test nothing.
  const MIN_MESSAGES: Record<ParserName, number> = { h5: 40, png: 20, jpeg: 25, manifest: 20, npy: 8 };
  it.each(PARSERS)('%s', async (parser) => {
    const target = await fuzzTarget(parser, join(dir, 'seeds'));
    const run = await fuzz(target, join(dir, parser), { cases: CASES, seed: 1 });
    console.log(
      `fuzz ${parser}: ${run.cases} cases, ${run.ok} decoded, ${run.errors} our error (${run.messages.size} distinct), ` +
        `${run.failures.length} failed; slowest ${run.slowestMs.toFixed(0)} ms, ${run.seconds.toFixed(1)} s` +
        (run.guard ? `; HDF5 stopped at the time limit ${run.guard.timeouts}×, after an abort ${run.guard.aborts}×` : ''),
    );
    expect(run.failures.map((f) => f.detail)).toEqual([]);
    expect(run.cases).toBe(CASES);
    // Both ends are reached: some mutants still decode, most are refused, in many different ways.
    expect(run.ok).toBeGreaterThanOrEqual(CASES / 20);
    expect(run.errors).toBeGreaterThanOrEqual(CASES / 4);
    expect(run.messages.size).toBeGreaterThanOrEqual(MIN_MESSAGES[parser]);
  });
});

describe('the guard around h5wasm', () => {
  let keras2: Seed;
  /** The Keras 2 seed (variable-length strings in a global heap) with one field set. */
  const withField = (what: string, value: bigint, name: string) => {
    const f = keras2.hdf5!.fields.find((x) => x.what === what);
    if (!f) throw new Error(`no field '${what}' in ${keras2.name}`);
    const b = Uint8Array.from(keras2.bytes);
    writeField(b, f, value);
    const path = join(dir, name);
    writeFileSync(path, b);
    return path;
  };
  const opensAgain = async () => {
    const path = join(dir, 'valid.h5');
    writeFileSync(path, keras2.bytes);
    const k = await openKerasWeights(path, [TINY_VGG]);
    expect(k.tensors.get('fc1/kernel')!.readRows(0, 2)).toHaveLength(64);
    k.close();
  };

  it('a file that makes HDF5 loop is stopped at the time limit, and the next file opens', async () => {
    keras2 = await h5Seed('keras2.h5');
    // Found by the fuzzer: the index of a global heap object set to 0 sends HDF5 round in circles
    // (still running after 20 s without the guard).
    const path = withField('global heap object 3 index', 0n, 'loop.h5');
    const t0 = performance.now();
    await expect(openKerasWeights(path, [TINY_VGG], { timeoutMs: 500 })).rejects.toThrow(
      /loop\.h5: cannot read attribute 'layer_names' of \/: HDF5 did not answer within 0\.5 s \(it looped on the file, or its worker died\); the file is damaged or incomplete/,
    );
    expect(performance.now() - t0).toBeLessThan(3000);
    await opensAgain();
  });

  it("a file that makes HDF5 abort gives HDF5's reason, and the next file opens", async () => {
    // Found by the fuzzer: native code calls abort(), which leaves the WebAssembly instance unusable.
    const path = withField('global heap object 0 index', 0n, 'abort.h5');
    await expect(openKerasWeights(path, [TINY_VGG])).rejects.toThrow(/abort\.h5: cannot read attribute 'layer_names' of \/ \(HDF5: ran off end of input buffer while decoding\)/);
    await opensAgain();
  });

  it('an allocation over the heap cap fails in HDF5 instead of growing the heap', async () => {
    // A continuation block said to be 100 MB long: HDF5 allocates a buffer for it before reading.
    const keras1 = await h5Seed('keras1.h5');
    const f = keras1.hdf5!.fields.find((x) => x.what.endsWith('(continuation) length'))!;
    const b = Uint8Array.from(keras1.bytes);
    writeField(b, f, 100_000_000n);
    const path = join(dir, 'big.h5');
    writeFileSync(path, b);
    await expect(openKerasWeights(path, [TINY_VGG], { maxHeapBytes: 64 << 20 })).rejects.toThrow(/big\.h5: .*\(HDF5: memory allocation failed/);
    // Under the default cap the same file fails later, when HDF5 finds the block past the end of the file.
    await expect(openKerasWeights(path, [TINY_VGG])).rejects.toThrow(/big\.h5: .*\(HDF5: addr overflow/);
    await opensAgain();
  });
});

describe('what the fuzzer found, fixed: our one-line error where there was a crash or a wrong result', () => {
  const manifest = () => JSON.parse(new TextDecoder().decode(manifestSeed(VGG16, new Rng(3))));
  it.each<[string, (m: Record<string, any>) => unknown, RegExp]>([
    ["model 'constructor' (was a TypeError)", (m) => (m.model = 'constructor'), /^m\.json: field 'model' is "constructor"; known models: vgg16, vgg19 \(or give the model's layer list as 'modelSpec'\);/],
    ['tensors an object (was a TypeError)', (m) => (m.tensors = {}), /^m\.json: field 'tensors' is missing or not a list;/],
    ['a shard null (was a TypeError)', (m) => (m.shards[0] = null), /^m\.json: field 'shards\[0\]' is null, not an object;/],
    ['a tensor null (was a TypeError)', (m) => (m.tensors[3] = null), /^m\.json: field 'tensors\[3\]' is null, not an object with a name;/],
    ['a tensor listed twice (was accepted: the loader made its buffer twice)', (m) => m.tensors.push(m.tensors[0]), /^m\.json: field 'tensors\[32\]' names "block1_conv1\/kernel" a second time;/],
    ['tensors overlapping (was accepted)', (m) => ([m.tensors[2].offset, m.tensors[3].offset] = [m.tensors[3].offset, m.tensors[2].offset]), /overlaps/],
    ['shard bytes past 2^53 (was accepted)', (m) => (m.shards[0].bytes = 2 ** 53 + 2), /^m\.json: field 'shards\[0\]\.bytes' must be a positive integer;/],
    ['a value of 5000 characters (was a message of 5000 characters)', (m) => (m.tensors[0].dtype = 'x'.repeat(5000)), /^m\.json: field 'tensors\['block1_conv1\/kernel'\]\.dtype' is "x+…, expected "float32";/],
    ['a value with line breaks (was a message of several lines)', (m) => (m.tensors[0].shape = 'a\nb\u2028c'), /is "a\\nb\\u2028c", vgg16 needs \[3,3,3,64\]/],
  ])('manifest: %s', (_, edit, message) => {
    const m = manifest();
    edit(m);
    expect(() => parseManifest(JSON.stringify(m), 'm.json')).toThrow(message);
  });

  it('manifest: JSON that does not parse names the spot on one line (V8 quotes the text, line breaks included)', () => {
    const text = new TextDecoder().decode(manifestSeed(VGG16, new Rng(3))).replace('"shape": [\n', '"shape": [\n\u0001 x');
    expect(() => parseManifest(text, 'm.json')).toThrow(/^m\.json: not valid JSON \([^\n]*\\x01[^\n]*\); convert the weights again/);
  });

  it('manifest: a file of megabytes is refused before it is read', () => {
    const weights = join(dir, 'big-manifest');
    mkdirSync(weights);
    writeFileSync(join(weights, 'manifest.json'), ' '.repeat(2 << 20));
    expect(() => readWeightsManifest(weights)).toThrow(/big-manifest\/manifest\.json: 2097152 bytes, far too large for a weights manifest/);
  });

  it.each(['(-4,)', '(NaN,)', '(-1, 2)', '(1.5,)', "('a',)", '(,)'])('npy: shape %s (was accepted, or a RangeError)', (shape) => {
    const bytes = npyWith(`{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }\n`, new Uint8Array(16));
    expect(() => decodeNpy(bytes, 'x.npy')).toThrow(/^x\.npy: \.npy header has shape "\(.*\)": every dimension must be a non-negative integer$/);
  });

  it('npy: a header longer than the file, a format version that does not exist', () => {
    const ok = npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", new Uint8Array(8));
    expect(decodeNpy(ok, 'x.npy').shape).toEqual([2]);
    const long = Uint8Array.from(ok);
    long[8] = 0xff;
    expect(() => decodeNpy(long, 'x.npy')).toThrow(/^x\.npy: truncated: the \.npy header says it is \d+ bytes long/);
    const v9 = Uint8Array.from(ok);
    v9[6] = 9;
    expect(() => decodeNpy(v9, 'x.npy')).toThrow(/^x\.npy: \.npy format version 9\.0 is not supported/);
  });

  it.each<[string, number, number, bigint, RegExp]>([
    ['superblock version', 8, 1, 9n, /damaged HDF5 superblock: version 9 \(0 to 3 exist\)/],
    ['size of offsets', 13, 1, 3n, /damaged HDF5 superblock: size of offsets is 3 bytes \(2, 4 or 8\)/],
    ['base address', 24, 8, 512n, /damaged HDF5 superblock: base address 512/],
    ['root group address', 64, 8, 1n << 40n, /damaged HDF5 superblock: root group address \d+ is outside the file's \d+ bytes/],
  ])('h5: the superblock checked before HDF5 reads the file: %s', async (_, at, size, value, message) => {
    const keras1 = await h5Seed('keras1.h5');
    const b = Uint8Array.from(keras1.bytes);
    writeField(b, { at, size, le: true, what: '' }, value);
    const path = join(dir, 'superblock.h5');
    writeFileSync(path, b);
    expect(() => checkHdf5Header(path)).toThrow(message);
  });

  it('h5: names holding line breaks are shown escaped (the message was several lines)', async () => {
    await h5wasm.ready;
    const path = join(dir, 'names.h5');
    const f = new H5File(path, 'w');
    f.create_attribute('layer_names', ['input\n1', 'block1\u2028conv1'], [2], 'S16');
    f.create_group('input\n1').create_attribute('weight_names', ['x'], [1], 'S1');
    f.create_group('block1\u2028conv1').create_attribute('weight_names', ['x'], [1], 'S1');
    f.close();
    const e = (await openKerasWeights(path, [TINY_VGG]).then(
      () => undefined,
      (x: unknown) => x,
    )) as Error;
    expect(e).toBeInstanceOf(Error);
    expect(e.message).not.toMatch(/[\n\u2028]/);
    expect(e.message).toMatch(/names\.h5: does not hold TINYVGG weights: its layers are input\\u000a1, block1\\u2028conv1;/);
  });
});
