// float32 → float16 on the CPU, for the references of the f16-weight kernels: the two float16 values
// around x (equal when x is exactly representable), and unpacking of stored halves.

/** float16 bits → its value. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** The float16 value nearest x (ties to even), as IEEE-754 binary16 rounding gives. */
export function roundToHalf(x: number): number {
  const v = Math.fround(x);
  if (!Number.isFinite(v) || v === 0) return v;
  const a = Math.abs(v);
  if (a >= 65520) return Math.sign(v) * Infinity;
  // Spacing of halves around a: 2^(e − 10) for normal halves, 2^−24 for subnormals.
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = 2 ** (e - 10);
  // a / ulp is exact (ulp is a power of two), so a tie is exactly .5.
  const q = a / ulp;
  const floor = Math.floor(q);
  const r = q - floor > 0.5 || (q - floor === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
  return Math.sign(v) * r * ulp;
}

/** The two float16 values that bracket x (the same value twice when x is one); beyond ±65504, ±65504. */
export function halfNeighbours(x: number): [number, number] {
  if (Math.abs(x) > 65504) return [Math.sign(x) * 65504, Math.sign(x) * 65504];
  const r = roundToHalf(x);
  if (r === x || !Number.isFinite(r)) return [r, r];
  const a = Math.abs(x);
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = 2 ** (e - 10);
  const lo = Math.sign(x) * Math.floor(a / ulp) * ulp;
  const hi = Math.sign(x) * Math.ceil(a / ulp) * ulp;
  return [Math.min(lo, hi), Math.max(lo, hi)];
}

let table: Float32Array | undefined;

/** Packed words (low half first) → float32 values, `count` of them. */
export function unpackHalves(words: Uint32Array, count: number): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfToFloat(h);
  }
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = table[i % 2 === 0 ? words[i >> 1] & 0xffff : words[i >> 1] >>> 16];
  return out;
}
