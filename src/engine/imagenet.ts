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

const normaliseLabel = (s: string) => s.trim().toLowerCase().replace(/[\s_-]+/g, ' ');

/**
 * The classes a person's text names: an index ('386'), a wnid ('n02504458'), a label in any case with
 * spaces, underscores or hyphens ('african elephant', 'African_elephant'), or the "label (index)" form
 * of a suggestion list. Usually one; two for the labels Keras lists twice ('crane': 134 and 517,
 * 'maillot': 638 and 639); none when nothing matches (see classSuggestions for partial input).
 */
export function matchingClasses(query: string, classIndex: ClassIndex = IMAGENET_CLASS_INDEX): number[] {
  const q = query.trim();
  const classes = Object.keys(classIndex).length;
  const suggestion = /\((\d+)\)$/.exec(q);
  if (suggestion) return matchingClasses(suggestion[1], classIndex);
  if (/^\d+$/.test(q)) return Number(q) < classes ? [Number(q)] : [];
  const key = normaliseLabel(q);
  const out: number[] = [];
  for (let i = 0; i < classes; i++) {
    const [wnid, label] = classIndex[String(i)];
    if (wnid.toLowerCase() === key || normaliseLabel(label) === key) out.push(i);
  }
  return out;
}

/** The one class the text names (see matchingClasses), or undefined when it names none or several. */
export function findClass(query: string, classIndex: ClassIndex = IMAGENET_CLASS_INDEX): number | undefined {
  const found = matchingClasses(query, classIndex);
  return found.length === 1 ? found[0] : undefined;
}

/** Up to `limit` classes whose label or wnid contains the typed text (labels starting with it first). */
export function classSuggestions(query: string, limit = 10, classIndex: ClassIndex = IMAGENET_CLASS_INDEX): number[] {
  const key = normaliseLabel(query);
  if (!key) return [];
  const starts: number[] = [];
  const contains: number[] = [];
  for (let i = 0; i < Object.keys(classIndex).length; i++) {
    const [wnid, label] = classIndex[String(i)];
    const l = normaliseLabel(label);
    if (l.startsWith(key) || wnid === key || String(i) === key) starts.push(i);
    else if (l.includes(key) || wnid.includes(key)) contains.push(i);
  }
  return [...starts, ...contains].slice(0, limit);
}
