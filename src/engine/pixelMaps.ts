// CPU post-processing of input gradients (a few hundred thousand floats): the maps and renderings of
// the pixel-level methods, in the conventions their papers and pytorch-grad-cam use. Float64
// accumulation throughout; inputs and outputs are float32 / RGBA8.
import { IMAGENET_MEAN_BGR as MEAN_BGR, resizeAxisTable } from '../kernels/preprocessImage.js';
import type { RgbaImage } from './gradcam.js';

/** The model's preprocessed input [H, W, 3] (B, G, R, mean-subtracted) back to RGB in 0..255 units. */
export function rgbFromPreprocessed(pre: Float32Array): Float32Array {
  const out = new Float32Array(pre.length);
  for (let i = 0; i < pre.length; i += 3) for (let c = 0; c < 3; c++) out[i + c] = pre[i + 2 - c] + MEAN_BGR[2 - c];
  return out;
}

/**
 * RGB in 0..255 units to the model's preprocessed input (the inverse of rgbFromPreprocessed). The
 * 'caffe' step is a channel swap and a shift (unit scale), so a straight path or Gaussian noise in one
 * domain is the same path or noise in the other.
 */
export function preprocessedFromRgb(rgb: Float32Array): Float32Array<ArrayBuffer> {
  const out = new Float32Array(rgb.length);
  for (let i = 0; i < rgb.length; i += 3) for (let c = 0; c < 3; c++) out[i + c] = rgb[i + 2 - c] - MEAN_BGR[c];
  return out;
}

/** max over the colour channels of |g| (Simonyan et al.'s saliency map). */
export function maxAbsOverChannels(g: Float32Array): Float32Array {
  const out = new Float32Array(g.length / 3);
  for (let p = 0; p < out.length; p++) out[p] = Math.max(Math.abs(g[3 * p]), Math.abs(g[3 * p + 1]), Math.abs(g[3 * p + 2]));
  return out;
}

/** Σ over the colour channels (Integrated Gradients' per-pixel attribution, signed). */
export function sumOverChannels(a: Float32Array): Float32Array {
  const out = new Float32Array(a.length / 3);
  for (let p = 0; p < out.length; p++) out[p] = a[3 * p] + a[3 * p + 1] + a[3 * p + 2];
  return out;
}

export function sum(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

function rgba(width: number, height: number, value: (p: number, c: number) => number): RgbaImage {
  const data = new Uint8ClampedArray(4 * width * height);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) data[4 * p + c] = value(p, c);
    data[4 * p + 3] = 255;
  }
  return { width, height, data };
}

/**
 * An RGB gradient as an image, as pytorch-grad-cam's deprocess_image (and the Grad-CAM paper's figures):
 * (g − mean) / (std + 1e-5) · 0.1 + 0.5, clipped to [0, 1], × 255 truncated to uint8 (numpy's np.uint8).
 */
export function deprocessGradient(g: Float32Array, width: number, height: number): RgbaImage {
  let mean = 0;
  for (let i = 0; i < g.length; i++) mean += g[i];
  mean /= g.length;
  let v = 0;
  for (let i = 0; i < g.length; i++) v += (g[i] - mean) ** 2;
  const scale = 0.1 / (Math.sqrt(v / g.length) + 1e-5);
  return rgba(width, height, (p, c) => Math.trunc(Math.min(1, Math.max(0, (g[3 * p + c] - mean) * scale + 0.5)) * 255));
}

/**
 * A non-negative map as a grayscale image: map / t, clipped to 1, × 255 (truncated); all black when t
 * is not positive. t = the max, or with `outlierPercent` > 0 Captum's threshold for
 * visualize_image_attr(outlier_perc): the smallest sorted value at which the running sum of the
 * sorted values reaches (100 − outlierPercent)% of their total, so a few extreme pixels do not darken
 * the rest (Integrated Gradients needs it).
 */
export function grayscaleMap(map: Float32Array, width: number, height: number, outlierPercent = 0): RgbaImage {
  let top = 0;
  if (outlierPercent <= 0) for (let i = 0; i < map.length; i++) top = Math.max(top, map[i]);
  else {
    const sorted = Float64Array.from(map).sort();
    let total = 0;
    for (const v of sorted) total += v;
    const goal = total * (1 - outlierPercent / 100);
    let run = 0;
    top = sorted[sorted.length - 1];
    for (const v of sorted) {
      run += v;
      if (run >= goal) {
        top = v;
        break;
      }
    }
  }
  const scale = top > 0 ? 255 / top : 0;
  return rgba(width, height, (p) => Math.trunc(Math.min(255, Math.max(0, map[p] * scale))));
}

/** Bilinear resize of a [H, W, C] float array: cv2.resize's INTER_LINEAR positions, as the overlay's tables. */
export function resizeBilinear(src: Float32Array, width: number, height: number, channels: number, dstW: number, dstH: number): Float32Array {
  const out = new Float32Array(dstW * dstH * channels);
  const xs = resizeAxisTable(width, dstW, 'bilinear');
  const ys = resizeAxisTable(height, dstH, 'bilinear');
  for (let y = 0; y < dstH; y++) {
    const r0 = ys.i0[y] * width;
    const r1 = ys.i1[y] * width;
    const ty = ys.w1[y];
    for (let x = 0; x < dstW; x++) {
      const tx = xs.w1[x];
      for (let c = 0; c < channels; c++) {
        const a = src[(r0 + xs.i0[x]) * channels + c] * (1 - tx) + src[(r0 + xs.i1[x]) * channels + c] * tx;
        const b = src[(r1 + xs.i0[x]) * channels + c] * (1 - tx) + src[(r1 + xs.i1[x]) * channels + c] * tx;
        out[(y * dstW + x) * channels + c] = a * (1 - ty) + b * ty;
      }
    }
  }
  return out;
}

/** An RGBA rendering resized (bilinear, rounded) to another size, e.g. the original image's. */
export function resizeRgba(image: RgbaImage, width: number, height: number): RgbaImage {
  if (image.width === width && image.height === height) return image;
  const src = Float32Array.from(image.data);
  const out = resizeBilinear(src, image.width, image.height, 4, width, height);
  return { width, height, data: Uint8ClampedArray.from(out, (v) => Math.round(v)) };
}

/** Each colour channel of g times the map (Guided Grad-CAM: the guided gradient × the upsampled CAM). */
export function multiplyChannels(g: Float32Array, map: Float32Array): Float32Array {
  const out = new Float32Array(g.length);
  for (let p = 0; p < map.length; p++) for (let c = 0; c < 3; c++) out[3 * p + c] = g[3 * p + c] * map[p];
  return out;
}
