// A small CPU raster for charts and labelled image grids: the same pixels in Node and in a browser, no
// canvas and no dependency. Coordinates are continuous: pixel (i, j) covers [i, i + 1) × [j, j + 1), so its
// centre is (i + 0.5, j + 0.5); a 1-pixel line through pixel centres is crisp, one along pixel edges is
// shared half and half by two rows. Everything is clipped to the image; nothing throws for drawing
// partly or wholly outside it.
import type { RgbaImage } from '../gradcam.js';
import { GLYPH_ADVANCE, GLYPH_ROWS, GLYPH_WIDTH, glyphRows, toFontText } from './font.js';

export type Rgb = readonly [number, number, number];

export interface TextOptions {
  color?: Rgb;
  /** Integer pixel size of one font dot; 1 gives 8-pixel-tall text. */
  scale?: number;
  /** 90° counter-clockwise: reads bottom to top, as a y-axis label does. */
  rotate?: boolean;
}

const BLACK: Rgb = [0, 0, 0];

/** An opaque image filled with `background`. */
export function createImage(width: number, height: number, background: readonly [number, number, number] = [255, 255, 255]): RgbaImage {
  checkSize('createImage', width, height);
  checkColor('createImage background', background);
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < data.length; i += 4) {
    data[i] = background[0];
    data[i + 1] = background[1];
    data[i + 2] = background[2];
    data[i + 3] = 255;
  }
  return { width, height, data };
}

/** Fills the pixels whose centres lie in [x, x + w) × [y, y + h), opaque. */
export function fillRect(img: RgbaImage, x: number, y: number, w: number, h: number, color: Rgb): void {
  const x0 = clampInt(Math.round(x), 0, img.width);
  const x1 = clampInt(Math.round(x + w), 0, img.width);
  const y0 = clampInt(Math.round(y), 0, img.height);
  const y1 = clampInt(Math.round(y + h), 0, img.height);
  for (let py = y0; py < y1; py++) {
    for (let px = x0; px < x1; px++) {
      const i = (py * img.width + px) * 4;
      img.data[i] = color[0];
      img.data[i + 1] = color[1];
      img.data[i + 2] = color[2];
      img.data[i + 3] = 255;
    }
  }
}

/**
 * An anti-aliased line with round caps: each pixel is covered by how far its centre lies inside
 * thickness / 2 of the segment (a one-pixel ramp), and blended over what is there. Pixels fully inside get
 * exactly `color`, which is what lets tests find a series by its colour. Consecutive segments of a
 * polyline overlap at the joint, so their caps make round joins.
 */
export function drawLine(img: RgbaImage, x0: number, y0: number, x1: number, y1: number, color: Rgb, thickness = 1): void {
  if (![x0, y0, x1, y1].every(Number.isFinite)) throw new RangeError(`drawLine: the end points must be finite numbers, got (${x0}, ${y0}) to (${x1}, ${y1})`);
  if (!(thickness > 0) || !Number.isFinite(thickness)) throw new RangeError(`drawLine: thickness must be a positive number, got ${thickness}`);
  const reach = thickness / 2 + 0.5; // beyond this distance from the segment, coverage is 0
  const dx = x1 - x0;
  const dy = y1 - y0;
  const lengthSq = dx * dx + dy * dy;
  const rowFirst = Math.max(0, Math.floor(Math.min(y0, y1) - reach));
  const rowLast = Math.min(img.height - 1, Math.ceil(Math.max(y0, y1) + reach));
  for (let py = rowFirst; py <= rowLast; py++) {
    const cy = py + 0.5;
    // Only the part of the segment within `reach` of this row can cover it: bounding its x extent keeps
    // the work proportional to the line's area, not to its bounding box (long diagonals).
    let tLo = 0;
    let tHi = 1;
    if (dy !== 0) {
      const ta = (cy - reach - y0) / dy;
      const tb = (cy + reach - y0) / dy;
      tLo = Math.max(0, Math.min(ta, tb));
      tHi = Math.min(1, Math.max(ta, tb));
      if (tLo > tHi) continue;
    } else if (Math.abs(cy - y0) > reach) continue;
    const xa = x0 + dx * tLo;
    const xb = x0 + dx * tHi;
    const colFirst = Math.max(0, Math.floor(Math.min(xa, xb) - reach));
    const colLast = Math.min(img.width - 1, Math.ceil(Math.max(xa, xb) + reach));
    for (let px = colFirst; px <= colLast; px++) {
      const cx = px + 0.5;
      const t = lengthSq === 0 ? 0 : Math.min(1, Math.max(0, ((cx - x0) * dx + (cy - y0) * dy) / lengthSq));
      const distance = Math.hypot(cx - (x0 + t * dx), cy - (y0 + t * dy));
      const coverage = reach - distance;
      if (coverage > 0) blendPixel(img, px, py, color, Math.min(1, coverage));
    }
  }
}

