// Keras' ImageNet class index (data/imagenet_class_index.json, md5 c2c37ea517e94d9795004a39431a14cb)
// and a decode_predictions with Keras' result shape.
import classIndexJson from '../../data/imagenet_class_index.json';

export type ClassIndex = Readonly<Record<string, readonly [string, string]>>;

export const IMAGENET_CLASS_INDEX: ClassIndex = classIndexJson as unknown as ClassIndex;

export interface Prediction {
  index: number;
  wnid: string;
  label: string;
  probability: number;
}

/** Indices of the k largest values, highest first (ties: lower index first). */
export function topK(values: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i)
    .sort((a, b) => values[b] - values[a] || a - b)
    .slice(0, k);
}

/** Top-k classes, highest first (ties: lower index first), like keras.applications...decode_predictions. */
export function decodePredictions(probabilities: ArrayLike<number>, top = 5, classIndex: ClassIndex = IMAGENET_CLASS_INDEX): Prediction[] {
  const classes = Object.keys(classIndex).length;
  if (probabilities.length !== classes)
    throw new Error(`decodePredictions: expected ${classes} probabilities (one per ImageNet class), got ${probabilities.length}`);
  if (!Number.isInteger(top) || top < 1 || top > classes) throw new Error(`decodePredictions: top must be an integer in 1..${classes}, got ${top}`);
  return topK(probabilities, top).map((index) => {
    const [wnid, label] = classIndex[String(index)];
    return { index, wnid, label, probability: probabilities[index] };
  });
}

/** Keras' printed form: [('n02504458', 'African_elephant', 0.909…), …]. */
export function formatPredictions(predictions: readonly Prediction[]): string {
  return `[${predictions.map((p) => `('${p.wnid}', '${p.label}', ${p.probability})`).join(', ')}]`;
}
