// PNG decoding that gives exactly the pixels Keras sees: keras.utils.load_img is Pillow's
// Image.open(f).convert('RGB'), and this follows Pillow 9.4 (Debian bookworm's python3-pil),
// PngImagePlugin.py + Unpack.c + Convert.c, for every PNG kind (all checked against Pillow itself in
// test/png-pil.test.ts):
//   - gray 1-bit → 0/255; 2-bit × 85; 4-bit × 17; 8-bit as is;
//   - gray 16-bit opens as mode "I" (the full 16-bit value) and convert('RGB') clips it to 0..255, so
//     every value above 255 becomes 255 (Pillow's rule, not a rescale);
//   - RGB/RGBA/gray+alpha 16-bit keep the most significant byte ("RGB;16B", "RGBA;16B", "LA;16B");
//   - alpha (color types 4, 6) is dropped without compositing, as convert('RGB') does;
//   - tRNS (a transparent gray/RGB value, or palette alphas) is ignored by convert('RGB');
//   - palette images: indices past the end of PLTE (or every index, without PLTE) read Pillow's
//     initial palette, the gray ramp (i, i, i);
//   - Adam7 interlacing; any non-zero interlace method is refused (Pillow fails on them too).
// Damaged files follow Pillow where it is lenient and the pixels are all there: CRCs are checked for
// the chunks before the pixel data only (Pillow checks those and ignores IDAT's and later ones), a
// file cut after its last pixel row decodes (even without the zlib checksum or IEND), a zlib stream
// that ends properly after a whole row but before the last one leaves the rest at sample value 0
// (palette entry 0 for palette images), as Pillow's zero-initialised image does, and data past the
// last row is ignored. Everything else throws ImageFormatError with one plain line: what is wrong;
// what to do.
// readPngHeader reads only the signature and IHDR, so callers can refuse huge images before any pixel
// buffer is allocated or any data inflated.
import { constants, inflateSync } from 'node:zlib';
import { DOWNLOAD_AGAIN as AGAIN, ImageFormatError } from './imageFormat.js';

export { ImageFormatError };

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  /** 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA. */
  colorType: number;
  interlaced: boolean;
}

const truncated = (bytes: number, where: string) =>
  new ImageFormatError(`truncated PNG: the file ends after ${bytes} bytes, ${where}; ${AGAIN}`);
const corrupt = (what: string) => new ImageFormatError(`corrupt PNG: ${what}; ${AGAIN}`);

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const KIND: Record<number, string> = { 0: 'gray', 2: 'RGB', 3: 'palette', 4: 'gray + alpha', 6: 'RGBA' };
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

let crcTable: Uint32Array | undefined;
function crc32(bytes: Uint8Array, start: number, end: number): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const u32 = (b: Uint8Array, o: number) => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
const isLetter = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const chunkName = (b: Uint8Array, o: number) => String.fromCharCode(b[o], b[o + 1], b[o + 2], b[o + 3]);

export function isPngSignature(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((v, i) => bytes[i] === v);
}

interface Chunk {
  type: string;
  /** Offset of the data. */
  start: number;
  /** Declared length; the data may be cut short by the end of the file. */
  length: number;
}

/** Walks the chunks from `offset`; stops (returns undefined) where the file ends before a chunk header. */
function chunkAt(bytes: Uint8Array, offset: number): Chunk | undefined {
  if (offset + 8 > bytes.length) return undefined;
  const length = u32(bytes, offset);
  for (let i = 4; i < 8; i++)
    if (!isLetter(bytes[offset + i])) throw corrupt(`a damaged chunk header at byte ${offset}`);
  if (length > 0x7fffffff) throw corrupt(`a damaged chunk header at byte ${offset}`);
  return { type: chunkName(bytes, offset + 4), start: offset + 8, length };
}

/** Checks a chunk that must be whole (every chunk before the pixel data), CRC included. */
function wholeChunk(bytes: Uint8Array, c: Chunk, what: string): void {
  if (c.start + c.length + 4 > bytes.length) throw truncated(bytes.length, `inside the ${c.type} chunk (${what})`);
  if (crc32(bytes, c.start - 4, c.start + c.length) !== u32(bytes, c.start + c.length))
    throw corrupt(`the ${c.type} chunk (${what}) fails its checksum`);
}

