// Writes Keras-layout .h5 files holding seeded He-normal weights: the way to run everything offline,
// and the fixtures of the converter tests. Layouts as the real files have them (see kerasH5.ts):
// 'keras1' is the official files' layout (superblock v0, old-style groups, fixed-length byte strings).
import h5wasm, { File as H5File, Group } from 'h5wasm/node';
import { inferShapes, type ModelSpec } from '../../../engine/model.js';
import { heNormalWeights, type SyntheticOptions } from '../../../engine/synthetic.js';
import type { KerasLayout } from './kerasH5.js';

export interface SyntheticH5Options extends SyntheticOptions {
  layout?: KerasLayout;
  /** Store as float64 instead of float32 (to test conversion). */
  float64?: boolean;
  /** Edit weights before writing (to plant bad values in tests). */
  edit?: (weights: Map<string, Float32Array>) => void;
}

const fixedStrings = (list: string[]) => `S${Math.max(1, ...list.map((s) => s.length))}`;

export async function writeSyntheticKerasH5(path: string, model: ModelSpec, options: SyntheticH5Options = {}): Promise<Map<string, Float32Array>> {
  await h5wasm.ready;
  const layout = options.layout ?? 'keras1';
  const weights = heNormalWeights(model, options);
  options.edit?.(weights);
  // h5wasm takes struct-module codes: 'd' is float64, 'f' float32.
  const dtype = options.float64 ? '<d' : '<f';
  const data = (t: Float32Array) => (options.float64 ? Float64Array.from(t) : t);
  const f = new H5File(path, 'w', { libver: ['earliest', 'v108'] });
  try {
    const layers = inferShapes(model);
    if (layout === 'keras3') {
      const root = f.create_group('layers');
      const counters = new Map<string, number>();
      for (const l of layers) {
        const cls = { conv3x3: 'conv2d', maxpool2x2: 'max_pooling2d', flatten: 'flatten', dense: 'dense' }[l.layer.kind];
        const n = counters.get(cls) ?? 0;
        counters.set(cls, n + 1);
        const g = root.create_group(n === 0 ? cls : `${cls}_${n}`);
        const vars = g.create_group('vars');
        l.weights.forEach((w, i) => vars.create_dataset({ name: String(i), data: data(weights.get(w.name)!), shape: w.shape, dtype }));
      }
    } else {
      const names = layers.map((l) => l.layer.name);
      f.create_attribute('layer_names', names, [names.length], fixedStrings(names));
      for (const l of layers) {
        const g = f.create_group(l.layer.name);
        const weightNames = l.weights.map((w) =>
          layout === 'keras1' ? `${l.layer.name}_${w.name.endsWith('/kernel') ? 'W' : 'b'}_1:0` : `${l.layer.name}/${w.name.endsWith('/kernel') ? 'kernel' : 'bias'}:0`,
        );
        g.create_attribute('weight_names', weightNames, [weightNames.length], fixedStrings(weightNames));
        l.weights.forEach((w, i) => {
          const parts = weightNames[i].split('/');
          const existing = parts.length > 1 ? g.get(parts[0]) : g;
          const parent = existing instanceof Group ? existing : g.create_group(parts[0]);
          parent.create_dataset({ name: parts.at(-1)!, data: data(weights.get(w.name)!), shape: w.shape, dtype });
        });
      }
    }
  } finally {
    f.close();
  }
  return weights;
}
