// manifest.json's modelSpec (src/engine/weights/modelSpec.ts): the layer list of a model the loader
// is not told about, checked field by field before a device is asked for limits; each wrong field is
// named with the fix, in one line. On the CPU, no browser (test/browser-weights.test.ts loads one).
import { describe, expect, it } from 'vitest';
import { MODELS, VGG16 } from '../src/engine/model.js';
import { manifestModel, parseModelSpec } from '../src/engine/weights/modelSpec.js';
import { TINY_VGG } from './support/tinyVgg.js';

const WHERE = 'http://x/weights/tinyvgg/manifest.json';
const json = <T>(v: T): unknown => JSON.parse(JSON.stringify(v));
const withLayer = (i: number, patch: Record<string, unknown>) => ({ ...json(TINY_VGG) as object, layers: TINY_VGG.layers.map((l, j) => (j === i ? { ...l, ...patch } : l)) });

describe('manifest modelSpec', () => {
  it('a valid spec comes back as the ModelSpec it describes; a built-in model needs none and may repeat itself exactly', () => {
    expect(parseModelSpec(json(TINY_VGG), 'tinyvgg', WHERE)).toEqual(TINY_VGG);
    expect(manifestModel({ model: 'tinyvgg', modelSpec: json(TINY_VGG) }, WHERE, MODELS)).toEqual(TINY_VGG);
    expect(manifestModel({ model: 'vgg16' }, WHERE, MODELS)).toBe(VGG16);
    expect(manifestModel({ model: 'vgg16', modelSpec: json(VGG16) }, WHERE, MODELS)).toBe(VGG16);
    // An unknown model without a spec: parseManifest names the field 'model' and the known ones.
    expect(manifestModel({ model: 'tinyvgg' }, WHERE, MODELS)).toBeUndefined();
  });

  const cases: [string, unknown, RegExp][] = [
    ['not an object', [1], /field 'modelSpec' must be an object \{ name, inputShape, layers \}/],
    ['another name', { ...(json(TINY_VGG) as object), name: 'other' }, /field 'modelSpec\.name' is "other", but the manifest's model is "tinyvgg"/],
    ['an unknown field', { ...(json(TINY_VGG) as object), layer: [] }, /field 'modelSpec\.layer' is not a ModelSpec field/],
    ['a grey input', { ...(json(TINY_VGG) as object), inputShape: [16, 16, 1] }, /field 'modelSpec\.inputShape' is \[16,16,1\], expected \[height, width, 3\]/],
    ['no layers', { ...(json(TINY_VGG) as object), layers: [] }, /field 'modelSpec\.layers' must be a list of 1–256 layers/],
    ['a bad kind', withLayer(1, { kind: 'avgpool2x2' }), /field 'modelSpec\.layers\[1\]\.kind' is "avgpool2x2", expected one of conv3x3, maxpool2x2, flatten, dense/],
    ['a misspelt field', withLayer(0, { filter: 8 }), /field 'modelSpec\.layers\[0\]\.filter' is not a field of a conv3x3 layer/],
    ['filters 2.5', withLayer(0, { filters: 2.5 }), /field 'modelSpec\.layers\[0\]\.filters' is 2\.5, expected an integer 1–65536/],
    ['a sigmoid', withLayer(5, { activation: 'sigmoid' }), /field 'modelSpec\.layers\[5\]\.activation' is "sigmoid", expected one of relu, softmax, linear/],
    ['a repeated name', withLayer(2, { name: 'block1_conv1' }), /field 'modelSpec\.layers\[2\]\.name' repeats 'block1_conv1'/],
    ["a layer named 'input' (the image tensor's name)", withLayer(0, { name: 'input' }), /field 'modelSpec\.layers\[0\]\.name' is 'input', the engine's name for the image; rename the layer/],
    ['dense before flatten', { ...(json(TINY_VGG) as object), layers: TINY_VGG.layers.filter((l) => l.kind !== 'flatten') }, /field 'modelSpec\.layers' do not make a network: tinyvgg\/fc1: dense needs a flat input/],
    ['no conv layer', { ...(json(TINY_VGG) as object), layers: TINY_VGG.layers.filter((l) => l.kind !== 'conv3x3') }, /have no conv3x3 layer, which Grad-CAM needs/],
  ];
  it.each(cases)('refuses %s, naming the field and the fix', (_what, spec, message) => {
    let error: unknown;
    try {
      parseModelSpec(spec, 'tinyvgg', WHERE);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    const text = (error as Error).message;
    expect(text).toMatch(message);
    expect(text.startsWith(`${WHERE}: field 'modelSpec`)).toBe(true);
    expect(text).toMatch(/; fix the manifest's modelSpec \(the engine's ModelSpec as JSON\)$/);
    expect(text).not.toContain('\n');
  });

  it('refuses a spec that redefines a built-in model', () => {
    expect(() => manifestModel({ model: 'vgg16', modelSpec: { ...(json(TINY_VGG) as object), name: 'vgg16' } }, WHERE, MODELS)).toThrow(
      /field 'modelSpec' redefines the built-in model 'vgg16'; remove it, or rename the model/,
    );
  });
});