/** The signature and IHDR only: no pixel data is read. Throws ImageFormatError. */
export function readPngHeader(bytes: Uint8Array): PngHeader {
  for (let i = 0; i < 8; i++) {
    if (i >= bytes.length) throw truncated(bytes.length, 'inside the PNG signature');
    if (bytes[i] !== PNG_SIGNATURE[i]) throw corrupt('the PNG signature is damaged');
  }
  // Pillow reads chunks in any order before IDAT; IHDR is normally first.
  let offset = 8;
  for (;;) {
    const c = chunkAt(bytes, offset);
    if (!c) throw truncated(bytes.length, 'before the IHDR chunk (the image header)');
    if (c.type === 'IDAT' || c.type === 'IEND') throw corrupt('the IHDR chunk (the image header) is missing');
    wholeChunk(bytes, c, c.type === 'IHDR' ? 'the image header' : 'before the image header');
    if (c.type !== 'IHDR') {
      offset = c.start + c.length + 4;
      continue;
    }
    if (c.length < 13) throw corrupt(`the IHDR chunk (the image header) is ${c.length} bytes, not 13`);
    const o = c.start;
    const [bitDepth, colorType, , filterMethod, interlace] = bytes.subarray(o + 8, o + 13);
    if (!DEPTHS[colorType]) throw corrupt(`unknown color type ${colorType} in the image header`);
    if (!DEPTHS[colorType].includes(bitDepth))
      throw corrupt(`bit depth ${bitDepth} is not valid for color type ${colorType} (${KIND[colorType]})`);
    if (filterMethod !== 0) throw corrupt(`unknown filter method ${filterMethod} in the image header`);
    if (interlace > 1) throw corrupt(`unknown interlace method ${interlace} in the image header`);
    return { width: u32(bytes, o), height: u32(bytes, o + 4), bitDepth, colorType, interlaced: interlace === 1 };
  }
}

// Adam7: x0, y0, dx, dy per pass.
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

interface Pass {
  x0: number;
  y0: number;
  dx: number;
  dy: number;
  w: number;
  h: number;
  /** Bytes per row, filter byte excluded. */
  rowBytes: number;
}

function passes(h: PngHeader): Pass[] {
  const bitsPerPixel = CHANNELS[h.colorType] * h.bitDepth;
  const layout = h.interlaced ? ADAM7 : [[0, 0, 1, 1]];
  return layout
    .map(([x0, y0, dx, dy]) => {
      const w = h.width > x0 ? Math.ceil((h.width - x0) / dx) : 0;
      const ph = h.height > y0 ? Math.ceil((h.height - y0) / dy) : 0;
      return { x0, y0, dx, dy, w, h: ph, rowBytes: Math.ceil((w * bitsPerPixel) / 8) };
    })
    .filter((p) => p.w > 0 && p.h > 0);
}

/**
 * The inflated, still filtered scanlines: `length` bytes of `raw`, fewer than `expected` only when the
 * zlib stream ends properly before the last row (Pillow then keeps the rows it has, see decodePng).
 */
function inflateIdat(idat: Uint8Array, expected: number, fileEndedInIdat: boolean, fileBytes: number): { raw: Uint8Array; length: number } {
  // Pillow stops once every row is decoded and ignores the rest, so a little more output than needed is
  // fine; far more would only be a way to exhaust memory.
  const maxOutputLength = expected + (16 << 20);
  const errorCode = (e: unknown) => (e as { code?: string }).code;
  try {
    const out = inflateSync(idat, { maxOutputLength });
    return { raw: out, length: Math.min(out.length, expected) };
  } catch (e) {
    if (errorCode(e) === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError)
      throw corrupt('the compressed pixel data holds far more than the image size needs');
    if (errorCode(e) !== 'Z_BUF_ERROR') throw corrupt('the compressed pixel data is damaged');
  }
  // The zlib stream does not end: take what there is. All rows there → the image (Pillow decodes it too).
  let out: Uint8Array;
  try {
    out = inflateSync(idat, { maxOutputLength, finishFlush: constants.Z_SYNC_FLUSH });
  } catch {
    throw corrupt('the compressed pixel data is damaged');
  }
  if (out.length >= expected) return { raw: out, length: expected };
  if (fileEndedInIdat) throw truncated(fileBytes, 'inside the pixel data');
  throw corrupt('the compressed pixel data ends early');
}

/**
 * Decodes a PNG to RGBA8 with alpha 255: the RGB that Pillow's Image.open(f).convert('RGB') gives (alpha
 * and transparency are dropped as convert('RGB') drops them). Check the size with readPngHeader first:
 * this allocates width × height × 4 bytes. Throws ImageFormatError.
 */
