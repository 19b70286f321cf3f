// Pillow's nearest-neighbour resize, transliterated from Pillow's libImaging/Geometry.c
// (ImagingScaleAffine, reached from Image.resize(size, NEAREST) through ImagingTransformAffine with
// a = [in_w/out_w, 0, 0, 0, in_h/out_h, 0]): positions start at a[0]·0.5, advance by repeated float64
// addition of a[0], and are truncated by COORD(v) = v < 0 ? -1 : (int)v. Written independently of
// src/kernels/preprocessImage.ts, which must agree with it.
export function pilNearestResizeRgb(
  rgba: ArrayLike<number>,
  inW: number,
  inH: number,
  outW: number,
  outH: number,
): Uint8Array {
  const a0 = inW / outW;
  const a4 = inH / outH;
  const coord = (v: number) => (v < 0 ? -1 : Math.trunc(v));
  const xintab = new Int32Array(outW);
  let xo = 0 + a0 * 0.5;
  for (let x = 0; x < outW; x++) {
    xintab[x] = coord(xo);
    xo += a0;
  }
  const out = new Uint8Array(outW * outH * 3);
  let yo = 0 + a4 * 0.5;
  for (let y = 0; y < outH; y++) {
    const yi = coord(yo);
    for (let x = 0; x < outW; x++) {
      const xi = xintab[x];
      if (yi < 0 || yi >= inH || xi < 0 || xi >= inW) throw new Error(`PIL reference sampled outside the image at ${x},${y}`);
      for (let c = 0; c < 3; c++) out[(y * outW + x) * 3 + c] = rgba[(yi * inW + xi) * 4 + c];
    }
    yo += a4;
  }
  return out;
}