/** An anti-aliased filled disc centred at (cx, cy); pixels whose centres are inside radius − 0.5 get exactly `color`. */
export function fillCircle(img: RgbaImage, cx: number, cy: number, radius: number, color: Rgb): void {
  if (![cx, cy, radius].every(Number.isFinite) || radius < 0) throw new RangeError(`fillCircle: centre and radius must be finite (radius ≥ 0), got (${cx}, ${cy}) r=${radius}`);
  const reach = radius + 0.5;
  const rowFirst = Math.max(0, Math.floor(cy - reach));
  const rowLast = Math.min(img.height - 1, Math.ceil(cy + reach));
  const colFirst = Math.max(0, Math.floor(cx - reach));
  const colLast = Math.min(img.width - 1, Math.ceil(cx + reach));
  for (let py = rowFirst; py <= rowLast; py++) {
    for (let px = colFirst; px <= colLast; px++) {
      const coverage = reach - Math.hypot(px + 0.5 - cx, py + 0.5 - cy);
      if (coverage > 0) blendPixel(img, px, py, color, Math.min(1, coverage));
    }
  }
}

/** Width in pixels of `text` drawn at `scale`: first lit column to the end of the last glyph, no trailing gap. */
export function textWidth(text: string, scale = 1): number {
  checkScale(scale);
  const glyphs = toFontText(text).length;
  return glyphs === 0 ? 0 : (glyphs * GLYPH_ADVANCE - (GLYPH_ADVANCE - GLYPH_WIDTH)) * scale;
}

/** Height in pixels of one line of text at `scale`, from the top of capitals to the bottom of descenders. */
export function textHeight(scale = 1): number {
  checkScale(scale);
  return GLYPH_ROWS * scale;
}

/**
 * Draws one line of text with its box's top-left corner at (x, y) (rounded to whole pixels), in opaque
 * `color` (no anti-aliasing: the font is a bitmap). Returns the box's size, which is textWidth × textHeight,
 * or textHeight × textWidth when rotated. Characters the font lacks are drawn as toFontText maps them.
 */
export function drawText(img: RgbaImage, x: number, y: number, text: string, options: TextOptions = {}): { width: number; height: number } {
  const scale = options.scale ?? 1;
  const color = options.color ?? BLACK;
  const rotate = options.rotate ?? false;
  const width = textWidth(text, scale);
  const height = textHeight(scale);
  const left = Math.round(x);
  const top = Math.round(y);
  const glyphs = toFontText(text);
  for (let g = 0; g < glyphs.length; g++) {
    const rows = glyphRows(glyphs[g]);
    for (let row = 0; row < GLYPH_ROWS; row++) {
      const bits = rows[row];
      if (bits === 0) continue;
      for (let col = 0; col < GLYPH_WIDTH; col++) {
        if ((bits & (1 << (GLYPH_WIDTH - 1 - col))) === 0) continue;
        const u0 = (g * GLYPH_ADVANCE + col) * scale; // along the text
        const v0 = row * scale; // down the glyph
        for (let du = 0; du < scale; du++) {
          for (let dv = 0; dv < scale; dv++) {
            const u = u0 + du;
            const v = v0 + dv;
            // Counter-clockwise: the glyphs' tops face left and the text's start is at the bottom.
            if (rotate) setPixel(img, left + v, top + width - 1 - u, color);
            else setPixel(img, left + u, top + v, color);
          }
        }
      }
    }
  }
  return rotate ? { width: height, height: width } : { width, height };
}

/**
 * `text` if it fits in `maxWidth` pixels at `scale`, otherwise its longest prefix that fits with '...'
 * appended ('' when not even '...' fits).
 */
export function fitText(text: string, maxWidth: number, scale = 1): string {
  if (textWidth(text, scale) <= maxWidth) return text;
  const glyphs = toFontText(text);
  for (let keep = glyphs.length - 1; keep >= 0; keep--) {
    const candidate = `${glyphs.slice(0, keep).trimEnd()}...`;
    if (textWidth(candidate, scale) <= maxWidth) return candidate;
  }
  return '';
}

/**
 * Resizes with Pillow's BILINEAR filter: a triangle filter over pixel centres, widened by the reduction
 * factor when shrinking, so downscaling averages every source pixel instead of aliasing (plain 2×2
 * bilinear sampling would skip most pixels of a photo shrunk to a thumbnail). Enlarging is ordinary
 * bilinear interpolation between pixel centres, edges clamped. Channels (alpha too) are filtered
 * independently: the images drawn here are opaque.
 */