export function decodePng(bytes: Uint8Array): { width: number; height: number; data: Uint8Array } {
  const header = readPngHeader(bytes);
  const { width, height, bitDepth, colorType } = header;
  if (width < 1 || height < 1) throw corrupt(`the image header says ${width}×${height} pixels`);

  // Chunks up to the pixel data: all whole, CRCs checked (as Pillow does). Then IDAT chunks, concatenated
  // up to the first other chunk; nothing after them is read (Pillow only skims it).
  let palette: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let offset = 8;
  let fileEndedInIdat = false;
  for (;;) {
    let c: Chunk | undefined;
    try {
      c = chunkAt(bytes, offset);
    } catch (e) {
      if (idat.length === 0) throw e;
      break; // a damaged header after the pixel data: Pillow stops reading there too
    }
    if (!c) {
      if (idat.length === 0) throw truncated(bytes.length, 'before the pixel data');
      fileEndedInIdat = true; // no chunk after the pixel data, not even IEND
      break;
    }
    if (c.type === 'IDAT') {
      const end = Math.min(c.start + c.length, bytes.length);
      idat.push(bytes.subarray(c.start, end));
      offset = c.start + c.length + 4;
      if (end < c.start + c.length) {
        fileEndedInIdat = true;
        break;
      }
      continue;
    }
    if (idat.length > 0) break;
    if (c.type === 'IEND') throw corrupt('it has no pixel data (no IDAT chunk)');
    wholeChunk(bytes, c, c.type === 'PLTE' ? 'the palette' : 'before the pixel data');
    if (c.type === 'PLTE' && colorType === 3) {
      if (Math.floor(c.length / 3) > 256) throw corrupt(`the palette has ${Math.floor(c.length / 3)} entries, more than 256`);
      palette = bytes.subarray(c.start, c.start + c.length);
    }
    offset = c.start + c.length + 4;
  }
  // A file cut right after the last IDAT chunk's data or CRC ends "in" the pixel data only if rows are
  // missing; inflateIdat decides.
  const data = idat.length === 1 ? idat[0] : Buffer.concat(idat);

  const layout = passes(header);
  const expected = layout.reduce((n, p) => n + p.h * (1 + p.rowBytes), 0);
  const { raw, length } = inflateIdat(data, expected, fileEndedInIdat, bytes.length);
  // Rows cut short end the decoding below; found here, before the image is allocated.
  if (length < expected && !endsAtRow(layout, length)) throw corrupt('the compressed pixel data ends early');

  // Pillow's palette: the gray ramp, overwritten by PLTE's entries (floor(length / 3) of them).
  let lut: Uint8Array | undefined;
  if (colorType === 3) {
    lut = new Uint8Array(256 * 3);
    for (let i = 0; i < 256; i++) lut[3 * i] = lut[3 * i + 1] = lut[3 * i + 2] = i;
    if (palette) lut.set(palette.subarray(0, Math.floor(palette.length / 3) * 3));
  }

  // Pixels no row reaches (a zlib stream that ended early, at a row boundary) keep sample value 0, as in
  // Pillow: its image starts zeroed, and its decoder (ZipDecode.c) stops at the stream's end once a
  // row is complete. A stream that ends inside a row makes Pillow wait for data that never comes.
  const out = new Uint8Array(width * height * 4);
  out.set(lut ? [lut[0], lut[1], lut[2], 255] : [0, 0, 0, 255]);
  for (let filled = 4; filled < out.length; filled *= 2) out.copyWithin(filled, 0, Math.min(filled, out.length - filled));

  const bpp = Math.max(1, (CHANNELS[colorType] * bitDepth) >> 3); // bytes per pixel, for the filters
  let pos = 0;
  for (const p of layout) {
    let prev = new Uint8Array(p.rowBytes);
    let cur = new Uint8Array(p.rowBytes);
    for (let r = 0; r < p.h; r++) {
      if (pos + 1 + p.rowBytes > length) {
        if (pos === length) return { width, height, data: out };
        throw corrupt('the compressed pixel data ends early');
      }
      const filter = raw[pos];
      const line = raw.subarray(pos + 1, pos + 1 + p.rowBytes);
      pos += 1 + p.rowBytes;
      unfilter(filter, line, prev, cur, bpp);
      writeRow(cur, out, width, p, p.y0 + r * p.dy, colorType, bitDepth, lut);
      [prev, cur] = [cur, prev];
    }
  }
  return { width, height, data: out };
}

