// The CAM family as data: what each method needs (gradients, a perturbation pass) and how its map is
// formed from the target layer's activations A and gradient G, and the targets a map can explain.
// Definitions follow pytorch-grad-cam, the reference library, except Grad-CAM itself, which keeps the
// Keras recipe's mean over channels (pytorch-grad-cam sums; after ÷max the maps are the same).
import type { ChannelWeightMethod, MapTerm } from '../kernels/gradcam.js';

export const CAM_METHODS = [
  'gradcam',
  'gradcam++',
  'xgradcam',
  'hirescam',
  'gradcam-elementwise',
  'layercam',
  'eigencam',
  'eigengradcam',
  'scorecam',
  'ablationcam',
] as const;
export type CamMethod = (typeof CAM_METHODS)[number];

export interface MethodSpec {
  /** Needs G = dscore/dA (a backward pass). */
  gradients: boolean;
  /** Channel weights from G (and A), for the weighted term. */
  weights?: ChannelWeightMethod;
  /** Channel weights from perturbed forwards (perturbationCam.ts). */
  perturbation?: 'scorecam' | 'ablationcam';
  /** The per-channel term of the map. */
  term: MapTerm;
  /** The map is the first principal component of the terms, not their sum. */
  eigen: boolean;
  /** Divide the channel sum by C (Grad-CAM's recipe). */
  mean: boolean;
  /** One line for help texts and the README. */
  formula: string;
}

export const METHOD_SPECS: Readonly<Record<CamMethod, MethodSpec>> = {
  gradcam: { gradients: true, weights: 'gradcam', term: 'weighted', eigen: false, mean: true, formula: 'mean_k A_k · mean_ij G_k (the Keras recipe)' },
  'gradcam++': { gradients: true, weights: 'gradcam++', term: 'weighted', eigen: false, mean: false, formula: 'Σ_k A_k · Σ_ij ReLU(G)·G²/(2G² + ΣA·G³ + 1e-6)' },
  xgradcam: { gradients: true, weights: 'xgradcam', term: 'weighted', eigen: false, mean: false, formula: 'Σ_k A_k · Σ_ij G·A / (Σ_ij A + 1e-7)' },
  hirescam: { gradients: true, term: 'hirescam', eigen: false, mean: false, formula: 'Σ_k G·A' },
  'gradcam-elementwise': { gradients: true, term: 'elementwise', eigen: false, mean: false, formula: 'Σ_k ReLU(G·A)' },
  layercam: { gradients: true, term: 'layercam', eigen: false, mean: false, formula: 'Σ_k ReLU(G)·A' },
  eigencam: { gradients: false, term: 'activations', eigen: true, mean: false, formula: 'A (centred) projected on its first right singular vector' },
  eigengradcam: { gradients: true, term: 'hirescam', eigen: true, mean: false, formula: 'G·A (centred) projected on its first right singular vector' },
  scorecam: { gradients: false, perturbation: 'scorecam', term: 'weighted', eigen: false, mean: false, formula: 'Σ_k A_k · softmax_k(score of the input masked by upsampled A_k)' },
  ablationcam: { gradients: false, perturbation: 'ablationcam', term: 'weighted', eigen: false, mean: false, formula: 'Σ_k A_k · (s − s_k)/s, s_k: score with channel k zeroed' },
};

export function checkMethod(method: string): CamMethod {
  if (!(CAM_METHODS as readonly string[]).includes(method)) throw new Error(`method '${method}': choose one of ${CAM_METHODS.join(', ')}`);
  return method as CamMethod;
}

/**
 * What a map explains. 'class': one class's score (default: the top-1 class); 'classes': the sum of
 * several classes' scores; 'counterfactual': the negated score (what lowers the class, as in the
 * Grad-CAM paper); 'rank': the k-th most probable class (0 = top-1), found on the GPU.
 */
export type CamTarget =
  | { kind: 'class'; classIndex?: number }
  | { kind: 'classes'; classes: readonly number[] }
  | { kind: 'counterfactual'; classIndex: number }
  | { kind: 'rank'; rank: number };

/** A target after the forward: the classes whose scores it sums, and the sign. */
export interface ResolvedTarget {
  kind: CamTarget['kind'];
  classes: number[];
  sign: 1 | -1;
}

const intList = (text: string, what: string): number[] =>
  text.split(',').map((t) => {
    const v = t.trim();
    if (!/^\d+$/.test(v)) throw new Error(`target '${what}': '${v}' is not a class index (an integer 0–999)`);
    return Number(v);
  });

/** Parses 'class:<i>', 'class' (top-1), 'classes:<i,j,…>', 'counterfactual:<i>' or 'rank:<k>' (also a bare index). */
export function parseTarget(text: string): CamTarget {
  const t = text.trim();
  if (/^\d+$/.test(t)) return { kind: 'class', classIndex: Number(t) };
  const m = /^([a-z]+)(?::(.*))?$/.exec(t);
  const usage = 'write class:<i>, classes:<i,j,…>, counterfactual:<i> or rank:<k> (the k-th most probable class, 0 = top-1), e.g. class:386';
  if (!m) throw new Error(`target '${text}': ${usage}`);
  const [, kind, rest] = m;
  switch (kind) {
    case 'class':
      if (rest === undefined || rest === '') return { kind: 'class' };
      return { kind: 'class', classIndex: single(intList(rest, text), text) };
    case 'classes': {
      const classes = intList(rest ?? '', text);
      if (!classes.length) throw new Error(`target '${text}': list at least one class`);
      return { kind: 'classes', classes: [...new Set(classes)] };
    }
    case 'counterfactual':
      return { kind: 'counterfactual', classIndex: single(intList(rest ?? '', text), text) };
    case 'rank':
      return { kind: 'rank', rank: single(intList(rest ?? '', text), text) };
    default:
      throw new Error(`target '${text}': unknown kind '${kind}'; ${usage}`);
  }
}

function single(list: number[], text: string): number {
  if (list.length !== 1) throw new Error(`target '${text}': give one class index (use classes:<i,j,…> for several)`);
  return list[0];
}

/** The inverse of parseTarget for a resolved target: 'class:386', 'classes:1,2', 'counterfactual:5'. */
export function formatTarget(t: ResolvedTarget): string {
  if (t.kind === 'classes') return `classes:${t.classes.join(',')}`;
  if (t.kind === 'counterfactual') return `counterfactual:${t.classes[0]}`;
  return `class:${t.classes[0]}`;
}

/** Checks class indices against the model's class count. */
export function checkTarget(t: CamTarget, classes: number): void {
  const check = (i: number) => {
    if (!(Number.isInteger(i) && i >= 0 && i < classes)) throw new Error(`target class ${i}: must be an integer in 0..${classes - 1}`);
  };
  if (t.kind === 'class' && t.classIndex !== undefined) check(t.classIndex);
  if (t.kind === 'classes') {
    if (!t.classes.length) throw new Error('target classes: list at least one class');
    t.classes.forEach(check);
  }
  if (t.kind === 'counterfactual') check(t.classIndex);
  if (t.kind === 'rank' && !(Number.isInteger(t.rank) && t.rank >= 0 && t.rank < classes)) throw new Error(`target rank ${t.rank}: must be in 0..${classes - 1}`);
}
