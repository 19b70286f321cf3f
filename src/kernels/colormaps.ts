// The overlay's colormaps: 256 RGB entries each, packed for the overlay kernel's `lut` binding. JET is
// the recipe's (OpenCV's COLORMAP_JET, reproduced exactly); the others are choices for the eye, not
// part of any reference output: viridis as a polynomial fit to matplotlib's table (within 6 of 255 per
// channel at its quartiles), hot as matplotlib's piecewise-linear ramp, gray as the identity.
import { resizeAxisTable } from './preprocessImage.js';

export type ColormapName = 'jet' | 'viridis' | 'hot' | 'gray';
export const COLORMAPS: readonly ColormapName[] = ['jet', 'viridis', 'hot', 'gray'];

const roundHalfEven = (v: number) => {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
};

/**
 * OpenCV's COLORMAP_JET as 256 RGB entries. OpenCV holds GNU Octave's jet(256) as float32 base maps
 * r, g, b(x) = clamp(1.5 − |4x − k|, 0, 1) at x = i/255 (k = 3, 2, 1), resamples them with its float32
 * interp1 at linspace(0, 1, 256), and converts with saturate_cast<uchar>(v · 255). Most entries fall on
 * exact halves, so the float32 steps (and round half to even) are emulated rather than approximated.
 */
export function jetColormap(): Uint8Array {
  const f = Math.fround;
  const n = 256;
  const step = f(1 / (n - 1));
  const X = Array.from({ length: n }, (_, i) => f(i * step));
  const channel = (k: number) => {
    const Y = Array.from({ length: n }, (_, i) => f(Math.min(1, Math.max(0, 1.5 - Math.abs((4 * i) / (n - 1) - k)))));
    return X.map((xi, i) => {
      if (i === 0) return Y[0];
      const t = f(f(f(xi - X[i - 1]) * f(Y[i] - Y[i - 1])) / f(X[i] - X[i - 1]));
      return f(Y[i - 1] + t);
    });
  };
  const [r, g, b] = [channel(3), channel(2), channel(1)];
  const lut = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    lut[3 * i] = Math.min(255, Math.max(0, roundHalfEven(f(r[i] * 255))));
    lut[3 * i + 1] = Math.min(255, Math.max(0, roundHalfEven(f(g[i] * 255))));
    lut[3 * i + 2] = Math.min(255, Math.max(0, roundHalfEven(f(b[i] * 255))));
  }
  return lut;
}

// A degree-6 least-squares fit per channel to matplotlib's viridis (Matt Zucker's coefficients),
// constant term first.
const VIRIDIS_FIT = [
  [0.2777273272234177, 0.1050930431085774, -0.3308618287255563, -4.634230498983486, 6.228269936347081, 4.776384997670288, -5.435455855934631],
  [0.005407344544966578, 1.404613529898575, 0.214847559468213, -5.799100973351585, 14.17993336680509, -13.74514537774601, 4.645852612178535],
  [0.3340998053353061, 1.384590162594685, 0.09509516302823659, -19.33244095627987, 56.69055260068105, -65.35303263337234, 26.3124352495832],
];

function fromFunction(rgb: (t: number) => [number, number, number]): Uint8Array {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const c = rgb(i / 255);
    for (let k = 0; k < 3; k++) lut[3 * i + k] = Math.round(255 * Math.min(1, Math.max(0, c[k])));
  }
  return lut;
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

/** 256 RGB entries of a colormap. */
export function colormap(name: ColormapName): Uint8Array {
  switch (name) {
    case 'jet':
      return jetColormap();
    case 'viridis':
      return fromFunction((t) => VIRIDIS_FIT.map((c) => c.reduceRight((acc, ci) => ci + t * acc, 0)) as [number, number, number]);
    case 'hot':
      // matplotlib's 'hot': red reaches 1 at 0.365, green at 0.746, blue rises over the last quarter.
      return fromFunction((t) => [clamp01(t / 0.365079), clamp01((t - 0.365079) / (0.746032 - 0.365079)), clamp01((t - 0.746032) / (1 - 0.746032))]);
    case 'gray':
      return fromFunction((t) => [t, t, t]);
    default:
      throw new Error(`colormap '${String(name)}': choose one of ${COLORMAPS.join(', ')}`);
  }
}

/** The overlay kernel's `lut` buffer: R | G << 8 | B << 16 per entry. */
export function packColormapLut(name: ColormapName): Uint32Array<ArrayBuffer> {
  const rgb = colormap(name);
  return Uint32Array.from({ length: 256 }, (_, i) => rgb[3 * i] | (rgb[3 * i + 1] << 8) | (rgb[3 * i + 2] << 16));
}

/**
 * A heatmap as an RGBA image at width × height: upsampled as the overlay is (bilinear, half-pixel
 * centres, in float64 here), quantised as uint8(255·h) and coloured. For display next to the overlay,
 * whose kernel is the reference for the blend.
 */
export function colorizeHeatmap(map: { data: ArrayLike<number>; width: number; height: number }, width: number, height: number, name: ColormapName = 'jet'): Uint8ClampedArray {
  const rgb = colormap(name);
  const tx = resizeAxisTable(map.width, width, 'bilinear');
  const ty = resizeAxisTable(map.height, height, 'bilinear');
  const out = new Uint8ClampedArray(4 * width * height);
  const at = (x: number, y: number) => map.data[y * map.width + x];
  for (let y = 0; y < height; y++) {
    const [y0, y1, fy] = [ty.i0[y], ty.i1[y], ty.w1[y]];
    for (let x = 0; x < width; x++) {
      const [x0, x1, fx] = [tx.i0[x], tx.i1[x], tx.w1[x]];
      const h = (at(x0, y0) * (1 - fx) + at(x1, y0) * fx) * (1 - fy) + (at(x0, y1) * (1 - fx) + at(x1, y1) * fx) * fy;
      const u = Math.min(255, Math.max(0, Math.floor(255 * h)));
      out.set([rgb[3 * u], rgb[3 * u + 1], rgb[3 * u + 2], 255], 4 * (y * width + x));
    }
  }
  return out;
}
