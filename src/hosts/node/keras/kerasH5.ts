// Reading Keras weight files with h5wasm (libhdf5 compiled to WebAssembly), in all three layouts:
//   Keras 1 (the official VGG16/VGG19 files): root attribute layer_names; each layer group has an
//     attribute weight_names; datasets sit in the layer group: /fc1/fc1_W_1:0, /fc1/fc1_b_1:0.
//   Keras 2: the same attributes, nested dataset paths: /fc1/fc1/kernel:0; model.save('x.h5') puts
//     them under /model_weights.
//   Keras 3 (.weights.h5): /layers/<name>/vars/0 (kernel) and /vars/1 (bias); <name> is the layer name
//     or the class name with a counter (conv2d, conv2d_1, …), in model order (Keras 2.13:
//     /_layer_checkpoint_dependencies instead of /layers).
// Never hard-code dataset names: walk layer_names → weight_names → dataset.
//
// Attributes are read as Keras' load_attributes_from_hdf5_group reads them, whatever h5py made of them:
//   - a list of names: fixed-length byte strings (h5py 2, and any numpy array of bytes), variable-length
//     ASCII (h5py 3 given a list of bytes) or UTF-8 (h5py.string_dtype(), or a list of str);
//   - an empty list (a layer without weights): h5py stores [] as an EMPTY float64 array of shape (0,);
//   - a long list: split by Keras into name0, name1, … (each part under HDF5_OBJECT_HEADER_LIMIT,
//     64512 bytes), read back in order until the first missing part;
//   - a scalar string (backend, keras_version): one name.
// Layers listed without weights (input_1, pools, flatten, dropout) are skipped, as Keras' loader skips
// them.
// h5wasm runs behind the guard of ./h5Reader.ts (a worker with a time limit and a heap cap), after the
// superblock has been checked here; a damaged file gives one line naming the file, the object and HDF5's
// own reason.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { elementCount, inferShapes, VGG16, VGG19, weightSpecs, type ModelSpec } from '../../../engine/model.js';
import { H5CallError, H5GuardError, H5Reader, type H5ReaderOptions } from './h5Reader.js';

export type KerasLayout = 'keras1' | 'keras2' | 'keras3';

export interface KerasTensor {
  /** Our name: `${layer}/kernel` or `${layer}/bias`. */
  name: string;
  /** The HDF5 dataset path it comes from. */
  path: string;
  shape: number[];
  /** Source dtype: 'float32', 'float64' (converted to float32 when read). */
  dtype: 'float32' | 'float64';
  /** Reads rows [start, end) of the first axis as float32. */
  readRows(start: number, end: number): Float32Array;
}

