// An independent emulation of the Keras recipe's OpenCV/numpy overlay steps, written from OpenCV's
// documented behaviour (not from src/): cv2.resize INTER_LINEAR on float32 (half-pixel centres, edge
// clamping, horizontal then vertical pass in float32), np.uint8(255·h) (truncation), COLORMAP_JET
// (GNU Octave's jet(256), ×255, rounded), then jet·α + img in float64 and cv2.imwrite's saturating
// round (half to even). Images are RGB here; OpenCV's BGR order only renames the channels.
const f = Math.fround;

function linearCoefficients(src: number, dst: number): { i: Int32Array; fx: Float32Array } {
  const scale = 1 / (dst / src);
  const i = new Int32Array(dst);
  const fx = new Float32Array(dst);
  for (let d = 0; d < dst; d++) {
    let x = f((d + 0.5) * scale - 0.5);
    let sx = Math.floor(x);
    x = f(x - sx);
    if (sx < 0) {
      x = 0;
      sx = 0;
    }
    if (sx >= src - 1) {
      x = 0;
      sx = src - 1;
    }
    i[d] = sx;
    fx[d] = x;
  }
  return { i, fx };
}

export function cvResizeLinear(map: ArrayLike<number>, w: number, h: number, W: number, H: number): Float32Array {
  const cx = linearCoefficients(w, W);
  const cy = linearCoefficients(h, H);
  const at = (x: number, y: number) => map[y * w + Math.min(x, w - 1)];
  const row = (y: number, x: number) => f(f(at(cx.i[x], y) * f(1 - cx.fx[x])) + f(at(cx.i[x] + 1, y) * cx.fx[x]));
  const out = new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    const y0 = cy.i[y];
    const y1 = Math.min(y0 + 1, h - 1);
    for (let x = 0; x < W; x++) out[y * W + x] = f(f(row(y0, x) * f(1 - cy.fx[y])) + f(row(y1, x) * cy.fx[y]));
  }
  return out;
}

/** Octave's jet(256) in RGB, scaled to 0..255 and rounded half up. */
export function octaveJet(): Uint8Array {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = i / 255;
    [3, 2, 1].forEach((k, c) => (lut[3 * i + c] = Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - k))))));
  }
  return lut;
}

export const roundHalfEven = (v: number) => {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/** The recipe's overlay for an RGBA image: returns RGBA with the image's alpha. */
export function kerasRecipeOverlay(heat: ArrayLike<number>, w: number, h: number, rgba: ArrayLike<number>, W: number, H: number, alpha = 0.4): Uint8ClampedArray {
  const up = cvResizeLinear(heat, w, h, W, H);
  const jet = octaveJet();
  const out = new Uint8ClampedArray(W * H * 4);
  for (let p = 0; p < W * H; p++) {
    const u = Math.trunc(f(255 * up[p]));
    for (let c = 0; c < 3; c++) out[4 * p + c] = Math.min(255, Math.max(0, roundHalfEven(jet[3 * u + c] * alpha + rgba[4 * p + c])));
    out[4 * p + 3] = rgba[4 * p + 3];
  }
  return out;
}

/**
 * pytorch-grad-cam's show_cam_on_image(img / 255, mask, image_weight = 1 − α) before its final division
 * by the result's max: JET of uint8(255·mask) and the image, both float32 in [0, 1], blended as
 * (1 − w)·heatmap + w·img in float32 and stored as uint8(255·cam) (truncation). `up` is the map already
 * at the image's size. RGBA in, RGBA out (alpha kept).
 */
export function showCamOnImage(up: ArrayLike<number>, rgba: ArrayLike<number>, W: number, H: number, alpha: number, lut: Uint8Array = octaveJet()): Uint8ClampedArray {
  const w = 1 - alpha;
  const out = new Uint8ClampedArray(W * H * 4);
  for (let p = 0; p < W * H; p++) {
    const u = Math.trunc(f(255 * up[p]));
    for (let c = 0; c < 3; c++) {
      const heat = f(lut[3 * u + c] / 255);
      const img = f(rgba[4 * p + c] / 255);
      const cam = f(f(f(1 - w) * heat) + f(f(w) * img));
      out[4 * p + c] = Math.trunc(f(255 * cam));
    }
    out[4 * p + 3] = rgba[4 * p + 3];
  }
  return out;
}
