// float16 on the CPU, for the tests of the f16-weight kernels: the two float16 values around a float32
// (equal when it is exactly representable), and unpacking of stored halves.

/** float16 bits → its value. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** The two float16 values that bracket x (the same value twice when x is one); beyond ±65504, ±65504. */
export function halfNeighbours(x: number): [number, number] {
  const v = Math.fround(x);
  if (Math.abs(v) > 65504) return [Math.sign(v) * 65504, Math.sign(v) * 65504];
  if (v === 0) return [v, v];
  // Spacing of halves around |v|: 2^(e − 10) for normal halves, 2^−24 for subnormals.
  const a = Math.abs(v);
  const ulp = 2 ** (Math.max(Math.floor(Math.log2(a)), -14) - 10);
  const lo = Math.sign(v) * Math.floor(a / ulp) * ulp;
  const hi = Math.sign(v) * Math.ceil(a / ulp) * ulp;
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