export interface KerasWeightsFile {
  file: string;
  layout: KerasLayout;
  model: ModelSpec;
  tensors: Map<string, KerasTensor>;
  close(): void;
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
const AGAIN = 'download or convert it again';

/**
 * Checks the superblock before HDF5 reads anything else: the signature at byte 0 (where Keras' files
 * have it), a superblock version and field sizes that exist, and that the addresses it holds (base,
 * end of file, root group) lie inside the file. HDF5 follows these addresses without asking.
 */
export function checkHdf5Header(file: string): void {
  const size = statSync(file).size;
  const head = Buffer.alloc(128);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, Math.min(head.length, size), 0);
  } finally {
    closeSync(fd);
  }
  if (size < 48 || HDF5_SIGNATURE.some((b, i) => head[i] !== b))
    throw new Error(`${file}: not an HDF5 file (no HDF5 signature at the start); pass the Keras weights file (.h5)`);
  const damaged = (what: string) => new Error(`${file}: damaged HDF5 superblock: ${what}; ${AGAIN}`);
  const version = head[8];
  if (version > 3) throw damaged(`version ${version} (0 to 3 exist)`);
  const sizeOfOffsets = version <= 1 ? head[13] : head[9];
  const sizeOfLengths = version <= 1 ? head[14] : head[10];
  for (const [what, n] of [['offsets', sizeOfOffsets], ['lengths', sizeOfLengths]] as const)
    if (n !== 2 && n !== 4 && n !== 8) throw damaged(`size of ${what} is ${n} bytes (2, 4 or 8)`);
  // Addresses: v0 from byte 24 (v1: 28) base, free space, end of file, driver info, then the root group's
  // symbol table entry (link name offset, object header address); v2/v3 from byte 12 base, extension,
  // end of file, root group object header.
  const first = version === 0 ? 24 : version === 1 ? 28 : 12;
  const address = (i: number) => {
    const at = first + i * sizeOfOffsets;
    const v = head.readUIntLE(at, Math.min(sizeOfOffsets, 6)) + (sizeOfOffsets === 8 ? head.readUInt16LE(at + 6) * 2 ** 48 : 0);
    return v === 2 ** (8 * sizeOfOffsets) - 1 || (sizeOfOffsets === 8 && head.readBigUInt64LE(at) === 0xffffffffffffffffn) ? undefined : v;
  };
  const [base, eof, root] = version <= 1 ? [address(0), address(2), address(5)] : [address(0), address(2), address(3)];
  if (base !== 0) throw damaged(`base address ${base ?? 'undefined'} (0 for a superblock at the start)`);
  if (eof === undefined) throw damaged('no end-of-file address');
  if (eof > size) throw new Error(`${file}: truncated: ${size} bytes, but its HDF5 superblock says ${eof}; ${AGAIN}`);
  if (root === undefined || root >= eof || root < 40) throw damaged(`root group address ${root ?? 'undefined'} is outside the file's ${eof} bytes`);
}

export interface DtypeInfo {
  type: number;
  size: number;
  littleEndian: boolean;
}

/** float32 is read as is, float64 converted; everything else is refused with the reason. */
export function acceptedDtype(where: string, m: DtypeInfo): 'float32' | 'float64' {
  const FLOAT = 1;
  if (m.type !== FLOAT) throw new Error(`${where}: not floating point (HDF5 class ${m.type}, ${m.size} bytes); VGG weights must be float32`);
  if (!m.littleEndian) throw new Error(`${where}: big-endian float${m.size * 8} is not supported; re-save the weights little-endian (e.g. with h5py)`);
  if (m.size === 4) return 'float32';
  if (m.size === 8) return 'float64';
  if (m.size === 2)
    throw new Error(`${where}: float16 is refused: the HDF5 reader cannot decode it; re-save the weights as float32 (h5py: f[path][...].astype('float32'))`);
  throw new Error(`${where}: float of ${m.size} bytes is not supported; VGG weights must be float32`);
}

const H5T_FLOAT = 1;
const H5T_STRING = 3;
const CSET_UTF8 = 1;

// h5wasm decodes strings flagged ASCII one character per byte: variable-length ones as Latin-1,
// fixed-length ones with TextDecoder('ascii'), which is Latin-1 in Node 20 and windows-1252 (bytes
// 0x80–0x9F to other characters) where TextDecoder follows the Encoding standard. Keras decodes every
// name as UTF-8, so map the characters back to their bytes and decode those as UTF-8.
const WINDOWS_1252_80_9F = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];
const WINDOWS_1252_BYTE = new Map(WINDOWS_1252_80_9F.map((c, i) => [c, 0x80 + i]));
const byteOf = (ch: string): number => {
  const c = ch.codePointAt(0)!;
  return c < 0x100 ? c : (WINDOWS_1252_BYTE.get(c) ?? 0x3f);
};

/** A string h5wasm read from an attribute flagged ASCII, as Keras reads it (its bytes decoded as UTF-8). */
export const asciiAsUtf8 = (s: string) => (/[^\x00-\x7f]/.test(s) ? new TextDecoder().decode(Uint8Array.from(s, byteOf)) : s);

function describeAttribute(m: { type: number; size: number; signed?: boolean }, shape: number[]): string {
  const kind = m.type === 0 ? `${m.signed ? 'int' : 'uint'}${m.size * 8}` : m.type === H5T_FLOAT ? `float${m.size * 8}` : `HDF5 class ${m.type}`;
  return `${kind} values (${shape.length ? shape.join('×') : 'scalar'})`;
}