export function resizeBilinear(img: RgbaImage, width: number, height: number): RgbaImage {
  checkImage('resizeBilinear', img);
  checkSize('resizeBilinear', width, height);
  if (width === img.width && height === img.height) return { width, height, data: new Uint8ClampedArray(img.data) };
  const horizontal = triangleTaps(img.width, width);
  const vertical = triangleTaps(img.height, height);
  const rows = new Float32Array(width * img.height * 4);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < width; x++) {
      const first = horizontal.first[x];
      const base = x * horizontal.stride;
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let k = 0; k < horizontal.count[x]; k++) {
        const w = horizontal.weights[base + k];
        const i = (y * img.width + first + k) * 4;
        r += img.data[i] * w;
        g += img.data[i + 1] * w;
        b += img.data[i + 2] * w;
        a += img.data[i + 3] * w;
      }
      const o = (y * width + x) * 4;
      rows[o] = r;
      rows[o + 1] = g;
      rows[o + 2] = b;
      rows[o + 3] = a;
    }
  }
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    const first = vertical.first[y];
    const base = y * vertical.stride;
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let k = 0; k < vertical.count[y]; k++) {
        const w = vertical.weights[base + k];
        const i = ((first + k) * width + x) * 4;
        r += rows[i] * w;
        g += rows[i + 1] * w;
        b += rows[i + 2] * w;
        a += rows[i + 3] * w;
      }
      const o = (y * width + x) * 4;
      // Uint8ClampedArray rounds to nearest and clamps on assignment.
      data[o] = r;
      data[o + 1] = g;
      data[o + 2] = b;
      data[o + 3] = a;
    }
  }
  return { width, height, data };
}

/** Copies `src` (alpha included, no blending) with its top-left corner at (x, y), rounded and clipped. */
export function blit(dst: RgbaImage, src: RgbaImage, x: number, y: number): void {
  checkImage('blit source', src);
  const left = Math.round(x);
  const top = Math.round(y);
  const colFirst = Math.max(0, -left);
  const colEnd = Math.min(src.width, dst.width - left);
  if (colEnd <= colFirst) return;
  for (let row = Math.max(0, -top); row < Math.min(src.height, dst.height - top); row++) {
    const from = (row * src.width + colFirst) * 4;
    const to = from + (colEnd - colFirst) * 4;
    dst.data.set(src.data.subarray(from, to), ((top + row) * dst.width + left + colFirst) * 4);
  }
}

interface Taps {
  /** First source index each output sample reads. */
  first: Int32Array;
  count: Int32Array;
  /** `stride` weights per output sample, normalised to sum to 1. */
  weights: Float64Array;
  stride: number;
}

// Pillow's precompute_coeffs (libImaging/Resample.c) with its bilinear filter, support 1.
function triangleTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * stride);
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(centre - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(centre + support + 0.5));
    let total = 0;
    for (let i = lo; i < hi; i++) {
      const w = Math.max(0, 1 - Math.abs((i - centre + 0.5) / filterScale));
      weights[o * stride + i - lo] = w;
      total += w;
    }
    if (total > 0) for (let k = 0; k < hi - lo; k++) weights[o * stride + k] /= total;
    first[o] = lo;
    count[o] = hi - lo;
  }
  return { first, count, weights, stride };
}

function setPixel(img: RgbaImage, x: number, y: number, color: Rgb): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const i = (y * img.width + x) * 4;
  img.data[i] = color[0];
  img.data[i + 1] = color[1];
  img.data[i + 2] = color[2];
  img.data[i + 3] = 255;
}

// Source-over with an opaque colour at `alpha`; alpha 1 writes the colour exactly.
function blendPixel(img: RgbaImage, x: number, y: number, color: Rgb, alpha: number): void {
  const i = (y * img.width + x) * 4;
  const d = img.data;
  if (alpha >= 1) {
    d[i] = color[0];
    d[i + 1] = color[1];
    d[i + 2] = color[2];
    d[i + 3] = 255;
    return;
  }
  d[i] = d[i] + (color[0] - d[i]) * alpha;
  d[i + 1] = d[i + 1] + (color[1] - d[i + 1]) * alpha;
  d[i + 2] = d[i + 2] + (color[2] - d[i + 2]) * alpha;
  d[i + 3] = d[i + 3] + (255 - d[i + 3]) * alpha;
}

function clampInt(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function checkScale(scale: number): void {
  if (!Number.isInteger(scale) || scale < 1) throw new RangeError(`text scale must be an integer ≥ 1, got ${scale}`);
}

function checkSize(what: string, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    throw new RangeError(`${what}: width and height must be positive integers, got ${width}×${height}`);
}

/** Throws unless `color` is three integers in 0..255. */
export function checkColor(what: string, color: readonly number[]): void {
  if (color.length !== 3 || !color.every((c) => Number.isInteger(c) && c >= 0 && c <= 255))
    throw new RangeError(`${what} must be [r, g, b] with integers 0..255, got [${color.join(', ')}]`);
}

/** Throws unless `img` has positive integer sizes and exactly width × height × 4 bytes. */
export function checkImage(what: string, img: RgbaImage): void {
  checkSize(what, img.width, img.height);
  if (img.data.length !== img.width * img.height * 4)
    throw new RangeError(`${what}: ${img.width}×${img.height} RGBA needs ${img.width * img.height * 4} bytes, got ${img.data.length}`);
}
