// Float64 statistics of maps and curves (a few 10⁵ values: the CPU is the right place). Each follows
// the reference its metric's paper or library uses, named at the function.

/** numpy.percentile's default ('linear'): the value at rank q/100·(n − 1) of the sorted values, interpolated. */
export function percentile(values: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 100)) throw new Error(`percentile ${q}: must be in 0..100`);
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) throw new Error('percentile of no values');
  const at = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (at - lo) * (sorted[hi] - sorted[lo]);
}

/** Ranks 1..n, ties sharing their average rank (scipy.stats.rankdata's 'average'). */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && values[order[j]] === values[order[i]]) j++;
    const rank = (i + j + 1) / 2;
    for (let k = i; k < j; k++) ranks[order[k]] = rank;
    i = j;
  }
  return ranks;
}

/** Pearson's r; NaN when either side is constant (no correlation is defined, as scipy). */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`pearson: lengths differ (${a.length} and ${b.length})`);
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) (ma += a[i]), (mb += b[i]);
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma;
    const db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa === 0 || sbb === 0 ? NaN : sab / Math.sqrt(saa * sbb);
}

/** scipy.stats.spearmanr: Pearson's r of the average ranks. */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return pearson(averageRanks(a), averageRanks(b));
}

/** (x − min) / (max − min); all zeros for a constant map. */
export function minMaxNormalize(map: ArrayLike<number>): Float64Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < map.length; i++) (lo = Math.min(lo, map[i])), (hi = Math.max(hi, map[i]));
  const out = new Float64Array(map.length);
  if (hi > lo) for (let i = 0; i < map.length; i++) out[i] = (map[i] - lo) / (hi - lo);
  return out;
}

/** Window sums of a [h, w] image over win×win squares, for every top-left corner (summed-area table). */
function windowSums(x: Float64Array, w: number, h: number, win: number): Float64Array {
  const sat = new Float64Array((w + 1) * (h + 1));
  for (let y = 0; y < h; y++)
    for (let i = 0; i < w; i++) sat[(y + 1) * (w + 1) + i + 1] = x[y * w + i] + sat[y * (w + 1) + i + 1] + sat[(y + 1) * (w + 1) + i] - sat[y * (w + 1) + i];
  const ow = w - win + 1;
  const oh = h - win + 1;
  const out = new Float64Array(ow * oh);
  for (let y = 0; y < oh; y++)
    for (let i = 0; i < ow; i++)
      out[y * ow + i] = sat[(y + win) * (w + 1) + i + win] - sat[y * (w + 1) + i + win] - sat[(y + win) * (w + 1) + i] + sat[y * (w + 1) + i];
  return out;
}

/**
 * Mean SSIM (Wang et al. 2004) as scikit-image's structural_similarity with its defaults for 2-D
 * float images: 7×7 uniform window, K1 = 0.01, K2 = 0.03, sample covariances (N / (N − 1)), the mean
 * over the positions where the whole window fits (skimage crops (7 − 1) / 2 pixels at each border).
 */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, width: number, height: number, dataRange = 1, win = 7): number {
  if (a.length !== width * height || b.length !== width * height) throw new Error(`ssim: maps must have ${width}×${height} values`);
  if (width < win || height < win) throw new Error(`ssim: maps of ${width}×${height} are smaller than the ${win}×${win} window`);
  const x = Float64Array.from(a);
  const y = Float64Array.from(b);
  const n = win * win;
  const sx = windowSums(x, width, height, win);
  const sy = windowSums(y, width, height, win);
  const sxx = windowSums(x.map((v) => v * v), width, height, win);
  const syy = windowSums(y.map((v) => v * v), width, height, win);
  const sxy = windowSums(x.map((v, i) => v * y[i]), width, height, win);
  const c1 = (0.01 * dataRange) ** 2;
  const c2 = (0.03 * dataRange) ** 2;
  const covNorm = n / (n - 1);
  let total = 0;
  for (let i = 0; i < sx.length; i++) {
    const ux = sx[i] / n;
    const uy = sy[i] / n;
    const vx = covNorm * (sxx[i] / n - ux * ux);
    const vy = covNorm * (syy[i] / n - uy * uy);
    const vxy = covNorm * (sxy[i] / n - ux * uy);
    total += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
  }
  return total / sx.length;
}

/** Trapezoidal area under y(x) (x ascending). */
export function trapezoid(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new Error(`trapezoid: ${x.length} x values, ${y.length} y values`);
  let area = 0;
  for (let i = 1; i < x.length; i++) area += ((x[i] - x[i - 1]) * (y[i] + y[i - 1])) / 2;
  return area;
}

/** Pixel indices by decreasing saliency, ties by increasing index (a stable order every host reproduces). */
export function salientOrder(map: ArrayLike<number>): Uint32Array {
  const order = Uint32Array.from({ length: map.length }, (_, i) => i);
  return order.sort((p, q) => map[q] - map[p] || p - q);
}

/**
 * A Gaussian blur of an [h, w, c] image: `taps` samples of a Gaussian of σ = `sigma`, normalised to
 * sum 1, separable, zero outside the image. RISE blurs its normalised tensor this way (klen 11, σ 5,
 * zero padding), where zero is the mean colour; applied to the model's mean-subtracted input it is the
 * same substrate.
 */
export function gaussianBlur(image: Float32Array, width: number, height: number, channels: number, sigma: number, taps = 11): Float32Array {
  if (!(sigma > 0)) throw new Error(`blur σ ${sigma}: must be positive`);
  const r = taps >> 1;
  const k = Array.from({ length: taps }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const ks = k.reduce((s, v) => s + v, 0);
  for (let i = 0; i < taps; i++) k[i] /= ks;
  const pass = (src: Float64Array, horizontal: boolean): Float64Array => {
    const out = new Float64Array(src.length);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        for (let c = 0; c < channels; c++) {
          let s = 0;
          for (let t = -r; t <= r; t++) {
            const xx = horizontal ? x + t : x;
            const yy = horizontal ? y : y + t;
            if (xx >= 0 && xx < width && yy >= 0 && yy < height) s += k[t + r] * src[(yy * width + xx) * channels + c];
          }
          out[(y * width + x) * channels + c] = s;
        }
    return out;
  };
  return Float32Array.from(pass(pass(Float64Array.from(image), true), false));
}