/** One attribute as a list of names; an empty array of any type (Keras' [] is float64) is no names. */
function attributeNames(file: string, h5: H5Reader, obj: string, where: string, name: string): string[] {
  const m = h5.attrInfo(obj, name);
  const shape = m.shape;
  if (shape.length > 0 && shape.some((n) => n === 0)) return [];
  if (m.type !== H5T_STRING)
    throw new Error(
      `${file}: attribute '${name}' of ${where} holds ${describeAttribute(m, shape)}, not names; Keras writes layer and weight names as strings: is this a Keras weights file?`,
    );
  const v = h5.attr(obj, name);
  const list: unknown[] = typeof v === 'string' ? [v] : Array.isArray(v) ? v : [];
  if (list.length !== shape.reduce((a, b) => a * b, 1) || list.some((s) => typeof s !== 'string'))
    throw new Error(`${file}: attribute '${name}' of ${where} could not be read as ${shape.join('×') || 'one'} strings (the file may be damaged)`);
  return (list as string[]).map((s) => (m.cset === CSET_UTF8 ? s : asciiAsUtf8(s)).replace(/\0+$/, ''));
}

/**
 * Keras' load_attributes_from_hdf5_group: the attribute `name`, else its parts name0, name1, … in order
 * (as save_attributes_to_hdf5_group splits a long list); undefined when there is neither.
 */
function attrStrings(file: string, h5: H5Reader, obj: string, where: string, name: string): string[] | undefined {
  const present = new Set(h5.attrNames(obj));
  if (present.has(name)) return attributeNames(file, h5, obj, where, name);
  if (!present.has(`${name}0`)) return undefined;
  const out: string[] = [];
  for (let i = 0; present.has(`${name}${i}`); i++) out.push(...attributeNames(file, h5, obj, where, `${name}${i}`));
  return out;
}

const MODELS_TO_DETECT = [VGG16, VGG19];

/**
 * Which model the file holds, from its layer names. As in Keras' loader, only layers with weights count:
 * a file may list layers without weights that the spec lacks (input_1, dropout) or leave some out.
 */
function detectModel(file: string, layerNames: string[], models: readonly ModelSpec[], hasWeights: (layer: string) => boolean): ModelSpec {
  const have = new Set(layerNames);
  let best: { model: ModelSpec; want: string[]; missing: string[]; extra: string[] } | undefined;
  for (const model of models) {
    const all = new Set(model.layers.map((l) => l.name));
    const want = [...new Set(weightSpecs(model).map((s) => s.layer))];
    const missing = want.filter((n) => !have.has(n));
    const extra = layerNames.filter((n) => !all.has(n) && hasWeights(n));
    if (missing.length === 0 && extra.length === 0) return model;
    if (!best || missing.length + extra.length < best.missing.length + best.extra.length) best = { model, want, missing, extra };
  }
  const overlap = best ? best.want.length - best.missing.length : 0;
  if (!best || overlap < best.want.length / 2) {
    const shown = layerNames.slice(0, 6).join(', ') + (layerNames.length > 6 ? ', …' : '');
    throw new Error(`${file}: does not hold ${models.map((m) => m.name.toUpperCase()).join(' or ')} weights: its layers are ${shown || '(none)'}; expected block1_conv1 … predictions`);
  }
  if (best.missing.length) {
    const notop = best.missing.every((n) => ['flatten', 'fc1', 'fc2', 'predictions'].includes(n));
    throw new Error(
      `${file}: layer '${best.missing[0]}' missing (${best.model.name.toUpperCase()} needs ${best.model.layers.map((l) => l.name).join(', ')})` +
        (notop ? `; this looks like the 'notop' file: Grad-CAM needs the full model (${best.model.name}_weights_tf_dim_ordering_tf_kernels.h5)` : ''),
    );
  }
  throw new Error(`${file}: unexpected layer '${best.extra[0]}' for ${best.model.name.toUpperCase()}; is this the right model file?`);
}

