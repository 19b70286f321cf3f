// Does a canvas on the demo page show what the engine computed in Node for the same image and weights?
// Used by test/app.test.ts. The two runs are the same engine on two hosts (Dawn in Node, Chromium's
// WebGPU in the page), which may pick different kernel versions (each tunes for itself), so their float32
// maps agree to rounding (~3e-6; `npm run verify` allows 1e-4), not bit for bit. A pixel is then
// compared at the uint8 level the recipe takes, uint8(255·h), allowing every level within MAP_TOL of
// Node's h (one level almost everywhere, two where h sits on a level boundary), plus 1 colour level
// for the canvas (putImageData/getImageData of an opaque sRGB canvas; measured exact here).
import { cvResizeLinear, roundHalfEven } from './opencv.js';

export interface Pixels {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

export interface Map2DLike {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

/** Heatmaps of the same engine on two hosts differ by float32 rounding: `npm run verify`'s bound. */
export const MAP_TOL = 1e-4;
/** Canvas colour handling: one level per channel. */
export const CANVAS_TOL = 1;

/** The uint8 levels uint8(255·h') for every h' within tol of h (clamped to 0..255 as the kernels do). */
export function levelsNear(h: number, tol = MAP_TOL): number[] {
  const level = (v: number) => Math.min(255, Math.max(0, Math.floor(255 * v)));
  const out: number[] = [];
  for (let u = level(h - tol); u <= level(h + tol); u++) out.push(u);
  return out;
}

const near = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number) => [0, 1, 2].every((c) => Math.abs(a[c] - b[c]) <= tol);

/**
 * The page's heatmap canvas (the map upsampled to the canvas size as the overlay does it, or one pixel
 * per cell at the map's size; COLOUR[uint8(255·h)], opaque) against Node's map: returns the pixels that
 * match no allowed level, described (empty = match).
 */
export function heatmapCanvasMismatches(canvas: Pixels, heat: Map2DLike, lut: Uint8Array, tol = MAP_TOL): string[] {
  const { width: W, height: H } = canvas;
  const up = W === heat.width && H === heat.height ? heat.data : cvResizeLinear(heat.data, heat.width, heat.height, W, H);
  const bad: string[] = [];
  for (let i = 0; i < W * H; i++) {
    const got = Array.from({ length: 4 }, (_, c) => canvas.data[4 * i + c]);
    const levels = levelsNear(up[i], tol);
    if (got[3] !== 255 || !levels.some((u) => near(got, lut.subarray(3 * u, 3 * u + 3), CANVAS_TOL)))
      bad.push(`pixel (${i % W}, ${Math.floor(i / W)}): canvas ${got}, h ${up[i]} → ${levels.map((u) => `[${lut.subarray(3 * u, 3 * u + 3)}]`).join(' or ')}`);
  }
  return bad;
}

export interface OverlayMatch {
  /** Pixels that match neither Node's overlay (±CANVAS_TOL) nor, on a level boundary, the neighbouring level's blend. */
  mismatches: string[];
  /** Pixels whose upsampled map lies within tol of a level boundary (both levels allowed there). */
  boundary: number;
  /** Largest |page − Node| over all pixels and channels. */
  maxAbs: number;
}

/**
 * The page's overlay canvas against Node's overlay. Where Node's upsampled map is more than tol from a
 * uint8 level boundary the page must equal Node's overlay within CANVAS_TOL; on a boundary it may
 * instead be the recipe's blend saturate(round(JET[u]·α + image)) of the neighbouring level u.
 */
export function overlayCanvasMismatches(canvas: Pixels, node: Pixels, heat: Map2DLike, original: Pixels, jet: Uint8Array, alpha: number, tol = MAP_TOL): OverlayMatch {
  const { width: W, height: H } = node;
  if (canvas.width !== W || canvas.height !== H) return { mismatches: [`canvas ${canvas.width}×${canvas.height}, Node's overlay ${W}×${H}`], boundary: 0, maxAbs: Infinity };
  const up = cvResizeLinear(heat.data, heat.width, heat.height, W, H);
  const mismatches: string[] = [];
  let boundary = 0;
  let maxAbs = 0;
  for (let p = 0; p < W * H; p++) {
    const got = Array.from({ length: 4 }, (_, c) => canvas.data[4 * p + c]);
    const want = Array.from({ length: 4 }, (_, c) => node.data[4 * p + c]);
    for (let c = 0; c < 3; c++) maxAbs = Math.max(maxAbs, Math.abs(got[c] - want[c]));
    const levels = levelsNear(up[p], tol);
    if (levels.length > 1) boundary++;
    const img = Array.from({ length: 3 }, (_, c) => original.data[4 * p + c]);
    const blend = (u: number) => img.map((v, c) => Math.min(255, Math.max(0, roundHalfEven(jet[3 * u + c] * alpha + v))));
    const ok = got[3] === want[3] && (near(got, want, CANVAS_TOL) || (levels.length > 1 && levels.some((u) => near(got, blend(u), CANVAS_TOL))));
    if (!ok) mismatches.push(`(${p % W}, ${Math.floor(p / W)}): canvas ${got}, Node ${want}, h ${up[p]}`);
  }
  return { mismatches, boundary, maxAbs };
}

/**
 * A pixel-level rendering's uint8 levels against the engine's in Node (GradCam.attribute's `rendering`):
 * the page and Node take the gradient with respect to the image in different float summation orders
 * (different kernel versions), so a value on a uint8 truncation boundary (deprocess or grayscale, then
 * the rounded bilinear resize to the photo) may land on the neighbouring level: one level, plus
 * CANVAS_TOL for the canvas. Beyond that a pixel is a mismatch.
 */
export const RENDERING_TOL = 1 + CANVAS_TOL;

export interface RenderingMatch {
  /** Pixels off by more than RENDERING_TOL in a colour channel, or not opaque. */
  mismatches: string[];
  /** Pixels that differ at all (any channel). */
  differing: number;
  /** Largest |page − Node| over all pixels and colour channels. */
  maxAbs: number;
}

export function renderingCanvasMismatches(canvas: Pixels, node: Pixels, tol = RENDERING_TOL): RenderingMatch {
  const { width: W, height: H } = node;
  if (canvas.width !== W || canvas.height !== H) return { mismatches: [`canvas ${canvas.width}×${canvas.height}, Node's rendering ${W}×${H}`], differing: W * H, maxAbs: Infinity };
  const mismatches: string[] = [];
  let differing = 0;
  let maxAbs = 0;
  for (let p = 0; p < W * H; p++) {
    let worst = 0;
    for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(canvas.data[4 * p + c] - node.data[4 * p + c]));
    maxAbs = Math.max(maxAbs, worst);
    if (worst > 0) differing++;
    if (worst > tol || canvas.data[4 * p + 3] !== 255)
      mismatches.push(`(${p % W}, ${Math.floor(p / W)}): canvas ${Array.from({ length: 4 }, (_, c) => canvas.data[4 * p + c])}, Node ${Array.from({ length: 4 }, (_, c) => node.data[4 * p + c])}`);
  }
  return { mismatches, differing, maxAbs };
}