/** Whether `length` bytes of scanlines end exactly after a row. */
function endsAtRow(layout: Pass[], length: number): boolean {
  let pos = 0;
  for (const p of layout) {
    const row = 1 + p.rowBytes;
    if (length < pos + p.h * row) return (length - pos) % row === 0;
    pos += p.h * row;
  }
  return length === pos;
}

function unfilter(filter: number, line: Uint8Array, prev: Uint8Array, cur: Uint8Array, bpp: number): void {
  const n = line.length;
  const head = Math.min(bpp, n); // the first pixel has no left neighbour (a = c = 0)
  let i = 0;
  switch (filter) {
    case 0:
      cur.set(line);
      return;
    case 1: // Sub
      for (; i < head; i++) cur[i] = line[i];
      for (; i < n; i++) cur[i] = (line[i] + cur[i - bpp]) & 0xff;
      return;
    case 2: // Up
      for (; i < n; i++) cur[i] = (line[i] + prev[i]) & 0xff;
      return;
    case 3: // Average
      for (; i < head; i++) cur[i] = (line[i] + (prev[i] >> 1)) & 0xff;
      for (; i < n; i++) cur[i] = (line[i] + ((cur[i - bpp] + prev[i]) >> 1)) & 0xff;
      return;
    case 4: // Paeth
      for (; i < head; i++) cur[i] = (line[i] + prev[i]) & 0xff;
      for (; i < n; i++) {
        const a = cur[i - bpp];
        const b = prev[i];
        const c = prev[i - bpp];
        const p = b - c; // pa = |p|, pb = |q|, pc = |p + q|
        const q = a - c;
        const pa = p < 0 ? -p : p;
        const pb = q < 0 ? -q : q;
        const pc = p + q < 0 ? -(p + q) : p + q;
        cur[i] = (line[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 0xff;
      }
      return;
    default:
      throw corrupt(`a pixel row has unknown filter type ${filter}`);
  }
}

/** One unfiltered row of a pass → RGB in `out` (Pillow's unpack + convert('RGB')). */
function writeRow(
  row: Uint8Array,
  out: Uint8Array,
  width: number,
  p: Pass,
  y: number,
  colorType: number,
  bitDepth: number,
  lut: Uint8Array | undefined,
): void {
  let o = (y * width + p.x0) * 4;
  const step = p.dx * 4;
  const w = p.w;
  if (bitDepth < 8) {
    // Gray 1/2/4-bit (×255, ×85, ×17) or palette indices, most significant bits first.
    const mask = (1 << bitDepth) - 1;
    const scale = 255 / mask;
    for (let x = 0; x < w; x++, o += step) {
      const bit = x * bitDepth;
      const v = (row[bit >> 3] >> (8 - bitDepth - (bit & 7))) & mask;
      if (lut) {
        out[o] = lut[3 * v];
        out[o + 1] = lut[3 * v + 1];
        out[o + 2] = lut[3 * v + 2];
      } else out[o] = out[o + 1] = out[o + 2] = v * scale;
    }
    return;
  }
  const bytesPerSample = bitDepth >> 3;
  const stride = CHANNELS[colorType] * bytesPerSample;
  let i = 0;
  if (colorType === 3) {
    for (let x = 0; x < w; x++, i++, o += step) {
      const v = 3 * row[i];
      out[o] = lut![v];
      out[o + 1] = lut![v + 1];
      out[o + 2] = lut![v + 2];
    }
  } else if (colorType === 0 && bytesPerSample === 2) {
    // 16-bit gray is Pillow mode "I": the whole value, clipped to 255 by convert('RGB').
    for (let x = 0; x < w; x++, i += 2, o += step) out[o] = out[o + 1] = out[o + 2] = row[i] ? 255 : row[i + 1];
  } else if (colorType === 0 || colorType === 4) {
    // Gray, or gray + alpha with the alpha dropped; the most significant byte of 16-bit gray + alpha.
    for (let x = 0; x < w; x++, i += stride, o += step) out[o] = out[o + 1] = out[o + 2] = row[i];
  } else {
    // RGB, RGBA with the alpha dropped; the most significant bytes at 16 bits.
    const g = bytesPerSample;
    const b = 2 * bytesPerSample;
    for (let x = 0; x < w; x++, i += stride, o += step) {
      out[o] = row[i];
      out[o + 1] = row[i + g];
      out[o + 2] = row[i + b];
    }
  }
}
