// Seeded test data and buffer scoping shared by the kernel case files.
import { fillNormal, mulberry32 } from '../../src/engine/synthetic.js';

export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array<ArrayBuffer> {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/**
 * Large draws (VGG16's fc1: 103M values, 5 s each) are kept for the next case that asks for the same
 * (n, seed, std): every version of a kernel tests fc1 on the same weights. Callers must not write them.
 */
const largeDraws = new Map<string, Float32Array<ArrayBuffer>>();
const LARGE = 1e7;

export function normal(n: number, seed: number, std: number): Float32Array<ArrayBuffer> {
  if (n < LARGE) return fillNormal(new Float32Array(n), mulberry32(seed), std) as Float32Array<ArrayBuffer>;
  const key = `${n}|${seed}|${std}`;
  let draw = largeDraws.get(key);
  if (draw) largeDraws.delete(key);
  else {
    draw = fillNormal(new Float32Array(n), mulberry32(seed), std) as Float32Array<ArrayBuffer>;
    // Two at most (the forward's and the backward's fc1): a few hundred MB, not one per shape.
    if (largeDraws.size >= 2) largeDraws.delete(largeDraws.keys().next().value!);
  }
  largeDraws.set(key, draw);
  return draw;
}

export function rms(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s / Math.max(1, a.length));
}

/** Runs body, then destroys the buffers whatever happened. */
export async function withBuffers<T>(buffers: GPUBuffer[], body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } finally {
    for (const b of buffers) b.destroy();
  }
}

/** The f16-weight kernel versions run every shape with its weights stored as float16. */
export function withWeightFormat<S extends object>(version: string, s: S): S & { weightsF16?: boolean } {
  return version.endsWith('f16') ? { ...s, weightsF16: true } : s;
}
