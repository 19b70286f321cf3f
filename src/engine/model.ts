// The networks as data. Layer names are Keras' (keras.applications.VGG16 / VGG19), so weight names,
// readbacks and reference dumps all speak the same language. Shapes are derived, never written down.

export type LayerSpec =
  | { name: string; kind: 'conv3x3'; filters: number; activation: 'relu' }
  | { name: string; kind: 'maxpool2x2' }
  | { name: string; kind: 'flatten' }
  | { name: string; kind: 'dense'; units: number; activation: 'relu' | 'softmax' | 'linear' };

export interface ModelSpec {
  name: string;
  /** [height, width, channels] of the network input (NHWC, batch 1). */
  inputShape: readonly [number, number, number];
  layers: readonly LayerSpec[];
}

const conv = (name: string, filters: number): LayerSpec => ({ name, kind: 'conv3x3', filters, activation: 'relu' });
const pool = (name: string): LayerSpec => ({ name, kind: 'maxpool2x2' });
const CLASSIFIER: readonly LayerSpec[] = [
  { name: 'flatten', kind: 'flatten' },
  { name: 'fc1', kind: 'dense', units: 4096, activation: 'relu' },
  { name: 'fc2', kind: 'dense', units: 4096, activation: 'relu' },
  { name: 'predictions', kind: 'dense', units: 1000, activation: 'softmax' },
];

export const VGG16: ModelSpec = {
  name: 'vgg16',
  inputShape: [224, 224, 3],
  layers: [
    conv('block1_conv1', 64), conv('block1_conv2', 64), pool('block1_pool'),
    conv('block2_conv1', 128), conv('block2_conv2', 128), pool('block2_pool'),
    conv('block3_conv1', 256), conv('block3_conv2', 256), conv('block3_conv3', 256), pool('block3_pool'),
    conv('block4_conv1', 512), conv('block4_conv2', 512), conv('block4_conv3', 512), pool('block4_pool'),
    conv('block5_conv1', 512), conv('block5_conv2', 512), conv('block5_conv3', 512), pool('block5_pool'),
    ...CLASSIFIER,
  ],
};

export const VGG19: ModelSpec = {
  name: 'vgg19',
  inputShape: [224, 224, 3],
  layers: [
    conv('block1_conv1', 64), conv('block1_conv2', 64), pool('block1_pool'),
    conv('block2_conv1', 128), conv('block2_conv2', 128), pool('block2_pool'),
    conv('block3_conv1', 256), conv('block3_conv2', 256), conv('block3_conv3', 256), conv('block3_conv4', 256), pool('block3_pool'),
    conv('block4_conv1', 512), conv('block4_conv2', 512), conv('block4_conv3', 512), conv('block4_conv4', 512), pool('block4_pool'),
    conv('block5_conv1', 512), conv('block5_conv2', 512), conv('block5_conv3', 512), conv('block5_conv4', 512), pool('block5_pool'),
    ...CLASSIFIER,
  ],
};

export const MODELS: Readonly<Record<string, ModelSpec>> = { vgg16: VGG16, vgg19: VGG19 };

/** The layers a CAM can target: every conv layer, in order. */
export function convLayerNames(model: ModelSpec): string[] {
  return model.layers.filter((l) => l.kind === 'conv3x3').map((l) => l.name);
}

/** The number of classes: the units of the last layer. */
export function classCount(model: ModelSpec): number {
  const last = model.layers[model.layers.length - 1];
  if (last?.kind !== 'dense') throw new Error(`${model.name}: the last layer is not a dense classifier`);
  return last.units;
}

export interface WeightSpec {
  /** `${layer}/kernel` or `${layer}/bias`. */
  name: string;
  layer: string;
  shape: number[];
}

export interface LayerShapes {
  layer: LayerSpec;
  input: number[];
  output: number[];
  weights: WeightSpec[];
}

const volume = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Walks the layer list from the input shape; throws naming the layer whose input does not fit. */
export function inferShapes(model: ModelSpec, inputShape: readonly number[] = model.inputShape): LayerShapes[] {
  let shape = [...inputShape];
  const out: LayerShapes[] = [];
  for (const layer of model.layers) {
    const input = shape;
    let weights: WeightSpec[] = [];
    switch (layer.kind) {
      case 'conv3x3': {
        if (input.length !== 3) throw new Error(`${model.name}/${layer.name}: conv3x3 needs an [h, w, c] input, got [${input}]`);
        shape = [input[0], input[1], layer.filters];
        weights = [
          { name: `${layer.name}/kernel`, layer: layer.name, shape: [3, 3, input[2], layer.filters] },
          { name: `${layer.name}/bias`, layer: layer.name, shape: [layer.filters] },
        ];
        break;
      }
      case 'maxpool2x2':
        if (input.length !== 3 || input[0] < 2 || input[1] < 2)
          throw new Error(`${model.name}/${layer.name}: maxpool2x2 needs an [h ≥ 2, w ≥ 2, c] input, got [${input}]`);
        shape = [Math.floor(input[0] / 2), Math.floor(input[1] / 2), input[2]];
        break;
      case 'flatten':
        shape = [volume(input)];
        break;
      case 'dense':
        if (input.length !== 1) throw new Error(`${model.name}/${layer.name}: dense needs a flat input (add a flatten layer), got [${input}]`);
        shape = [layer.units];
        weights = [
          { name: `${layer.name}/kernel`, layer: layer.name, shape: [input[0], layer.units] },
          { name: `${layer.name}/bias`, layer: layer.name, shape: [layer.units] },
        ];
        break;
    }
    out.push({ layer, input, output: shape, weights });
  }
  return out;
}

export function weightSpecs(model: ModelSpec): WeightSpec[] {
  return inferShapes(model).flatMap((l) => l.weights);
}

export function elementCount(shape: readonly number[]): number {
  return volume(shape);
}
