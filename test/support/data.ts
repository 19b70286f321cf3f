// Seeded test data and buffer scoping shared by the kernel case files.
import { fillNormal, mulberry32 } from '../../src/engine/synthetic.js';

export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array<ArrayBuffer> {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

export function normal(n: number, seed: number, std: number): Float32Array<ArrayBuffer> {
  return fillNormal(new Float32Array(n), mulberry32(seed), std) as Float32Array<ArrayBuffer>;
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
