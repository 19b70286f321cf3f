// Reading Keras weight files with h5wasm (libhdf5 compiled to WebAssembly), in all three layouts:
//   Keras 1 (the official VGG16/VGG19 files): root attribute layer_names; each layer group has an
//     attribute weight_names; datasets sit in the layer group: /fc1/fc1_W_1:0, /fc1/fc1_b_1:0.
//   Keras 2: the same attributes, nested dataset paths: /fc1/fc1/kernel:0.
//   Keras 3 (.weights.h5): /layers/<name>/vars/0 (kernel) and /vars/1 (bias); <name> is the layer name
//     or the class name with a counter (conv2d, conv2d_1, …), in model order.
// Never hard-code dataset names: walk layer_names → weight_names → dataset.
import h5wasm, { Dataset, File as H5File, Group } from 'h5wasm/node';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { elementCount, inferShapes, VGG16, VGG19, type ModelSpec } from '../../src/engine/model.js';

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

/** Checks the HDF5 signature and, from the superblock, that the file is as long as it says it is. */
export function checkHdf5Header(file: string): void {
  const size = statSync(file).size;
  const head = Buffer.alloc(48);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, 48, 0);
  } finally {
    closeSync(fd);
  }
  if (size < 48 || HDF5_SIGNATURE.some((b, i) => head[i] !== b))
    throw new Error(`${file}: not an HDF5 file (no HDF5 signature at the start); pass the Keras weights file (.h5)`);
  const version = head[8];
  // End-of-file address: superblock v0 at byte 40, v1 at 44 (it adds 4 bytes), v2/v3 at 28.
  const eofAt = version === 0 ? 40 : version === 1 ? 44 : 28;
  const sizeOfOffsets = version <= 1 ? head[13] : head[9];
  if (sizeOfOffsets === 8 && eofAt + 8 <= 48) {
    const eof = Number(head.readBigUInt64LE(eofAt));
    if (eof > size) throw new Error(`${file}: truncated: ${size} bytes, but its HDF5 superblock says ${eof}; download the file again`);
  }
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

function attrStrings(obj: Group, name: string): string[] | undefined {
  if (!Object.keys(obj.attrs).includes(name)) return undefined;
  const v = obj.get_attribute(name, false);
  const list = Array.isArray(v) ? v : v === null || v === undefined ? [] : [v];
  return list.map((s) => (s instanceof Uint8Array ? new TextDecoder().decode(s) : String(s)).replace(/\0+$/, ''));
}

const MODELS_TO_DETECT = [VGG16, VGG19];

function detectModel(file: string, layerNames: string[], models: readonly ModelSpec[]): ModelSpec {
  const have = new Set(layerNames);
  let best: { model: ModelSpec; missing: string[]; extra: string[] } | undefined;
  for (const model of models) {
    const want = model.layers.map((l) => l.name);
    const missing = want.filter((n) => !have.has(n));
    const extra = layerNames.filter((n) => !want.includes(n));
    if (missing.length === 0 && extra.length === 0) return model;
    if (!best || missing.length + extra.length < best.missing.length + best.extra.length) best = { model, missing, extra };
  }
  const overlap = best ? best.model.layers.length - best.missing.length : 0;
  if (!best || overlap < best.model.layers.length / 2) {
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

function tensorFrom(file: string, ds: Dataset, name: string, path: string, want: number[]): KerasTensor {
  const where = `${file}: ${path}`;
  const shape = ds.shape ?? [];
  if (JSON.stringify(shape) !== JSON.stringify(want))
    throw new Error(`${where} has shape ${shape.join('×') || 'scalar'}, expected ${want.join('×')} (${name})`);
  const dtype = acceptedDtype(where, ds.metadata);
  const rowSize = elementCount(want.slice(1));
  return {
    name,
    path,
    shape,
    dtype,
    readRows(start, end) {
      const v = ds.slice([[start, end]]);
      if (!(v instanceof Float32Array || v instanceof Float64Array) || v.length !== (end - start) * rowSize)
        throw new Error(`${where}: could not read rows ${start}..${end} (the file may be truncated or damaged)`);
      return v instanceof Float32Array ? v : Float32Array.from(v);
    },
  };
}

export async function openKerasWeights(file: string, models: readonly ModelSpec[] = MODELS_TO_DETECT): Promise<KerasWeightsFile> {
  checkHdf5Header(file);
  await h5wasm.ready;
  let h5: H5File;
  try {
    h5 = new H5File(file, 'r');
  } catch (e) {
    throw new Error(`${file}: could not be opened as HDF5 (${e instanceof Error ? e.message : e}); is it a complete Keras .h5 file?`);
  }
  try {
    const name = basename(file);
    const tensors = new Map<string, KerasTensor>();
    const layerNames = attrStrings(h5, 'layer_names');
    let layout: KerasLayout;
    let model: ModelSpec;
    if (layerNames) {
      model = detectModel(file, layerNames, models);
      let nested = false;
      for (const l of inferShapes(model)) {
        const group = h5.get(l.layer.name);
        if (!(group instanceof Group)) throw new Error(`${file}: layer '${l.layer.name}' is listed in layer_names but has no group`);
        const weightNames = attrStrings(group, 'weight_names') ?? [];
        if (weightNames.length !== l.weights.length)
          throw new Error(`${file}: layer '${l.layer.name}' has ${weightNames.length} weights (${weightNames.join(', ') || 'none'}), expected ${l.weights.length} (kernel, bias)`);
        l.weights.forEach((w, i) => {
          const path = `/${l.layer.name}/${weightNames[i]}`;
          nested ||= weightNames[i].includes('/');
          const ds = h5.get(path);
          if (!(ds instanceof Dataset)) throw new Error(`${file}: ${path} (named in ${l.layer.name}'s weight_names) is missing`);
          tensors.set(w.name, tensorFrom(name, ds, w.name, path, w.shape));
        });
      }
      layout = nested ? 'keras2' : 'keras1';
    } else if (h5.get('layers') instanceof Group) {
      layout = 'keras3';
      const layersGroup = h5.get('layers') as Group;
      const keys = layersGroup.keys();
      const counter = (k: string) => Number(/_(\d+)$/.exec(k)?.[1] ?? 0);
      const byClass = (cls: string) => keys.filter((k) => k === cls || k.startsWith(`${cls}_`) && /^\d+$/.test(k.slice(cls.length + 1))).sort((a, b) => counter(a) - counter(b));
      const shapes = (() => {
        // Keras 3 names groups by layer name when it can, else by class with counters.
        const direct = keys.some((k) => k.startsWith('block1_conv1'));
        if (direct) {
          model = detectModel(file, keys.filter((k) => k.startsWith('block') || ['fc1', 'fc2', 'predictions', 'flatten'].includes(k)), models);
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
          const path = `/layers/${group}/vars/${i}`;
          const ds = h5.get(path);
          if (!(ds instanceof Dataset)) throw new Error(`${file}: ${path} (${w.name}) is missing`);
          tensors.set(w.name, tensorFrom(name, ds, w.name, path, w.shape));
        });
      }
    } else {
      throw new Error(`${file}: not a Keras weights file: no 'layer_names' attribute (Keras 1/2 .h5) and no /layers group (Keras 3 .weights.h5)`);
    }
    return { file, layout, model: model!, tensors, close: () => h5.close() };
  } catch (e) {
    h5.close();
    throw e;
  }
}