function tensorFrom(file: string, h5: H5Reader, ds: string, name: string, path: string, want: number[]): KerasTensor {
  const where = `${file}: ${escapeControls(path)}`;
  const info = h5.dataset(ds);
  const shape = info.shape;
  if (JSON.stringify(shape) !== JSON.stringify(want))
    throw new Error(`${where} has shape ${shape.join('×') || 'scalar'}, expected ${want.join('×')} (${name})`);
  const dtype = acceptedDtype(where, info);
  const rowSize = elementCount(want.slice(1));
  return {
    name,
    path,
    shape,
    dtype,
    readRows(start, end) {
      const v = damagedAsOneLine(h5.file, () => h5.slice(ds, start, end));
      if (!(v instanceof Float32Array || v instanceof Float64Array) || v.length !== (end - start) * rowSize)
        throw new Error(`${where}: could not read rows ${start}..${end} (the file may be truncated or damaged)`);
      return v instanceof Float32Array ? v : Float32Array.from(v);
    },
  };
}

/** Names read from a damaged file may hold line breaks and other control characters: shown escaped. */
const escapeControls = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** Calls into HDF5 that fail on a damaged file: the reason in one line, naming the file. */
function damagedAsOneLine<T>(file: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof H5CallError || e instanceof H5GuardError) throw new Error(`${file}: ${escapeControls(e.message)}; the file is damaged or incomplete: ${AGAIN}`);
    throw e;
  }
}

export type OpenKerasOptions = H5ReaderOptions;

export async function openKerasWeights(file: string, models: readonly ModelSpec[] = MODELS_TO_DETECT, options: OpenKerasOptions = {}): Promise<KerasWeightsFile> {
  checkHdf5Header(file);
  let h5: H5Reader;
  try {
    h5 = await H5Reader.open(file, options);
  } catch (e) {
    if (e instanceof H5GuardError) throw new Error(`${file}: ${escapeControls(e.message)}; the file is damaged or incomplete: ${AGAIN}`);
    if (e instanceof Error && e.name === 'Error') throw new Error(`${file}: ${escapeControls(e.message)}`);
    throw e;
  }
  try {
    return damagedAsOneLine(file, () => walkKerasFile(file, h5, models));
  } catch (e) {
    try {
      h5.close();
    } catch {
      // The reader may have been stopped by the failure itself; the first error is the one to report.
    }
    if (e instanceof Error && e.name === 'Error') e.message = escapeControls(e.message);
    throw e;
  }
}

