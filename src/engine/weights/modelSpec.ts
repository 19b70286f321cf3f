// A weights directory for a model the engine does not know by name (not VGG16 or VGG19) says what the
// model is: manifest.json's `modelSpec` carries its layer list (the engine's ModelSpec, as JSON), so
// that a page or the CLI can load it with no code of its own (the demo page's ?weights=<dir>, gradcam
// --weights <dir>); parseManifest reads it. Everything in it is
// checked here, before the device is asked for limits or a byte is fetched: a spec that would reach
// the engine malformed fails there with a message about buffers, not about the manifest.
import { classCount, convLayerNames, inferShapes, type LayerSpec, type ModelSpec } from '../model.js';
import { INPUT_TENSOR } from '../plan.js';

/** manifest.json's optional field: the layer list of a model outside `models`. */
export const MODEL_SPEC_FIELD = 'modelSpec';

const LAYER_FIELDS: Record<LayerSpec['kind'], readonly string[]> = {
  conv3x3: ['name', 'kind', 'filters', 'activation'],
  maxpool2x2: ['name', 'kind'],
  flatten: ['name', 'kind'],
  dense: ['name', 'kind', 'units', 'activation'],
};
const DENSE_ACTIVATIONS = ['relu', 'softmax', 'linear'];
// Far above any VGG (4096 units, 512 filters, 224 px, 25 layers); a typo of a few digits still fails.
const MAX_UNITS = 1 << 16;
const MAX_SIDE = 4096;
const MAX_LAYERS = 256;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown, max: number): v is number => Number.isInteger(v) && (v as number) > 0 && (v as number) <= max;

/**
 * The model a manifest names: `models[manifest.model]` when it is a known one (a `modelSpec` beside
 * it must then say the same), else its `modelSpec`, checked field by field. Errors name `where`, the
 * field and the fix, in one line.
 */
export function manifestModel(manifest: unknown, where: string, models: Readonly<Record<string, ModelSpec>>): ModelSpec | undefined {
  if (!isObject(manifest) || typeof manifest.model !== 'string') return undefined; // parseManifest says what is wrong
  const name = manifest.model;
  const raw = manifest[MODEL_SPEC_FIELD];
  const known = Object.hasOwn(models, name) ? models[name] : undefined;
  if (raw === undefined) return known;
  const spec = parseModelSpec(raw, name, where);
  if (known && JSON.stringify(spec) !== JSON.stringify(known))
    throw new Error(`${where}: field '${MODEL_SPEC_FIELD}' redefines the built-in model '${name}'; remove it, or rename the model (field 'model') to load it as a model of its own`);
  return known ?? spec;
}

/** Checks a ModelSpec given as JSON; `name` is the manifest's model, which the spec must carry. */
export function parseModelSpec(raw: unknown, name: string, where: string): ModelSpec {
  const bad = (field: string, why: string) => new Error(`${where}: field '${MODEL_SPEC_FIELD}${field}' ${why}; fix the manifest's ${MODEL_SPEC_FIELD} (the engine's ModelSpec as JSON)`);
  if (!isObject(raw)) throw bad('', 'must be an object { name, inputShape, layers }');
  for (const k of Object.keys(raw)) if (!['name', 'inputShape', 'layers'].includes(k)) throw bad(`.${k}`, 'is not a ModelSpec field (name, inputShape, layers)');
  if (raw.name !== name) throw bad('.name', `is ${JSON.stringify(raw.name)}, but the manifest's model is ${JSON.stringify(name)}; they must be the same`);
  const shape = raw.inputShape;
  if (!Array.isArray(shape) || shape.length !== 3 || !isCount(shape[0], MAX_SIDE) || !isCount(shape[1], MAX_SIDE) || shape[2] !== 3)
    throw bad('.inputShape', `is ${JSON.stringify(shape)}, expected [height, width, 3] (RGB images, sides 1–${MAX_SIDE})`);
  if (!Array.isArray(raw.layers) || raw.layers.length === 0 || raw.layers.length > MAX_LAYERS) throw bad('.layers', `must be a list of 1–${MAX_LAYERS} layers`);
  const names = new Set<string>();
  const layers = raw.layers.map((l: unknown, i): LayerSpec => {
    const at = `.layers[${i}]`;
    if (!isObject(l)) throw bad(at, 'must be an object { name, kind, … }');
    if (typeof l.name !== 'string' || !/^[\w.-]+$/.test(l.name)) throw bad(`${at}.name`, `is ${JSON.stringify(l.name)}, expected letters, digits, '_', '.' or '-'`);
    if (names.has(l.name)) throw bad(`${at}.name`, `repeats '${l.name}'; layer names must be unique`);
    // The engine's name for the image tensor: a layer of that name would overwrite it.
    if (l.name === INPUT_TENSOR) throw bad(`${at}.name`, `is '${INPUT_TENSOR}', the engine's name for the image; rename the layer`);
    names.add(l.name);
    const kind = l.kind as LayerSpec['kind'];
    if (typeof kind !== 'string' || !Object.hasOwn(LAYER_FIELDS, kind)) throw bad(`${at}.kind`, `is ${JSON.stringify(l.kind)}, expected one of ${Object.keys(LAYER_FIELDS).join(', ')}`);
    for (const k of Object.keys(l)) if (!LAYER_FIELDS[kind].includes(k)) throw bad(`${at}.${k}`, `is not a field of a ${kind} layer (${LAYER_FIELDS[kind].join(', ')})`);
    switch (kind) {
      case 'conv3x3':
        if (!isCount(l.filters, MAX_UNITS)) throw bad(`${at}.filters`, `is ${JSON.stringify(l.filters)}, expected an integer 1–${MAX_UNITS}`);
        if (l.activation !== 'relu') throw bad(`${at}.activation`, `is ${JSON.stringify(l.activation)}; conv3x3 layers are "relu"`);
        return { name: l.name, kind, filters: l.filters, activation: 'relu' };
      case 'dense':
        if (!isCount(l.units, MAX_UNITS)) throw bad(`${at}.units`, `is ${JSON.stringify(l.units)}, expected an integer 1–${MAX_UNITS}`);
        if (!DENSE_ACTIVATIONS.includes(l.activation as string)) throw bad(`${at}.activation`, `is ${JSON.stringify(l.activation)}, expected one of ${DENSE_ACTIVATIONS.join(', ')}`);
        return { name: l.name, kind, units: l.units, activation: l.activation as 'relu' | 'softmax' | 'linear' };
      default:
        return { name: l.name, kind };
    }
  });
  const spec: ModelSpec = { name, inputShape: [shape[0], shape[1], 3], layers };
  try {
    inferShapes(spec);
    classCount(spec);
  } catch (e) {
    throw bad('.layers', `do not make a network: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (convLayerNames(spec).length === 0) throw bad('.layers', 'have no conv3x3 layer, which Grad-CAM needs as its target');
  return spec;
}
