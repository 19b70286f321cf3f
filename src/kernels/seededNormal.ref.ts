// seededNormal's specification in float64: the same integer hash (pcg3d, u32 arithmetic by Math.imul
// and >>> 0) and the same two 24-bit uniforms, then Box–Muller in float64.
//   out[offset + i] = mean + std · z(seed, i), i < count; z(seed, 2j) = ρ cos θ, z(seed, 2j + 1) = ρ sin θ,
//   (a, b) = the top 24 bits of the first two words of pcg3d(j, seed, SALT),
//   u1 = (a + 1) / 2^24, θ = π · (b − 2^23) / 2^23, ρ = sqrt(−2 ln u1).
import type { SeededNormalParams } from './seededNormal.js';

const SALT = 0x9e3779b9;

/** pcg3d (Jarzynski & Olano 2020) on u32 triples, as WGSL computes it. */
export function pcg3d(x: number, y: number, z: number): [number, number, number] {
  let a = (Math.imul(x, 1664525) + 1013904223) >>> 0;
  let b = (Math.imul(y, 1664525) + 1013904223) >>> 0;
  let c = (Math.imul(z, 1664525) + 1013904223) >>> 0;
  a = (a + Math.imul(b, c)) >>> 0;
  b = (b + Math.imul(c, a)) >>> 0;
  c = (c + Math.imul(a, b)) >>> 0;
  a = (a ^ (a >>> 16)) >>> 0;
  b = (b ^ (b >>> 16)) >>> 0;
  c = (c ^ (c >>> 16)) >>> 0;
  a = (a + Math.imul(b, c)) >>> 0;
  b = (b + Math.imul(c, a)) >>> 0;
  c = (c + Math.imul(a, b)) >>> 0;
  return [a, b, c];
}

/** The standard normal z(seed, i). */
export function seededNormalAt(seed: number, i: number): number {
  const j = Math.floor(i / 2);
  const [h0, h1] = pcg3d(j, seed >>> 0, SALT);
  const u1 = ((h0 >>> 8) + 1) / 2 ** 24;
  const theta = (Math.PI * ((h1 >>> 8) - 2 ** 23)) / 2 ** 23;
  const rho = Math.sqrt(-2 * Math.log(u1));
  return i % 2 === 0 ? rho * Math.cos(theta) : rho * Math.sin(theta);
}

/** mean + std · z(seed, i) for i < count (element i of the output, without the offset). */
export function seededNormalRef(count: number, { seed, mean, std }: SeededNormalParams): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = mean + std * seededNormalAt(seed, i);
  return out;
}