function walkKerasFile(file: string, h5: H5Reader, models: readonly ModelSpec[]): KerasWeightsFile {
  const tensors = new Map<string, KerasTensor>();
  const get = (base: string, path: string) => h5.get(base, path);
  const isGroup = (base: string, path: string) => get(base, path)?.kind === 'group';
  // model.save('x.h5') keeps the weights in /model_weights; Keras' load_weights looks there when the
  // root has no layer_names.
  const hasNames = (g: string) => h5.attrNames(g).some((a) => a === 'layer_names' || a === 'layer_names0');
  const modelWeights = get('/', 'model_weights');
  const [root, prefix] = !hasNames('/') && modelWeights?.kind === 'group' && hasNames(modelWeights.path) ? [modelWeights.path, '/model_weights'] : ['/', ''];
  const layerNames = attrStrings(file, h5, root, root, 'layer_names');
  const keras3Container = ['layers', '_layer_checkpoint_dependencies'].find((k) => isGroup('/', k));
  let layout: KerasLayout;
  let model: ModelSpec;
  if (layerNames) {
    const backend = attrStrings(file, h5, root, root, 'backend')?.[0];
    const weightNames = new Map<string, string[]>();
    for (const layer of layerNames) {
      const group = get(root, layer);
      if (group?.kind !== 'group') throw new Error(`${file}: layer '${layer}' is listed in layer_names but has no group`);
      weightNames.set(layer, attrStrings(file, h5, group.path, `layer '${layer}'`, 'weight_names') ?? []);
    }
    model = detectModel(file, layerNames, models, (layer) => weightNames.get(layer)!.length > 0);
    if (backend === 'theano')
      throw new Error(
        `${file}: written by Keras' Theano backend (attribute 'backend' is 'theano'): its convolution kernels are flipped ` +
          `relative to TensorFlow's, which this converter does not undo; use the TensorFlow-kernels file (${model.name}_weights_tf_dim_ordering_tf_kernels.h5)`,
      );
    let nested = false;
    for (const l of inferShapes(model)) {
      const names = weightNames.get(l.layer.name);
      if (!names) continue; // a layer without weights that the file does not list
      if (names.length !== l.weights.length) {
        const expected = l.weights.map((w) => w.name.slice(w.name.lastIndexOf('/') + 1)).join(', ') || 'none';
        throw new Error(`${file}: layer '${l.layer.name}' has ${names.length} weights (${names.join(', ') || 'none'}), expected ${l.weights.length} (${expected})`);
      }
      l.weights.forEach((w, i) => {
        const path = `${prefix}/${l.layer.name}/${names[i]}`;
        nested ||= names[i].includes('/');
        const ds = get('/', path);
        if (ds?.kind !== 'dataset') throw new Error(`${file}: ${path} (named in ${l.layer.name}'s weight_names) is missing`);
        tensors.set(w.name, tensorFrom(file, h5, ds.path, w.name, path, w.shape));
      });
    }
    layout = nested ? 'keras2' : 'keras1';
  } else if (keras3Container) {
    layout = 'keras3';
    const container = get('/', keras3Container)!.path;
    const keys = h5.keys(container);
    const counter = (k: string) => Number(/_(\d+)$/.exec(k)?.[1] ?? 0);
    const byClass = (cls: string) => keys.filter((k) => k === cls || k.startsWith(`${cls}_`) && /^\d+$/.test(k.slice(cls.length + 1))).sort((a, b) => counter(a) - counter(b));
    const hasVars = (k: string) => {
      const vars = get(container, `${k}/vars`);
      return vars?.kind === 'group' && h5.keys(vars.path).length > 0;
    };
    const shapes = (() => {
      // Keras 3 names groups by layer name when it can, else by class with counters.
      const direct = keys.some((k) => k.startsWith('block1_conv1'));
      if (direct) {
        model = detectModel(file, keys, models, hasVars);
        return inferShapes(model).filter((l) => l.weights.length).map((l) => ({ l, group: l.layer.name }));
      }
      const convs = byClass('conv2d');
      const denses = byClass('dense');
      const candidate = models.find((m) => m.layers.filter((l) => l.kind === 'conv3x3').length === convs.length && m.layers.filter((l) => l.kind === 'dense').length === denses.length);
      if (!candidate)
        throw new Error(`${file}: Keras 3 weights with ${convs.length} conv2d and ${denses.length} dense layers match neither ${models.map((m) => m.name).join(' nor ')}`);
      model = candidate;
      let c = 0;
      let d = 0;
      return inferShapes(model).filter((l) => l.weights.length).map((l) => ({ l, group: l.layer.kind === 'conv3x3' ? convs[c++] : denses[d++] }));
    })();
    for (const { l, group } of shapes) {
      l.weights.forEach((w, i) => {
        const path = `/${keras3Container}/${group}/vars/${i}`;
        const ds = get('/', path);
        if (ds?.kind !== 'dataset') throw new Error(`${file}: ${path} (${w.name}) is missing`);
        tensors.set(w.name, tensorFrom(file, h5, ds.path, w.name, path, w.shape));
      });
    }
  } else {
    throw new Error(`${file}: not a Keras weights file: no 'layer_names' attribute (Keras 1/2 .h5) and no /layers group (Keras 3 .weights.h5)`);
  }
  return { file, layout, model: model!, tensors, close: () => h5.close() };
}
