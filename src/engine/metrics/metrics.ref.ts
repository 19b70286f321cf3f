// Float64 references of the metrics' image work, written independently of evaluate.ts / stats.ts:
// straight loops, a 2-D (not separable) blur, the pixel order by a plain comparison sort, curves
// integrated by the textbook trapezoid. Scores come from whatever forward the caller trusts (the tests
// use TF.js' CPU backend).

/** Pixel indices by decreasing value, ties by increasing index. */
export function salientOrderRef(map: ArrayLike<number>): number[] {
  const idx = Array.from({ length: map.length }, (_, i) => i);
  return idx.sort((a, b) => (map[a] === map[b] ? a - b : map[b] - map[a]));
}

/** 2-D Gaussian (taps × taps, σ, normalised to sum 1) over an [h, w, c] image, zero outside. */
export function gaussianBlurRef(image: ArrayLike<number>, width: number, height: number, channels: number, sigma: number, taps = 11): Float64Array {
  const r = Math.floor(taps / 2);
  const k2: number[][] = [];
  let total = 0;
  for (let dy = -r; dy <= r; dy++) {
    const row: number[] = [];
    for (let dx = -r; dx <= r; dx++) {
      const v = Math.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma));
      row.push(v);
      total += v;
    }
    k2.push(row);
  }
  const out = new Float64Array(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < channels; c++) {
        let s = 0;
        for (let dy = -r; dy <= r; dy++)
          for (let dx = -r; dx <= r; dx++) {
            const yy = y + dy;
            const xx = x + dx;
            if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
            s += (k2[dy + r][dx + r] / total) * image[(yy * width + xx) * channels + c];
          }
        out[(y * width + x) * channels + c] = s;
      }
  return out;
}

/** Deletion (or insertion) inputs of steps 0..S: the first round(k·N/S) pixels of `order` from `to`, the rest from `from`. */
export function curveInputsRef(from: ArrayLike<number>, to: ArrayLike<number>, order: readonly number[], steps: number): Float32Array[] {
  const pixels = order.length;
  const rows: Float32Array[] = [];
  for (let k = 0; k <= steps; k++) {
    const n = Math.round((k * pixels) / steps);
    const x = Float32Array.from(from);
    for (let j = 0; j < n; j++) for (let c = 0; c < 3; c++) x[3 * order[j] + c] = to[3 * order[j] + c];
    rows.push(x);
  }
  return rows;
}

/** Area under scores at fractions 0, 1/S, …, 1 (equal spacing): (Σ − first/2 − last/2) / S, as RISE's auc(). */
export function aucRef(scores: readonly number[]): number {
  const s = scores.reduce((a, b) => a + b, 0);
  return (s - scores[0] / 2 - scores[scores.length - 1] / 2) / (scores.length - 1);
}

/** The image × (map min–max normalised), in 'caffe' space (BGR, mean-subtracted), via RGB. */
export function maskedImageRef(pre: ArrayLike<number>, map: ArrayLike<number>, meanBgr: readonly number[]): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < map.length; i++) (lo = Math.min(lo, map[i])), (hi = Math.max(hi, map[i]));
  const out = new Float32Array(pre.length);
  for (let p = 0; p < map.length; p++) {
    const m = hi > lo ? (map[p] - lo) / (hi - lo) : 0;
    for (let c = 0; c < 3; c++) out[3 * p + c] = (pre[3 * p + c] + meanBgr[c]) * m - meanBgr[c];
  }
  return out;
}

/** SSIM by its definition at every position where a win×win window fits (no summed-area tables), sample covariances. */
export function ssimRef(a: ArrayLike<number>, b: ArrayLike<number>, width: number, height: number, dataRange = 1, win = 7): number {
  const c1 = (0.01 * dataRange) ** 2;
  const c2 = (0.03 * dataRange) ** 2;
  const n = win * win;
  let total = 0;
  let count = 0;
  for (let y = 0; y + win <= height; y++)
    for (let x = 0; x + win <= width; x++) {
      let ma = 0;
      let mb = 0;
      for (let j = 0; j < win; j++) for (let i = 0; i < win; i++) (ma += a[(y + j) * width + x + i]), (mb += b[(y + j) * width + x + i]);
      ma /= n;
      mb /= n;
      let va = 0;
      let vb = 0;
      let cov = 0;
      for (let j = 0; j < win; j++)
        for (let i = 0; i < win; i++) {
          const da = a[(y + j) * width + x + i] - ma;
          const db = b[(y + j) * width + x + i] - mb;
          va += da * da;
          vb += db * db;
          cov += da * db;
        }
      va /= n - 1;
      vb /= n - 1;
      cov /= n - 1;
      total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
      count++;
    }
  return total / count;
}
