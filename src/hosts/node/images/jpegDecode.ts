// A JPEG decoder in plain TypeScript (Uint8Array in, RGBA8 out; no dependencies, no Node APIs), giving
// exactly the pixels Keras sees: keras.utils.load_img is Pillow's Image.open(f).convert('RGB'), and
// Debian bookworm's Pillow 9.4 decodes JPEG with libjpeg-turbo 2.1.5 at its defaults. What follows is
// a transliteration of those two, from their sources (libjpeg-turbo 2.1.5, Pillow 9.4.0):
//   - markers (jdmarker.c): SOF0/1/2/9/10, DHT, DQT, DRI, DAC, SOS, APPn/COM skipped, JFIF APP0 and
//     Adobe APP14 noted; fill bytes and junk between markers skipped as libjpeg does;
//   - Huffman decoding, sequential (jdhuff.c, with libjpeg-turbo's default Annex K tables for slots 0/1
//     that a file leaves undefined, as Motion-JPEG frames do) and progressive (jdphuff.c: spectral
//     selection and successive approximation, EOB runs); arithmetic decoding (jdarith.c, T.81 Annex
//     D/F/G, with DAC conditioning); restart intervals;
//   - quantization tables latched per component at its first scan (jdinput.c), as 16-bit shorts;
//   - jpeg_idct_islow (jidctint.c) with its range-limit table (jdmaster.c); legitimate files never
//     overflow its 32-bit arithmetic, which is what x86 libjpeg-turbo's SIMD version also assumes;
//   - progressive block smoothing (jdcoefct.c decompress_smooth_data, the 5×5 version of 2.1): libjpeg
//     applies it when a complete file still leaves some of the first nine AC coefficients unfinished;
//     for files whose scans finish them all (every encoder's default scripts) it does nothing;
//   - upsampling (jdsample.c) with do_fancy_upsampling on: h2v1 and h2v2 "fancy" (triangle filter;
//     h2v2 uses the rows above and below, clamped at the image edge as jdmainct.c's context rows are)
//     when the component is wider than 2 samples, h1v2 fancy (libjpeg-turbo's), and box replication
//     (int_upsample) for every other integral ratio;
//   - colour (jdcolor.c): the colour space guessed as default_decompress_parms (jdapimin.c) does; YCbCr
//     to RGB through its integer tables; RGB (Adobe transform 0, or component ids 'R','G','B') copied;
//     YCCK to CMYK;
//   - Pillow: 4-component JPEGs are read as "CMYK;I" (inverted, Adobe's convention, always) and
//     convert('RGB') is Convert.c's cmyk2rgb: with the file's samples C, M, Y, K (after YCCK → CMYK),
//     R = K − MULDIV255(255 − C, K) (likewise G, B), MULDIV255(a, b) = ((t >> 8) + t) >> 8,
//     t = a·b + 128. Grayscale becomes R = G = B. EXIF orientation is not applied (Keras does not rotate).
// Damaged files throw ImageFormatError with one plain line (what is wrong; what to do), never a partial
// image: a file that ends before EOI (Pillow: "image file is truncated"), Huffman data that is not a
// code, or that stops at a marker before the scan is complete (libjpeg warns and fills gray; we refuse
// the file), bad marker lengths, missing tables. Arithmetic-coded data that stops early cannot be told
// from a valid end (T.81 decoders read zeros past the data), so it decodes as libjpeg decodes it.
// readJpegHeader reads only the markers up to SOF, so callers can refuse huge images before anything
// is allocated; decodeJpeg checks the same size against its own limit before allocating.

import { checkImageSize, DOWNLOAD_AGAIN as AGAIN, ImageFormatError, MAX_DECODED_PIXELS } from './imageFormat.js';

export { ImageFormatError };

export interface JpegHeader {
  width: number;
  height: number;
  /** 1 (grayscale), 3 (YCbCr or RGB) or 4 (CMYK or YCCK). */
  components: number;
  progressive: boolean;
  arithmetic: boolean;
  /** The transform byte of an Adobe APP14 marker before SOF, if there is one. */
  adobeTransform?: number;
  /** Bits per sample; always 8 for a header that is returned (others throw). */
  precision: number;
}

export interface DecodedJpeg {
  width: number;
  height: number;
  /** RGBA8, row-major, alpha 255. */
  data: Uint8Array;
}

/** More scans than any encoder writes: refused, so that a small file cannot keep the decoder busy. */
const MAX_SCANS = 1000;

const truncated = (bytes: number, where = 'before the end of the image') =>
  new ImageFormatError(`truncated JPEG: the file ends after ${bytes} bytes, ${where}; ${AGAIN}`);
const corrupt = (what: string) => new ImageFormatError(`corrupt JPEG: ${what}; ${AGAIN}`);
const unsupported = (what: string, todo = 're-save it as a baseline JPEG or a PNG') =>
  new ImageFormatError(`unsupported JPEG: ${what}; ${todo}`);

// Marker codes (the byte after 0xFF).
const SOI = 0xd8, EOI = 0xd9, SOS = 0xda, DQT = 0xdb, DNL = 0xdc, DRI = 0xdd, DHT = 0xc4, DAC = 0xcc;
const APP0 = 0xe0, APP14 = 0xee, APP15 = 0xef, COM = 0xfe, RST0 = 0xd0, RST7 = 0xd7, TEM = 0x01;

/** Zigzag index → natural (row-major) index; the 16 extra entries catch corrupt run lengths, as in jutils.c. */
const NATURAL_ORDER = Int32Array.of(
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
  28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
  54, 47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
);

// ---------------------------------------------------------------------------------------------------
// Header
// ---------------------------------------------------------------------------------------------------

interface FrameComponent {
  id: number;
  h: number;
  v: number;
  tq: number;
}

interface Frame {
  marker: number;
  width: number;
  height: number;
  precision: number;
  progressive: boolean;
  arithmetic: boolean;
  components: FrameComponent[];
}

const SOF_NAMES: Record<number, string> = {
  0xc3: 'lossless JPEG (SOF3)',
  0xc5: 'hierarchical JPEG (SOF5)',
  0xc6: 'hierarchical progressive JPEG (SOF6)',
  0xc7: 'hierarchical lossless JPEG (SOF7)',
  0xc8: 'JPEG extension (JPG marker)',
  0xcb: 'lossless arithmetic-coded JPEG (SOF11)',
  0xcd: 'hierarchical arithmetic-coded JPEG (SOF13)',
  0xce: 'hierarchical progressive arithmetic-coded JPEG (SOF14)',
  0xcf: 'hierarchical lossless arithmetic-coded JPEG (SOF15)',
};

function isSof(m: number): boolean {
  return m >= 0xc0 && m <= 0xcf && m !== DHT && m !== DAC;
}

/** Reads the 2-byte length of the segment at `pos` (just after the marker) and checks it fits. */
function segmentLength(bytes: Uint8Array, pos: number, name: string): number {
  if (pos + 2 > bytes.length) throw truncated(bytes.length, `inside the ${name} marker`);
  const length = (bytes[pos] << 8) | bytes[pos + 1];
  if (length < 2) throw corrupt(`the ${name} marker has an impossible length (${length})`);
  if (pos + length > bytes.length) throw truncated(bytes.length, `inside the ${name} marker`);
  return length;
}

/**
 * Finds the next marker at or after `pos`, as libjpeg's next_marker does: junk bytes are skipped
 * (libjpeg warns "extraneous bytes before marker" and goes on; so do we), runs of 0xFF fill bytes are
 * swallowed, and FF 00 (stuffed data) is not a marker. Returns the offset just past the marker code.
 */
function nextMarker(bytes: Uint8Array, pos: number): { marker: number; pos: number } {
  const n = bytes.length;
  for (;;) {
    while (pos < n && bytes[pos] !== 0xff) pos++;
    while (pos < n && bytes[pos] === 0xff) pos++;
    if (pos >= n) throw truncated(n);
    const code = bytes[pos++];
    if (code !== 0) return { marker: code, pos };
  }
}

function parseSof(bytes: Uint8Array, pos: number, marker: number): Frame {
  const length = segmentLength(bytes, pos, 'SOF');
  if (length < 8) throw corrupt('the frame header (SOF) is too short');
  const precision = bytes[pos + 2];
  const height = (bytes[pos + 3] << 8) | bytes[pos + 4];
  const width = (bytes[pos + 5] << 8) | bytes[pos + 6];
  const count = bytes[pos + 7];
  if (length !== 8 + 3 * count) throw corrupt(`the frame header (SOF) has length ${length} for ${count} components`);
  const components: FrameComponent[] = [];
  for (let i = 0; i < count; i++) {
    const at = pos + 8 + 3 * i;
    components.push({ id: bytes[at], h: bytes[at + 1] >> 4, v: bytes[at + 1] & 15, tq: bytes[at + 2] });
  }
  return {
    marker,
    width,
    height,
    precision,
    progressive: marker === 0xc2 || marker === 0xca,
    arithmetic: marker === 0xc9 || marker === 0xca,
    components,
  };
}

/** Everything about a frame that libjpeg (or Pillow, before it) would refuse. */
function checkFrame(f: Frame): void {
  if (f.precision === 12) throw unsupported('12-bit JPEG is not supported', 're-save it as an 8-bit JPEG or PNG');
  if (f.precision !== 8) throw unsupported(`${f.precision}-bit samples`, 're-save it as an 8-bit JPEG or PNG');
  if (f.height === 0)
    throw unsupported('the height is given only after the image data (DNL marker), which libjpeg does not support');
  if (f.width === 0) throw corrupt('the frame header says the image is 0 pixels wide');
  const n = f.components.length;
  if (n !== 1 && n !== 3 && n !== 4)
    throw unsupported(`${n} colour components (only grayscale, YCbCr/RGB and CMYK/YCCK are images)`, 're-save it as RGB');
  let maxH = 1, maxV = 1;
  for (const c of f.components) {
    if (c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4)
      throw corrupt(`component ${c.id} has sampling factors ${c.h}×${c.v} (they must be 1 to 4)`);
    maxH = Math.max(maxH, c.h);
    maxV = Math.max(maxV, c.v);
  }
  for (const c of f.components)
    if (maxH % c.h !== 0 || maxV % c.v !== 0)
      throw unsupported(`component ${c.id} is sampled ${c.h}×${c.v} against ${maxH}×${maxV}, a fractional ratio libjpeg cannot upsample`);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < i; j++)
      if (f.components[i].id === f.components[j].id) throw corrupt(`two components share the id ${f.components[i].id}`);
}

/**
 * Reads the markers up to the frame header (SOF) and returns the declared size and kind of the image,
 * without decoding or allocating anything in proportion to it. Throws ImageFormatError for files that
 * are not JPEG, end before SOF, or are of a kind that cannot be decoded (12-bit, lossless, hierarchical).
 */
export function readJpegHeader(bytes: Uint8Array): JpegHeader {
  checkStart(bytes);
  let pos = 2;
  let adobeTransform: number | undefined;
  for (;;) {
    const next = nextMarker(bytes, pos);
    const m = next.marker;
    pos = next.pos;
    if (isSof(m)) {
      if (SOF_NAMES[m]) throw unsupported(`${SOF_NAMES[m]} is not supported by libjpeg or Pillow`);
      const frame = parseSof(bytes, pos, m);
      checkFrame(frame);
      const header: JpegHeader = {
        width: frame.width,
        height: frame.height,
        components: frame.components.length,
        progressive: frame.progressive,
        arithmetic: frame.arithmetic,
        precision: frame.precision,
      };
      if (adobeTransform !== undefined) header.adobeTransform = adobeTransform;
      return header;
    }
    if (m === SOI) throw corrupt('a second SOI marker comes before the frame header');
    if (m === EOI) throw corrupt('the file ends (EOI marker) before any image');
    if (m === SOS) throw corrupt('image data (SOS) comes before the frame header (SOF)');
    if ((m >= RST0 && m <= RST7) || m === TEM) continue;
    if (!isKnownSegment(m)) throw corrupt(`unknown marker 0xFF${hex(m)} before the frame header`);
    const length = segmentLength(bytes, pos, markerName(m));
    if (m === APP14 && length >= 14 && isAscii(bytes, pos + 2, 'Adobe')) adobeTransform = bytes[pos + 13];
    pos += length;
  }
}

/**
 * SOI, then a marker: libjpeg needs the SOI, and Pillow also wants 0xFF right after it (its _accept
 * tests FF D8 FF), so a file that has junk there is no JPEG to Keras either.
 */
function checkStart(bytes: Uint8Array): void {
  if (bytes.length < 2 || bytes[0] !== 0xff || bytes[1] !== SOI) throw new ImageFormatError('not a JPEG file (no SOI marker at the start); pass a PNG or JPEG file');
  if (bytes.length === 2) throw truncated(2);
  if (bytes[2] !== 0xff) throw new ImageFormatError('not a JPEG file (its start marker is not followed by another marker); pass a PNG or JPEG file');
}

function isKnownSegment(m: number): boolean {
  return m === DHT || m === DAC || m === DQT || m === DRI || m === DNL || m === COM || (m >= APP0 && m <= APP15);
}

const hex = (m: number) => m.toString(16).toUpperCase().padStart(2, '0');

function markerName(m: number): string {
  if (m >= APP0 && m <= APP15) return `APP${m - APP0}`;
  return { [DHT]: 'DHT', [DAC]: 'DAC', [DQT]: 'DQT', [DRI]: 'DRI', [DNL]: 'DNL', [COM]: 'COM', [SOS]: 'SOS' }[m] ?? `0xFF${hex(m)}`;
}

function isAscii(bytes: Uint8Array, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Huffman tables and bit reading
// ---------------------------------------------------------------------------------------------------

/**
 * A Huffman table for decoding: `fast` maps the next 10 bits to (code length << 8) | symbol for codes
 * up to 10 bits long (0: a longer code, or none); longer codes are found as jdhuff.c's
 * jpeg_huff_decode finds them, by comparing with the largest code of each length (maxcode).
 */
interface HuffTable {
  fast: Uint16Array;
  maxcode: Int32Array;
  valoffset: Int32Array;
  symbols: Uint8Array;
}

const FAST_BITS = 10;

/** Builds and validates a table as jpeg_make_d_derived_tbl does. */
function buildHuffman(counts: Uint8Array, symbols: Uint8Array, isDC: boolean): HuffTable {
  const fast = new Uint16Array(1 << FAST_BITS);
  const maxcode = new Int32Array(17).fill(-1);
  const valoffset = new Int32Array(17);
  let code = 0, k = 0;
  for (let len = 1; len <= 16; len++) {
    const n = counts[len - 1];
    if (n) {
      valoffset[len] = k - code;
      maxcode[len] = code + n - 1;
    }
    for (let i = 0; i < n; i++, k++, code++) {
      const sym = symbols[k];
      if (isDC && sym > 15) throw corrupt(`a DC Huffman table has the symbol ${sym} (at most 15 is possible)`);
      if (len <= FAST_BITS) {
        const shift = FAST_BITS - len;
        fast.fill((len << 8) | sym, code << shift, (code + 1) << shift);
      }
    }
    // No code may be all ones, so after the codes of each length the next one must still fit.
    if (code >= 1 << len) throw corrupt('a Huffman table defines more codes than its code lengths allow');
    code <<= 1;
  }
  return { fast, maxcode, valoffset, symbols };
}

interface HuffmanSource {
  counts: Uint8Array;
  symbols: Uint8Array;
  built?: HuffTable;
  builtAsDC?: boolean;
}

// Annex K.3 tables, which libjpeg-turbo installs for DC/AC slots 0 and 1 left undefined by a sequential
// Huffman file (jstdhuff.c), so that Motion-JPEG frames without DHT decode.
const STD_DC_LUMA = { counts: Uint8Array.of(0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0), symbols: Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11) };
const STD_DC_CHROMA = { counts: Uint8Array.of(0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0), symbols: Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11) };
const STD_AC_LUMA = {
  counts: Uint8Array.of(0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d),
  symbols: Uint8Array.of(
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32,
    0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16,
    0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45,
    0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94,
    0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
    0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8,
    0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
  ),
};
const STD_AC_CHROMA = {
  counts: Uint8Array.of(0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77),
  symbols: Uint8Array.of(
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81,
    0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34,
    0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44,
    0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92,
    0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4,
    0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6,
    0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
  ),
};

/**
 * Reads the entropy-coded bits of a Huffman scan, unstuffing FF 00. At a marker or the end of the file
 * it supplies zero bits, as libjpeg does, and counts them: a decode that consumes any of them has run
 * past the real data (libjpeg's "premature end of data segment"), which we refuse.
 */
class BitReader {
  buf = 0; // the last `cnt` bits read sit in the low bits; higher bits are stale
  cnt = 0;
  padding = 0; // how many of the `cnt` bits are zeros supplied past the data
  stop = 0; // 0 reading, 1 at a marker (pos points at its 0xFF), 2 at the end of the file
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
  ) {}

  fill(): void {
    const bytes = this.bytes;
    while (this.cnt <= 24) {
      let b = 0;
      if (this.stop === 0) {
        const pos = this.pos;
        if (pos >= bytes.length) this.stop = 2;
        else {
          b = bytes[pos];
          if (b !== 0xff) this.pos = pos + 1;
          else {
            let p = pos + 1;
            while (p < bytes.length && bytes[p] === 0xff) p++;
            if (p >= bytes.length) this.stop = 2;
            else if (bytes[p] === 0) this.pos = p + 1; // stuffed zero: a data byte 0xFF
            else {
              this.stop = 1;
              this.pos = p - 1;
            }
          }
        }
        if (this.stop !== 0) b = 0;
      }
      if (this.stop !== 0) this.padding += 8;
      this.buf = (this.buf << 8) | b;
      this.cnt += 8;
    }
  }

  /** The next Huffman symbol; throws for bits that start no code. */
  decode(t: HuffTable): number {
    if (this.cnt < 16) this.fill();
    const peek = (this.buf >>> (this.cnt - 16)) & 0xffff;
    const e = t.fast[peek >>> (16 - FAST_BITS)];
    if (e !== 0) {
      this.cnt -= e >> 8;
      return e & 0xff;
    }
    return this.decodeLong(t, peek);
  }

  private decodeLong(t: HuffTable, peek: number): number {
    for (let len = FAST_BITS + 1; len <= 16; len++) {
      const code = peek >>> (16 - len);
      if (code <= t.maxcode[len]) {
        this.cnt -= len;
        return t.symbols[code + t.valoffset[len]];
      }
    }
    if (this.cnt - 16 < this.padding) this.ranOut();
    throw corrupt('the compressed data holds a bit pattern that is no Huffman code');
  }

  /**
   * One block of a sequential scan (jdhuff.c decode_mcu): the DC difference added to `pred`, then the
   * AC coefficients, written in natural order into coefs[o..o+63] (which must be zero). Returns the
   * new DC prediction.
   */
  sequentialBlock(dc: HuffTable, ac: HuffTable, coefs: Int16Array, o: number, pred: number): number {
    const s = this.decode(dc);
    pred = (pred + (s === 0 ? 0 : this.receive(s))) | 0;
    coefs[o] = pred;
    for (let k = 1; k < 64; k++) {
      const rs = this.decode(ac);
      const r = rs >> 4, size = rs & 15;
      if (size !== 0) {
        k += r;
        if (this.cnt < size) this.fill();
        this.cnt -= size;
        const v = (this.buf >>> this.cnt) & ((1 << size) - 1);
        coefs[o + NATURAL_ORDER[k]] = v < 1 << (size - 1) ? v - (1 << size) + 1 : v;
      } else {
        if (r !== 15) break;
        k += 15;
      }
    }
    return pred;
  }

  /** The next n bits (0 ≤ n ≤ 16) as an unsigned number. */
  bits(n: number): number {
    if (this.cnt < n) this.fill();
    this.cnt -= n;
    return (this.buf >>> this.cnt) & ((1 << n) - 1);
  }

  /** The next n bits as a signed coefficient (HUFF_EXTEND). */
  receive(n: number): number {
    if (n === 0) return 0;
    const v = this.bits(n);
    return v < 1 << (n - 1) ? v - (1 << n) + 1 : v;
  }

  /** Throws if a decode used bits past the end of the segment. */
  check(): void {
    if (this.cnt < this.padding) this.ranOut();
  }

  ranOut(): never {
    if (this.stop === 2) throw truncated(this.bytes.length);
    throw corrupt('the compressed data of a scan stops before the scan is complete (premature end of data segment)');
  }

  /** Drops buffered bits (restart, end of scan); the next marker is at or after `pos`. */
  reset(): void {
    this.cnt = 0;
    this.padding = 0;
    this.buf = 0;
    this.stop = 0;
  }
}

// ---------------------------------------------------------------------------------------------------
// Arithmetic decoding (jdarith.c)
// ---------------------------------------------------------------------------------------------------

// T.81 Table D.2 as jaricom.c packs it: Qe << 16 | Next_Index_MPS << 8 | Switch_MPS << 7 | Next_Index_LPS.
const ARITAB = (() => {
  const rows = [
    0x5a1d, 1, 1, 1, 0x2586, 14, 2, 0, 0x1114, 16, 3, 0, 0x080b, 18, 4, 0, 0x03d8, 20, 5, 0, 0x01da, 23, 6, 0, 0x00e5, 25, 7, 0,
    0x006f, 28, 8, 0, 0x0036, 30, 9, 0, 0x001a, 33, 10, 0, 0x000d, 35, 11, 0, 0x0006, 9, 12, 0, 0x0003, 10, 13, 0, 0x0001, 12, 13, 0,
    0x5a7f, 15, 15, 1, 0x3f25, 36, 16, 0, 0x2cf2, 38, 17, 0, 0x207c, 39, 18, 0, 0x17b9, 40, 19, 0, 0x1182, 42, 20, 0, 0x0cef, 43, 21, 0,
    0x09a1, 45, 22, 0, 0x072f, 46, 23, 0, 0x055c, 48, 24, 0, 0x0406, 49, 25, 0, 0x0303, 51, 26, 0, 0x0240, 52, 27, 0, 0x01b1, 54, 28, 0,
    0x0144, 56, 29, 0, 0x00f5, 57, 30, 0, 0x00b7, 59, 31, 0, 0x008a, 60, 32, 0, 0x0068, 62, 33, 0, 0x004e, 63, 34, 0, 0x003b, 32, 35, 0,
    0x002c, 33, 9, 0, 0x5ae1, 37, 37, 1, 0x484c, 64, 38, 0, 0x3a0d, 65, 39, 0, 0x2ef1, 67, 40, 0, 0x261f, 68, 41, 0, 0x1f33, 69, 42, 0,
    0x19a8, 70, 43, 0, 0x1518, 72, 44, 0, 0x1177, 73, 45, 0, 0x0e74, 74, 46, 0, 0x0bfb, 75, 47, 0, 0x09f8, 77, 48, 0, 0x0861, 78, 49, 0,
    0x0706, 79, 50, 0, 0x05cd, 48, 51, 0, 0x04de, 50, 52, 0, 0x040f, 50, 53, 0, 0x0363, 51, 54, 0, 0x02d4, 52, 55, 0, 0x025c, 53, 56, 0,
    0x01f8, 54, 57, 0, 0x01a4, 55, 58, 0, 0x0160, 56, 59, 0, 0x0125, 57, 60, 0, 0x00f6, 58, 61, 0, 0x00cb, 59, 62, 0, 0x00ab, 61, 63, 0,
    0x008f, 61, 32, 0, 0x5b12, 65, 65, 1, 0x4d04, 80, 66, 0, 0x412c, 81, 67, 0, 0x37d8, 82, 68, 0, 0x2fe8, 83, 69, 0, 0x293c, 84, 70, 0,
    0x2379, 86, 71, 0, 0x1edf, 87, 72, 0, 0x1aa9, 87, 73, 0, 0x174e, 72, 74, 0, 0x1424, 72, 75, 0, 0x119c, 74, 76, 0, 0x0f6b, 74, 77, 0,
    0x0d51, 75, 78, 0, 0x0bb6, 77, 79, 0, 0x0a40, 77, 48, 0, 0x5832, 80, 81, 1, 0x4d1c, 88, 82, 0, 0x438e, 89, 83, 0, 0x3bdd, 90, 84, 0,
    0x34ee, 91, 85, 0, 0x2eae, 92, 86, 0, 0x299a, 93, 87, 0, 0x2516, 86, 71, 0, 0x5570, 88, 89, 1, 0x4ca9, 95, 90, 0, 0x44d9, 96, 91, 0,
    0x3e22, 97, 92, 0, 0x3824, 99, 93, 0, 0x32b4, 99, 94, 0, 0x2e17, 93, 86, 0, 0x56a8, 95, 96, 1, 0x4f46, 101, 97, 0, 0x47e5, 102, 98, 0,
    0x41cf, 103, 99, 0, 0x3c3d, 104, 100, 0, 0x375e, 99, 93, 0, 0x5231, 105, 102, 0, 0x4c0f, 106, 103, 0, 0x4639, 107, 104, 0,
    0x415e, 103, 99, 0, 0x5627, 105, 106, 1, 0x50e7, 108, 107, 0, 0x4b85, 109, 103, 0, 0x5597, 110, 109, 0, 0x504f, 111, 107, 0,
    0x5a10, 110, 111, 1, 0x5522, 112, 109, 0, 0x59eb, 112, 111, 1,
    0x5a1d, 113, 113, 0, // entry 113: the fixed probability 0.5 of T.851, used for signs and DC refinement
  ];
  const t = new Int32Array(114);
  for (let i = 0; i < 114; i++) {
    const [qe, lps, mps, sw] = rows.slice(4 * i, 4 * i + 4);
    t[i] = (qe << 16) | (mps << 8) | (sw << 7) | lps;
  }
  return t;
})();

class ArithDecoder {
  c = 0;
  a = 0;
  ct = -16; // forces reading two bytes into C first
  marker = false; // hit a marker: from now on supply zero bytes (T.81 D.2.6)
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
  ) {}

  reset(): void {
    this.c = 0;
    this.a = 0;
    this.ct = -16;
    this.marker = false;
  }

  private byte(): number {
    if (this.pos >= this.bytes.length) throw truncated(this.bytes.length);
    return this.bytes[this.pos++];
  }

  /**
   * One binary decision with the adaptive state st[i] (arith_decode). C stays below A·2^CT ≤ 2^23 for
   * any input, so 32-bit integers hold it.
   */
  decode(st: Uint8Array, i: number): number {
    let a = this.a, c = this.c;
    if (a < 0x8000) {
      let ct = this.ct;
      do {
        if (--ct < 0) {
          let data = 0;
          if (!this.marker) {
            data = this.byte();
            if (data === 0xff) {
              do data = this.byte();
              while (data === 0xff);
              if (data === 0) data = 0xff;
              else {
                this.marker = true;
                this.pos -= 2; // leave the marker for the marker reader
                data = 0;
              }
            }
          }
          c = (c << 8) | data;
          if ((ct += 8) < 0) if (++ct === 0) a = 0x8000;
        }
        a <<= 1;
      } while (a < 0x8000);
      this.ct = ct;
    }
    let sv = st[i];
    const e = ARITAB[sv & 0x7f];
    const qe = e >>> 16;
    a -= qe;
    const temp = a << this.ct;
    if (c >= temp) {
      c -= temp;
      // Conditional exchange: the LPS sub-interval may be the larger one.
      if (a < qe) st[i] = (sv & 0x80) ^ ((e >> 8) & 0xff);
      else {
        st[i] = (sv & 0x80) ^ (e & 0xff);
        sv ^= 0x80;
      }
      a = qe;
    } else if (a < 0x8000) {
      if (a < qe) {
        st[i] = (sv & 0x80) ^ (e & 0xff);
        sv ^= 0x80;
      } else st[i] = (sv & 0x80) ^ ((e >> 8) & 0xff);
    }
    this.a = a;
    this.c = c;
    return sv >> 7;
  }
}

// ---------------------------------------------------------------------------------------------------
// Inverse DCT (jidctint.c jpeg_idct_islow)
// ---------------------------------------------------------------------------------------------------

// The post-IDCT range-limit table: index (x >> 18) & 1023 of a sample x − 128 scaled by 2^18. Values
// 0..127 → 128..255, up to 511 → 255, 512..895 (large negatives) → 0, 896..1023 → 0..127.
const RANGE_LIMIT = (() => {
  const t = new Uint8Array(1024);
  for (let i = 0; i < 1024; i++) t[i] = i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896;
  return t;
})();

const workspace = new Int32Array(64);

/** One 8×8 block: coefficients coef[co..co+63] (natural order) dequantized by q → out at oo, stride. */
function idctIslow(coef: Int16Array, co: number, q: Int16Array, out: Uint8Array, oo: number, stride: number): void {
  const ws = workspace;
  const rl = RANGE_LIMIT;
  // Pass 1: columns, results scaled up by 2^PASS1_BITS (2).
  for (let c = 0; c < 8; c++) {
    const i = co + c;
    if (coef[i + 8] === 0 && coef[i + 16] === 0 && coef[i + 24] === 0 && coef[i + 32] === 0 && coef[i + 40] === 0 && coef[i + 48] === 0 && coef[i + 56] === 0) {
      const dc = (coef[i] * q[c]) << 2;
      ws[c] = ws[c + 8] = ws[c + 16] = ws[c + 24] = ws[c + 32] = ws[c + 40] = ws[c + 48] = ws[c + 56] = dc;
      continue;
    }
    let z2 = coef[i + 16] * q[c + 16];
    let z3 = coef[i + 48] * q[c + 48];
    let z1 = Math.imul(z2 + z3, 4433);
    let tmp2 = z1 + Math.imul(z3, -15137);
    let tmp3 = z1 + Math.imul(z2, 6270);
    z2 = coef[i] * q[c];
    z3 = coef[i + 32] * q[c + 32];
    let tmp0 = (z2 + z3) << 13;
    let tmp1 = (z2 - z3) << 13;
    const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
    tmp0 = coef[i + 56] * q[c + 56];
    tmp1 = coef[i + 40] * q[c + 40];
    tmp2 = coef[i + 24] * q[c + 24];
    tmp3 = coef[i + 8] * q[c + 8];
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = Math.imul(z3 + z4, 9633);
    tmp0 = Math.imul(tmp0, 2446);
    tmp1 = Math.imul(tmp1, 16819);
    tmp2 = Math.imul(tmp2, 25172);
    tmp3 = Math.imul(tmp3, 12299);
    z1 = Math.imul(z1, -7373);
    z2 = Math.imul(z2, -20995);
    z3 = Math.imul(z3, -16069) + z5;
    z4 = Math.imul(z4, -3196) + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    ws[c] = (tmp10 + tmp3 + 1024) >> 11;
    ws[c + 56] = (tmp10 - tmp3 + 1024) >> 11;
    ws[c + 8] = (tmp11 + tmp2 + 1024) >> 11;
    ws[c + 48] = (tmp11 - tmp2 + 1024) >> 11;
    ws[c + 16] = (tmp12 + tmp1 + 1024) >> 11;
    ws[c + 40] = (tmp12 - tmp1 + 1024) >> 11;
    ws[c + 24] = (tmp13 + tmp0 + 1024) >> 11;
    ws[c + 32] = (tmp13 - tmp0 + 1024) >> 11;
  }
  // Pass 2: rows, descaled by 2^(13 + 2 + 3) and range-limited. Only bits 18..27 of each sum matter,
  // so 32-bit wrap-around here gives exactly what libjpeg's 64-bit sums give.
  for (let r = 0; r < 8; r++, oo += stride) {
    const w = r * 8;
    if (ws[w + 1] === 0 && ws[w + 2] === 0 && ws[w + 3] === 0 && ws[w + 4] === 0 && ws[w + 5] === 0 && ws[w + 6] === 0 && ws[w + 7] === 0) {
      out.fill(rl[((ws[w] + 16) >> 5) & 1023], oo, oo + 8);
      continue;
    }
    let z2 = ws[w + 2];
    let z3 = ws[w + 6];
    let z1 = Math.imul(z2 + z3, 4433);
    let tmp2 = z1 + Math.imul(z3, -15137);
    let tmp3 = z1 + Math.imul(z2, 6270);
    let tmp0 = (ws[w] + ws[w + 4]) << 13;
    let tmp1 = (ws[w] - ws[w + 4]) << 13;
    const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
    tmp0 = ws[w + 7];
    tmp1 = ws[w + 5];
    tmp2 = ws[w + 3];
    tmp3 = ws[w + 1];
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = Math.imul(z3 + z4, 9633);
    tmp0 = Math.imul(tmp0, 2446);
    tmp1 = Math.imul(tmp1, 16819);
    tmp2 = Math.imul(tmp2, 25172);
    tmp3 = Math.imul(tmp3, 12299);
    z1 = Math.imul(z1, -7373);
    z2 = Math.imul(z2, -20995);
    z3 = Math.imul(z3, -16069) + z5;
    z4 = Math.imul(z4, -3196) + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    out[oo] = rl[((tmp10 + tmp3 + 131072) >> 18) & 1023];
    out[oo + 7] = rl[((tmp10 - tmp3 + 131072) >> 18) & 1023];
    out[oo + 1] = rl[((tmp11 + tmp2 + 131072) >> 18) & 1023];
    out[oo + 6] = rl[((tmp11 - tmp2 + 131072) >> 18) & 1023];
    out[oo + 2] = rl[((tmp12 + tmp1 + 131072) >> 18) & 1023];
    out[oo + 5] = rl[((tmp12 - tmp1 + 131072) >> 18) & 1023];
    out[oo + 3] = rl[((tmp13 + tmp0 + 131072) >> 18) & 1023];
    out[oo + 4] = rl[((tmp13 - tmp0 + 131072) >> 18) & 1023];
  }
}

// ---------------------------------------------------------------------------------------------------
// The decoder
// ---------------------------------------------------------------------------------------------------

interface Component extends FrameComponent {
  /** Blocks that hold image samples (width_in_blocks, height_in_blocks). */
  bw: number;
  bh: number;
  /** Samples that are image (downsampled_width, downsampled_height). */
  dw: number;
  dh: number;
  /** The quantization table, latched at the component's first scan: as the IDCT's 16-bit shorts, and as read. */
  quant?: Int16Array;
  quantRaw?: Uint16Array;
  /** All coefficients, bw × bh blocks of 64 in natural order (files with several scans). */
  coefs?: Int16Array;
  /** The decoded samples, bw·8 wide and bh·8 high. */
  plane?: Uint8Array;
  /** Progressive: per coefficient, the Al of its last scan, or −1 before any (cinfo->coef_bits). */
  coefBits: Int8Array;
  /** The current scan's DC prediction, and (arithmetic coding) its DC context. */
  dcPred: number;
  dcContext: number;
  /** The current scan's table numbers, and the Huffman tables built from them. */
  dcTbl: number;
  acTbl: number;
  dcTable?: HuffTable;
  acTable?: HuffTable;
}

interface Scan {
  comps: Component[];
  ss: number;
  se: number;
  ah: number;
  al: number;
}

type ColorSpace = 'gray' | 'ycc' | 'rgb' | 'cmyk' | 'ycck';

/** Options for decodeJpeg. */
export interface DecodeJpegOptions {
  /** Refuse images with more pixels than this, before allocating (default JPEG_DEFAULT_MAX_PIXELS). */
  maxPixels?: number;
}

/**
 * Decodes a JPEG to RGBA8 (alpha 255) exactly as Pillow 9.4 with libjpeg-turbo 2.1.5 decodes it for
 * Image.open(f).convert('RGB'). Throws ImageFormatError (one plain line) for anything it cannot decode.
 */
export function decodeJpeg(bytes: Uint8Array, options: DecodeJpegOptions = {}): DecodedJpeg {
  return new Decoder(bytes, options.maxPixels ?? MAX_DECODED_PIXELS).run();
}

class Decoder {
  private pos = 2;
  private frame?: Frame;
  private comps: Component[] = [];
  private maxH = 1;
  private maxV = 1;
  private mcusX = 0;
  private mcusY = 0;
  private readonly quant: (Uint16Array | undefined)[] = [];
  private readonly dcSources: (HuffmanSource | undefined)[] = [];
  private readonly acSources: (HuffmanSource | undefined)[] = [];
  private restartInterval = 0;
  private jfif = false;
  private adobe = -1;
  private scans = 0;
  private multiScan = false;
  // Arithmetic coding conditioning (DAC), defaults per jdmarker.c get_soi.
  private readonly dcL = new Uint8Array(16);
  private readonly dcU = new Uint8Array(16).fill(1);
  private readonly acK = new Uint8Array(16).fill(5);
  private readonly dcStats: Uint8Array[] = [];
  private readonly acStats: Uint8Array[] = [];
  private readonly fixedBin = Uint8Array.of(113, 0, 0, 0);
  private readonly block = new Int16Array(64); // scratch for blocks decoded straight to samples, or dropped

  constructor(
    private readonly bytes: Uint8Array,
    private readonly maxPixels: number,
  ) {
    checkStart(bytes);
  }

  run(): DecodedJpeg {
    const bytes = this.bytes;
    for (;;) {
      const { marker: m, pos } = nextMarker(bytes, this.pos);
      this.pos = pos;
      if (m === EOI) break;
      if (isSof(m)) {
        if (SOF_NAMES[m]) throw unsupported(`${SOF_NAMES[m]} is not supported by libjpeg or Pillow`);
        if (this.frame) throw corrupt('the file has two frame headers (SOF markers)');
        this.startFrame(parseSof(bytes, pos, m));
        this.pos += segmentLength(bytes, pos, 'SOF');
        continue;
      }
      if (m === SOS) {
        this.readScan();
        continue;
      }
      if ((m >= RST0 && m <= RST7) || m === TEM) continue; // parameterless; libjpeg ignores strays
      if (m === SOI) throw corrupt('a second SOI marker in the middle of the file');
      if (!isKnownSegment(m)) throw corrupt(`unknown marker 0xFF${hex(m)}`);
      const length = segmentLength(bytes, pos, markerName(m));
      const end = pos + length;
      if (m === DQT) this.readDqt(pos + 2, end);
      else if (m === DHT) this.readDht(pos + 2, end);
      else if (m === DAC) this.readDac(pos + 2, end);
      else if (m === DRI) {
        if (length !== 4) throw corrupt(`the DRI marker has length ${length} (it must be 4)`);
        this.restartInterval = (bytes[pos + 2] << 8) | bytes[pos + 3];
      } else if (this.scans === 0 && m === APP0 && length >= 16 && isAscii(bytes, pos + 2, 'JFIF\0')) this.jfif = true;
      else if (this.scans === 0 && m === APP14 && length >= 14 && isAscii(bytes, pos + 2, 'Adobe')) this.adobe = bytes[pos + 13];
      this.pos = end;
    }
    if (!this.frame) throw corrupt('the file has no image in it (EOI before any frame header)');
    if (this.scans === 0) throw corrupt('the file has a frame header but no image data (no SOS marker)');
    return this.output();
  }

  private startFrame(f: Frame): void {
    checkFrame(f);
    checkImageSize(f.width, f.height, this.maxPixels);
    this.frame = f;
    for (const c of f.components) {
      this.maxH = Math.max(this.maxH, c.h);
      this.maxV = Math.max(this.maxV, c.v);
    }
    this.mcusX = Math.ceil(f.width / (8 * this.maxH));
    this.mcusY = Math.ceil(f.height / (8 * this.maxV));
    this.comps = f.components.map((c) => ({
      ...c,
      bw: Math.ceil((f.width * c.h) / (8 * this.maxH)),
      bh: Math.ceil((f.height * c.v) / (8 * this.maxV)),
      dw: Math.ceil((f.width * c.h) / this.maxH),
      dh: Math.ceil((f.height * c.v) / this.maxV),
      coefBits: new Int8Array(64).fill(-1),
      dcPred: 0,
      dcContext: 0,
      dcTbl: 0,
      acTbl: 0,
    }));
  }

  private readDqt(pos: number, end: number): void {
    const b = this.bytes;
    while (pos < end) {
      const pq = b[pos] >> 4, tq = b[pos] & 15;
      pos++;
      if (tq > 3) throw corrupt(`a quantization table has the number ${tq} (0 to 3 exist)`);
      const size = pq ? 128 : 64;
      if (pos + size > end) throw corrupt('the DQT marker is shorter than its tables');
      const t = new Uint16Array(64);
      for (let i = 0; i < 64; i++) t[NATURAL_ORDER[i]] = pq ? (b[pos + 2 * i] << 8) | b[pos + 2 * i + 1] : b[pos + i];
      this.quant[tq] = t;
      pos += size;
    }
  }

  private readDht(pos: number, end: number): void {
    const b = this.bytes;
    while (end - pos > 16) {
      const tc = b[pos] >> 4, th = b[pos] & 15;
      const counts = b.slice(pos + 1, pos + 17);
      let total = 0;
      for (let i = 0; i < 16; i++) total += counts[i];
      pos += 17;
      if (total > 256 || pos + total > end) throw corrupt('a Huffman table (DHT) is longer than its marker');
      if (th > 3 || tc > 1) throw corrupt(`a Huffman table has the number ${th} (0 to 3 exist)`);
      const source: HuffmanSource = { counts, symbols: b.slice(pos, pos + total) };
      (tc === 0 ? this.dcSources : this.acSources)[th] = source;
      pos += total;
    }
    if (pos !== end) throw corrupt('the DHT marker has a length that does not match its tables');
  }

  private readDac(pos: number, end: number): void {
    const b = this.bytes;
    if ((end - pos) % 2 !== 0) throw corrupt('the DAC marker has an odd length');
    for (; pos < end; pos += 2) {
      const index = b[pos], val = b[pos + 1];
      if (index >= 32) throw corrupt(`the DAC marker names table ${index}`);
      if (index >= 16) this.acK[index - 16] = val;
      else {
        this.dcL[index] = val & 15;
        this.dcU[index] = val >> 4;
        if (this.dcL[index] > this.dcU[index]) throw corrupt('the DAC marker has a lower bound above its upper bound');
      }
    }
  }

  private huffman(sources: (HuffmanSource | undefined)[], slot: number, isDC: boolean, sequential: boolean): HuffTable {
    let s = sources[slot];
    if (!s && sequential && slot < 2) s = sources[slot] = isDC ? (slot ? { ...STD_DC_CHROMA } : { ...STD_DC_LUMA }) : slot ? { ...STD_AC_CHROMA } : { ...STD_AC_LUMA };
    if (!s) throw corrupt(`a scan uses Huffman table ${slot}, which the file never defines`);
    if (!s.built || s.builtAsDC !== isDC) {
      s.built = buildHuffman(s.counts, s.symbols, isDC);
      s.builtAsDC = isDC;
    }
    return s.built;
  }

  /**
   * Before the image's buffers are allocated: a Huffman-coded first scan needs at least 2 bits per block
   * (sequential: a DC code and an end-of-block code, each at least 1 bit long) or 1 (progressive DC),
   * so a small file that declares a large image is cut short: refused here, before it costs memory.
   * Arithmetic coding has no such bound (a flat image codes in almost nothing).
   */
  private checkLength(scan: Scan): void {
    const f = this.frame!;
    const bitsPerBlock = f.arithmetic ? 0 : !f.progressive ? 2 : scan.ss === 0 ? 1 : 0;
    const blocks = scan.comps.length > 1 ? this.mcusX * this.mcusY * scan.comps.reduce((n, c) => n + c.h * c.v, 0) : scan.comps[0].bw * scan.comps[0].bh;
    const need = Math.ceil((blocks * bitsPerBlock) / 8);
    // Worded as the same file is refused once its data runs out.
    if (this.bytes.length - this.pos < need) throw truncated(this.bytes.length);
  }

  private readScan(): void {
    const f = this.frame;
    if (!f) throw corrupt('image data (SOS) comes before the frame header (SOF)');
    const b = this.bytes;
    const length = segmentLength(b, this.pos, 'SOS');
    const n = b[this.pos + 2];
    if (n < 1 || n > 4 || length !== 6 + 2 * n) throw corrupt(`the scan header (SOS) has length ${length} for ${n} components`);
    const comps: Component[] = [];
    for (let i = 0; i < n; i++) {
      const at = this.pos + 3 + 2 * i;
      const c = this.comps.find((c) => c.id === b[at]);
      if (!c || comps.includes(c)) throw corrupt(`a scan names component ${b[at]}, which the frame does not have (or names it twice)`);
      c.dcTbl = b[at + 1] >> 4;
      c.acTbl = b[at + 1] & 15;
      comps.push(c);
    }
    const at = this.pos + 3 + 2 * n;
    const scan: Scan = { comps, ss: b[at], se: b[at + 1], ah: b[at + 2] >> 4, al: b[at + 2] & 15 };
    this.pos += length;

    if (this.scans === 0) {
      this.checkLength(scan);
      // libjpeg decides here whether to buffer coefficients (has_multiple_scans).
      this.multiScan = f.progressive || n < this.comps.length;
      for (const c of this.comps) {
        if (this.multiScan) c.coefs = new Int16Array(c.bw * c.bh * 64);
        else c.plane = new Uint8Array(c.bw * 8 * c.bh * 8);
      }
    } else if (!this.multiScan) throw corrupt('a second scan follows a single-scan image');
    // Each scan walks every block of its components, so a small file of many scans can cost minutes;
    // encoders write at most a few dozen (libjpeg itself sets no limit).
    if (++this.scans > MAX_SCANS) throw unsupported(`more than ${MAX_SCANS} scans`);

    if (n > 1) {
      let blocks = 0;
      for (const c of comps) blocks += c.h * c.v;
      if (blocks > 10) throw corrupt(`a scan's MCU has ${blocks} blocks (at most 10 are allowed)`);
    }
    // Latch each component's quantization table at its first scan (jdinput.c latch_quant_tables).
    for (const c of comps) {
      if (c.quant) continue;
      const q = c.tq < 4 ? this.quant[c.tq] : undefined;
      if (!q) throw corrupt(`component ${c.id} uses quantization table ${c.tq}, which the file never defines`);
      c.quantRaw = q.slice();
      c.quant = Int16Array.from(q); // libjpeg's ISLOW_MULT_TYPE is a short
    }
    if (f.progressive) this.checkProgression(scan);
    if (f.arithmetic) this.decodeArithmeticScan(scan);
    else this.decodeHuffmanScan(scan);
  }

  /** jdphuff.c / jdarith.c start_pass: validate Ss, Se, Ah, Al and update coef_bits. */
  private checkProgression(s: Scan): void {
    const dc = s.ss === 0;
    let bad = dc ? s.se !== 0 : s.ss > s.se || s.se > 63 || s.comps.length !== 1;
    if (s.ah !== 0 && s.al !== s.ah - 1) bad = true;
    if (s.al > 13) bad = true;
    if (bad) throw corrupt(`a progressive scan has impossible parameters (Ss=${s.ss}, Se=${s.se}, Ah=${s.ah}, Al=${s.al})`);
    for (const c of s.comps) for (let k = s.ss; k <= s.se; k++) c.coefBits[k] = s.al;
  }

  /**
   * Calls `block(c, row, col)` for every block of every MCU of the scan, in order, `restart()` before
   * each restart interval but the first, and `endOfMcu()` after each MCU. An interleaved scan's MCUs
   * also cover padding blocks past the component's image area (the last MCU column and row): they are
   * in the data, so they are decoded too.
   */
  private forEachBlock(scan: Scan, restart: () => void, block: (c: Component, row: number, col: number) => void, endOfMcu: () => void): void {
    const single = scan.comps.length === 1;
    const c0 = scan.comps[0];
    const mcusX = single ? c0.bw : this.mcusX;
    const mcusY = single ? c0.bh : this.mcusY;
    const ri = this.restartInterval;
    let mcu = 0;
    for (let my = 0; my < mcusY; my++) {
      for (let mx = 0; mx < mcusX; mx++, mcu++) {
        if (ri > 0 && mcu > 0 && mcu % ri === 0) restart();
        if (single) block(c0, my, mx);
        else for (const c of scan.comps) for (let v = 0; v < c.v; v++) for (let h = 0; h < c.h; h++) block(c, my * c.v + v, mx * c.h + h);
        endOfMcu();
      }
    }
  }

  /** Skips to the expected RSTn marker (libjpeg: read_restart_marker), refusing any other. */
  private expectRestart(pos: number, n: number): number {
    const { marker, pos: after } = nextMarker(this.bytes, pos);
    if (marker !== RST0 + (n & 7))
      throw corrupt(`restart marker ${n & 7} is missing (found ${marker >= RST0 && marker <= RST7 ? `restart marker ${marker - RST0}` : `marker 0xFF${hex(marker)}`} instead)`);
    return after;
  }

  private decodeHuffmanScan(scan: Scan): void {
    const f = this.frame!;
    const br = new BitReader(this.bytes, this.pos);
    const sequential = !f.progressive;
    const { ss, se, ah, al } = scan;
    const dcFirst = ss === 0 && ah === 0;
    for (const c of scan.comps) {
      if (sequential || dcFirst) c.dcTable = this.huffman(this.dcSources, c.dcTbl, true, sequential);
      if (sequential || ss > 0) c.acTable = this.huffman(this.acSources, c.acTbl, false, sequential);
      c.dcPred = 0;
    }
    let eobrun = 0;
    let restarts = 0;
    const restart = () => {
      br.reset();
      br.pos = this.expectRestart(br.pos, restarts++);
      for (const c of scan.comps) c.dcPred = 0;
      eobrun = 0;
    };
    const blockData = this.block;
    const p1 = 1 << al, m1 = -1 << al;

    let decode: (c: Component, coefs: Int16Array, o: number) => void;
    if (sequential) {
      decode = (c, coefs, o) => {
        c.dcPred = br.sequentialBlock(c.dcTable!, c.acTable!, coefs, o, c.dcPred);
      };
    } else if (ss === 0 && ah === 0) {
      decode = (c, coefs, o) => {
        const s = br.decode(c.dcTable!);
        c.dcPred = (c.dcPred + br.receive(s)) | 0;
        coefs[o] = c.dcPred << al;
      };
    } else if (ss === 0) {
      decode = (_c, coefs, o) => {
        if (br.bits(1)) coefs[o] |= p1;
      };
    } else if (ah === 0) {
      decode = (c, coefs, o) => {
        if (eobrun > 0) {
          eobrun--;
          return;
        }
        const acT = c.acTable!;
        for (let k = ss; k <= se; k++) {
          const rs = br.decode(acT);
          const r = rs >> 4, size = rs & 15;
          if (size) {
            k += r;
            coefs[o + NATURAL_ORDER[k]] = br.receive(size) * (1 << al);
          } else if (r === 15) k += 15;
          else {
            eobrun = (1 << r) + br.bits(r) - 1;
            break;
          }
        }
      };
    } else {
      decode = (c, coefs, o) => {
        const acT = c.acTable!;
        let k = ss;
        if (eobrun === 0) {
          for (; k <= se; k++) {
            const rs = br.decode(acT);
            let r = rs >> 4;
            const size = rs & 15;
            let value = 0;
            if (size) {
              if (size !== 1) throw corrupt('a refinement scan has a coefficient of size other than 1');
              value = br.bits(1) ? p1 : m1;
            } else if (r !== 15) {
              eobrun = (1 << r) + br.bits(r);
              break;
            }
            // Skip already-nonzero coefficients (appending a correction bit to each) and r zero ones.
            do {
              const z = o + NATURAL_ORDER[k];
              if (coefs[z] !== 0) {
                if (br.bits(1) && (coefs[z] & p1) === 0) coefs[z] += coefs[z] >= 0 ? p1 : m1;
              } else if (--r < 0) break;
              k++;
            } while (k <= se);
            if (value) coefs[o + NATURAL_ORDER[k]] = value;
          }
        }
        if (eobrun > 0) {
          for (; k <= se; k++) {
            const z = o + NATURAL_ORDER[k];
            if (coefs[z] !== 0 && br.bits(1) && (coefs[z] & p1) === 0) coefs[z] += coefs[z] >= 0 ? p1 : m1;
          }
          eobrun--;
        }
      };
    }

    if (this.multiScan) {
      this.forEachBlock(
        scan,
        restart,
        (c, row, col) => {
          if (row < c.bh && col < c.bw) decode(c, c.coefs!, (row * c.bw + col) * 64);
          else {
            blockData.fill(0, 0, 64); // padding block: decoded, then dropped
            decode(c, blockData, 0);
          }
        },
        () => br.check(),
      );
    } else {
      this.forEachBlock(
        scan,
        restart,
        (c, row, col) => {
          blockData.fill(0, 0, 64);
          decode(c, blockData, 0);
          if (row < c.bh && col < c.bw) {
            const stride = c.bw * 8;
            idctIslow(blockData, 0, c.quant!, c.plane!, row * 8 * stride + col * 8, stride);
          }
        },
        () => br.check(),
      );
    }
    // The scan is complete; the next marker is at or after where the reader stopped.
    this.pos = br.pos;
  }

  private decodeArithmeticScan(scan: Scan): void {
    const f = this.frame!;
    const ad = new ArithDecoder(this.bytes, this.pos);
    const { ss, se, ah, al } = scan;
    const progressive = f.progressive;
    const initStats = () => {
      for (const c of scan.comps) {
        if (!progressive || (ss === 0 && ah === 0)) {
          (this.dcStats[c.dcTbl] ??= new Uint8Array(64)).fill(0);
          c.dcPred = 0;
          c.dcContext = 0;
        }
        if (!progressive || ss > 0) (this.acStats[c.acTbl] ??= new Uint8Array(256)).fill(0);
      }
    };
    initStats();
    let restarts = 0;
    const restart = () => {
      ad.pos = this.expectRestart(ad.pos, restarts++);
      initStats();
      ad.reset();
    };
    const fixed = this.fixedBin;
    const bad = () => corrupt('the arithmetic-coded data is inconsistent (a coefficient overflows)');

    // F.2.4.1 / jdarith.c: one DC difference, with its context update; returns the new DC value.
    const decodeDc = (c: Component): number => {
      const tbl = c.dcTbl;
      const st = this.dcStats[tbl];
      let s = c.dcContext;
      if (ad.decode(st, s) === 0) c.dcContext = 0;
      else {
        const sign = ad.decode(st, s + 1);
        s += 2 + sign;
        let m = ad.decode(st, s);
        if (m !== 0) {
          s = 20;
          while (ad.decode(st, s)) {
            if ((m <<= 1) === 0x8000) throw bad();
            s++;
          }
        }
        if (m < (1 << this.dcL[tbl]) >> 1) c.dcContext = 0;
        else if (m > (1 << this.dcU[tbl]) >> 1) c.dcContext = 12 + sign * 4;
        else c.dcContext = 4 + sign * 4;
        let v = m;
        s += 14;
        while ((m >>= 1)) if (ad.decode(st, s)) v |= m;
        v += 1;
        if (sign) v = -v;
        c.dcPred = (c.dcPred + v) & 0xffff;
      }
      return c.dcPred;
    };
    // F.2.4.2: the AC coefficients k..se of one block (first scans), scaled by 2^al.
    const decodeAc = (c: Component, coefs: Int16Array, o: number, from: number, to: number, shift: number) => {
      const tbl = c.acTbl;
      const st = this.acStats[tbl];
      for (let k = from; k <= to; k++) {
        let s = 3 * (k - 1);
        if (ad.decode(st, s)) break; // EOB
        while (ad.decode(st, s + 1) === 0) {
          s += 3;
          if (++k > to) throw bad();
        }
        const sign = ad.decode(fixed, 0);
        s += 2;
        let m = ad.decode(st, s);
        if (m !== 0 && ad.decode(st, s)) {
          m <<= 1;
          s = k <= this.acK[tbl] ? 189 : 217;
          while (ad.decode(st, s)) {
            if ((m <<= 1) === 0x8000) throw bad();
            s++;
          }
        }
        let v = m;
        s += 14;
        while ((m >>= 1)) if (ad.decode(st, s)) v |= m;
        v += 1;
        if (sign) v = -v;
        coefs[o + NATURAL_ORDER[k]] = v << shift;
      }
    };

    let decode: (c: Component, coefs: Int16Array, o: number) => void;
    if (!progressive) {
      decode = (c, coefs, o) => {
        coefs[o] = decodeDc(c);
        decodeAc(c, coefs, o, 1, 63, 0);
      };
    } else if (ss === 0 && ah === 0) {
      decode = (c, coefs, o) => {
        coefs[o] = decodeDc(c) << al;
      };
    } else if (ss === 0) {
      decode = (_c, coefs, o) => {
        if (ad.decode(fixed, 0)) coefs[o] |= 1 << al;
      };
    } else if (ah === 0) {
      decode = (c, coefs, o) => decodeAc(c, coefs, o, ss, se, al);
    } else {
      const p1 = 1 << al, m1 = -1 << al;
      decode = (c, coefs, o) => {
        const st = this.acStats[c.acTbl];
        let kex = se;
        for (; kex > 0; kex--) if (coefs[o + NATURAL_ORDER[kex]]) break;
        for (let k = ss; k <= se; k++) {
          let s = 3 * (k - 1);
          if (k > kex && ad.decode(st, s)) break; // EOB
          for (;;) {
            const z = o + NATURAL_ORDER[k];
            if (coefs[z]) {
              if (ad.decode(st, s + 2)) coefs[z] += coefs[z] < 0 ? m1 : p1;
              break;
            }
            if (ad.decode(st, s + 1)) {
              coefs[z] = ad.decode(fixed, 0) ? m1 : p1;
              break;
            }
            s += 3;
            if (++k > se) throw bad();
          }
        }
      };
    }

    const blockData = this.block;
    this.forEachBlock(
      scan,
      restart,
      this.multiScan
        ? (c, row, col) => {
            if (row < c.bh && col < c.bw) decode(c, c.coefs!, (row * c.bw + col) * 64);
            else {
              blockData.fill(0, 0, 64);
              decode(c, blockData, 0);
            }
          }
        : (c, row, col) => {
            blockData.fill(0, 0, 64);
            decode(c, blockData, 0);
            if (row < c.bh && col < c.bw) {
              const stride = c.bw * 8;
              idctIslow(blockData, 0, c.quant!, c.plane!, row * 8 * stride + col * 8, stride);
            }
          },
      () => {},
    );
    this.pos = ad.pos;
  }

  // -------------------------------------------------------------------------------------------------
  // Output: IDCT of buffered coefficients, upsampling, colour conversion
  // -------------------------------------------------------------------------------------------------

  private output(): DecodedJpeg {
    const f = this.frame!;
    if (this.multiScan) {
      const smooth = f.progressive && this.smoothingUseful();
      for (const c of this.comps) {
        const stride = c.bw * 8;
        const plane = (c.plane = new Uint8Array(stride * c.bh * 8));
        // A component no scan ever named has no quantization table; libjpeg's multiplier table is then
        // all zeros, and its (zero) coefficients decode to 128.
        const q = c.quant ?? new Int16Array(64);
        const coefs = c.coefs!;
        if (smooth) this.smoothComponent(c, q);
        else
          for (let row = 0; row < c.bh; row++)
            for (let col = 0; col < c.bw; col++) idctIslow(coefs, (row * c.bw + col) * 64, q, plane, row * 8 * stride + col * 8, stride);
        c.coefs = undefined;
      }
    }
    return this.convert();
  }

  /** jdcoefct.c smoothing_ok: every component has a latched table with nonzero Q00..Q30 and a DC scan, and some first-nine AC coefficient is unfinished. */
  private smoothingUseful(): boolean {
    let useful = false;
    for (const c of this.comps) {
      const q = c.quantRaw;
      if (!q) return false;
      for (const pos of [0, 1, 8, 16, 9, 2, 3, 10, 17, 24]) if (q[pos] === 0) return false;
      if (c.coefBits[0] < 0) return false;
      for (let k = 1; k <= 9; k++) if (c.coefBits[k] !== 0) useful = true;
    }
    return useful;
  }

  /** jdcoefct.c decompress_smooth_data (libjpeg-turbo 2.1.5), block by block, then the IDCT. */
  private smoothComponent(c: Component, q: Int16Array): void {
    const coefs = c.coefs!;
    const plane = c.plane!;
    const stride = c.bw * 8;
    const bits = c.coefBits;
    const qr = c.quantRaw!;
    const Q00 = qr[0], Q01 = qr[1], Q10 = qr[8], Q20 = qr[16], Q11 = qr[9], Q02 = qr[2];
    const changeDc = [1, 2, 3, 4, 5, 6, 7, 8, 9].every((k) => bits[k] === -1);
    const Q03 = qr[3], Q12 = qr[10], Q21 = qr[17], Q30 = qr[24];
    const ws = new Int16Array(64);
    const lastRow = this.mcusY - 1;
    const lastCol = c.bw - 1;
    // pred for coefficient k from num, as libjpeg: rounded division, clamped below 2^Al when Al > 0.
    const predict = (Al: number, num: number, Q: number): number => {
      let pred = Math.floor(((Q << 7) + Math.abs(num)) / (Q << 8));
      if (Al > 0 && pred >= 1 << Al) pred = (1 << Al) - 1;
      pred |= 0;
      return num >= 0 ? pred : -pred;
    };
    for (let R = 0; R <= lastRow; R++) {
      const blockRows = R < lastRow ? c.v : c.bh % c.v || c.v;
      for (let br = 0; br < blockRows; br++) {
        const row = R * c.v + br;
        const prev = br > 0 || R > 0 ? row - 1 : row;
        const prevPrev = br > 1 || R > 1 ? row - 2 : prev;
        const next = br < blockRows - 1 || R < lastRow ? row + 1 : row;
        const nextNext = br < blockRows - 2 || R + 1 < lastRow ? row + 2 : next;
        const dcAt = (r: number, col: number) => coefs[(r * c.bw + col) * 64];
        let DC01 = dcAt(prevPrev, 0), DC02 = DC01, DC03 = DC01, DC04 = DC01, DC05 = DC01;
        let DC06 = dcAt(prev, 0), DC07 = DC06, DC08 = DC06, DC09 = DC06, DC10 = DC06;
        let DC11 = dcAt(row, 0), DC12 = DC11, DC13 = DC11, DC14 = DC11, DC15 = DC11;
        let DC16 = dcAt(next, 0), DC17 = DC16, DC18 = DC16, DC19 = DC16, DC20 = DC16;
        let DC21 = dcAt(nextNext, 0), DC22 = DC21, DC23 = DC21, DC24 = DC21, DC25 = DC21;
        for (let col = 0; col <= lastCol; col++) {
          const o = (row * c.bw + col) * 64;
          ws.set(coefs.subarray(o, o + 64));
          if (col === 0 && col < lastCol) {
            DC04 = dcAt(prevPrev, 1);
            DC09 = dcAt(prev, 1);
            DC14 = dcAt(row, 1);
            DC19 = dcAt(next, 1);
            DC24 = dcAt(nextNext, 1);
          }
          if (col + 1 < lastCol) {
            DC05 = dcAt(prevPrev, col + 2);
            DC10 = dcAt(prev, col + 2);
            DC15 = dcAt(row, col + 2);
            DC20 = dcAt(next, col + 2);
            DC25 = dcAt(nextNext, col + 2);
          }
          let Al: number;
          if ((Al = bits[1]) !== 0 && ws[1] === 0) {
            const num = Q00 * (changeDc
              ? -DC01 - DC02 + DC04 + DC05 - 3 * DC06 + 13 * DC07 - 13 * DC09 + 3 * DC10 - 3 * DC11 + 38 * DC12 - 38 * DC14 + 3 * DC15 - 3 * DC16 + 13 * DC17 - 13 * DC19 + 3 * DC20 - DC21 - DC22 + DC24 + DC25
              : -7 * DC11 + 50 * DC12 - 50 * DC14 + 7 * DC15);
            ws[1] = predict(Al, num, Q01);
          }
          if ((Al = bits[2]) !== 0 && ws[8] === 0) {
            const num = Q00 * (changeDc
              ? -DC01 - 3 * DC02 - 3 * DC03 - 3 * DC04 - DC05 - DC06 + 13 * DC07 + 38 * DC08 + 13 * DC09 - DC10 + DC16 - 13 * DC17 - 38 * DC18 - 13 * DC19 + DC20 + DC21 + 3 * DC22 + 3 * DC23 + 3 * DC24 + DC25
              : -7 * DC03 + 50 * DC08 - 50 * DC18 + 7 * DC23);
            ws[8] = predict(Al, num, Q10);
          }
          if ((Al = bits[3]) !== 0 && ws[16] === 0) {
            const num = Q00 * (changeDc
              ? DC03 + 2 * DC07 + 7 * DC08 + 2 * DC09 - 5 * DC12 - 14 * DC13 - 5 * DC14 + 2 * DC17 + 7 * DC18 + 2 * DC19 + DC23
              : -DC03 + 13 * DC08 - 24 * DC13 + 13 * DC18 - DC23);
            ws[16] = predict(Al, num, Q20);
          }
          if ((Al = bits[4]) !== 0 && ws[9] === 0) {
            const num = Q00 * (changeDc
              ? -DC01 + DC05 + 9 * DC07 - 9 * DC09 - 9 * DC17 + 9 * DC19 + DC21 - DC25
              : DC10 + DC16 - 10 * DC17 + 10 * DC19 - DC02 - DC20 + DC22 - DC24 + DC04 - DC06 + 10 * DC07 - 10 * DC09);
            ws[9] = predict(Al, num, Q11);
          }
          if ((Al = bits[5]) !== 0 && ws[2] === 0) {
            const num = Q00 * (changeDc
              ? 2 * DC07 - 5 * DC08 + 2 * DC09 + DC11 + 7 * DC12 - 14 * DC13 + 7 * DC14 + DC15 + 2 * DC17 - 5 * DC18 + 2 * DC19
              : -DC11 + 13 * DC12 - 24 * DC13 + 13 * DC14 - DC15);
            ws[2] = predict(Al, num, Q02);
          }
          if (changeDc) {
            if ((Al = bits[6]) !== 0 && ws[3] === 0) ws[3] = predict(Al, Q00 * (DC07 - DC09 + 2 * DC12 - 2 * DC14 + DC17 - DC19), Q03);
            if ((Al = bits[7]) !== 0 && ws[10] === 0) ws[10] = predict(Al, Q00 * (DC07 - 3 * DC08 + DC09 - DC17 + 3 * DC18 - DC19), Q12);
            if ((Al = bits[8]) !== 0 && ws[17] === 0) ws[17] = predict(Al, Q00 * (DC07 - DC09 - 3 * DC12 + 3 * DC14 + DC17 - DC19), Q21);
            if ((Al = bits[9]) !== 0 && ws[24] === 0) ws[24] = predict(Al, Q00 * (DC07 + 2 * DC08 + DC09 - DC17 - 2 * DC18 - DC19), Q30);
            const num = Q00 * (-2 * DC01 - 6 * DC02 - 8 * DC03 - 6 * DC04 - 2 * DC05 - 6 * DC06 + 6 * DC07 + 42 * DC08 + 6 * DC09 - 6 * DC10 - 8 * DC11 + 42 * DC12 + 152 * DC13 + 42 * DC14 - 8 * DC15 - 6 * DC16 + 6 * DC17 + 42 * DC18 + 6 * DC19 - 6 * DC20 - 2 * DC21 - 6 * DC22 - 8 * DC23 - 6 * DC24 - 2 * DC25);
            ws[0] = predict(0, num, Q00);
          }
          idctIslow(ws, 0, q, plane, row * 8 * stride + col * 8, stride);
          DC01 = DC02; DC02 = DC03; DC03 = DC04; DC04 = DC05;
          DC06 = DC07; DC07 = DC08; DC08 = DC09; DC09 = DC10;
          DC11 = DC12; DC12 = DC13; DC13 = DC14; DC14 = DC15;
          DC16 = DC17; DC17 = DC18; DC18 = DC19; DC19 = DC20;
          DC21 = DC22; DC22 = DC23; DC23 = DC24; DC24 = DC25;
        }
      }
    }
  }

  private colorSpace(): ColorSpace {
    const n = this.comps.length;
    if (n === 1) return 'gray';
    if (n === 3) {
      if (this.jfif) return 'ycc';
      if (this.adobe >= 0) return this.adobe === 0 ? 'rgb' : 'ycc';
      const [a, b, c] = this.comps.map((c) => c.id);
      return a === 82 && b === 71 && c === 66 ? 'rgb' : 'ycc';
    }
    if (this.adobe >= 0) return this.adobe === 0 ? 'cmyk' : 'ycck';
    return 'cmyk';
  }

  /** Upsamples each component row by row (jdsample.c) and converts to RGBA (jdcolor.c, then Pillow). */
  private convert(): DecodedJpeg {
    const { width: W, height: H } = this.frame!;
    const out = new Uint8Array(W * H * 4);
    // Writes through a clamped view saturate to 0..255, which is what libjpeg's range_limit does.
    const outc = new Uint8ClampedArray(out.buffer);
    const ups = this.comps.map((c) => new RowUpsampler(c, this.maxH, this.maxV, W));
    const space = this.colorSpace();
    const [a, b, c, d] = ups;
    for (let y = 0, o = 0; y < H; y++, o += 4 * W) {
      const ao = a.row(y);
      if (space === 'gray') grayRow(a.src, ao, out, o, W);
      else if (space === 'ycc') yccRow(a.src, ao, b.src, b.row(y), c.src, c.row(y), outc, o, W);
      else if (space === 'rgb') rgbRow(a.src, ao, b.src, b.row(y), c.src, c.row(y), out, o, W);
      else cmykRow(a.src, ao, b.src, b.row(y), c.src, c.row(y), d.src, d.row(y), out, o, W, space === 'ycck');
    }
    return { width: W, height: H, data: out };
  }
}

function grayRow(g: Uint8Array, go: number, out: Uint8Array, o: number, W: number): void {
  for (let x = 0; x < W; x++, o += 4) {
    const v = g[go + x];
    out[o] = v;
    out[o + 1] = v;
    out[o + 2] = v;
    out[o + 3] = 255;
  }
}

function rgbRow(r: Uint8Array, ro: number, g: Uint8Array, go: number, b: Uint8Array, bo: number, out: Uint8Array, o: number, W: number): void {
  for (let x = 0; x < W; x++, o += 4) {
    out[o] = r[ro + x];
    out[o + 1] = g[go + x];
    out[o + 2] = b[bo + x];
    out[o + 3] = 255;
  }
}

/** jdcolor.c ycc_rgb_convert: R = y + Cr→R, G = y + ((Cb→G + Cr→G) >> 16), B = y + Cb→B, range-limited. */
function yccRow(Y: Uint8Array, yo: number, Cb: Uint8Array, bo: number, Cr: Uint8Array, ro: number, out: Uint8ClampedArray, o: number, W: number): void {
  const { crR, cbB, crG, cbG } = YCC;
  for (let x = 0; x < W; x++, o += 4) {
    const y = Y[yo + x], cb = Cb[bo + x], cr = Cr[ro + x];
    out[o] = y + crR[cr];
    out[o + 1] = y + ((cbG[cb] + crG[cr]) >> 16);
    out[o + 2] = y + cbB[cb];
    out[o + 3] = 255;
  }
}

/**
 * Four components as Pillow sees them: libjpeg's CMYK samples (YCCK converted by jdcolor.c's
 * ycck_cmyk_convert: C = clamp(255 − (y + Cr→R)), M, Y likewise, K unchanged), inverted by Pillow's
 * "CMYK;I" rawmode (ci = 255 − C, …, ki = 255 − K), then Convert.c's cmyk2rgb: nk = 255 − ki = K and
 * R = CLIP8(nk − MULDIV255(ci, nk)), G and B likewise.
 */
function cmykRow(
  A: Uint8Array, ao: number, B: Uint8Array, bo: number, C: Uint8Array, co: number, K: Uint8Array, ko: number,
  out: Uint8Array, o: number, W: number, ycck: boolean,
): void {
  const { crR, cbB, crG, cbG } = YCC;
  for (let x = 0; x < W; x++, o += 4) {
    let c0 = A[ao + x], c1 = B[bo + x], c2 = C[co + x];
    const k = K[ko + x];
    if (ycck) {
      const y = c0, cb = c1, cr = c2;
      c0 = CLAMP[511 - (y + crR[cr])];
      c1 = CLAMP[511 - (y + ((cbG[cb] + crG[cr]) >> 16))];
      c2 = CLAMP[511 - (y + cbB[cb])];
    }
    out[o] = k - muldiv255(255 - c0, k);
    out[o + 1] = k - muldiv255(255 - c1, k);
    out[o + 2] = k - muldiv255(255 - c2, k);
    out[o + 3] = 255;
  }
}

const muldiv255 = (a: number, b: number) => {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
};

/** clamp(i − 256) to 0..255 for i in 0..1023 (libjpeg's sample_range_limit, offset by 256). */
const CLAMP = (() => {
  const t = new Uint8Array(1024);
  for (let i = 0; i < 1024; i++) t[i] = Math.min(255, Math.max(0, i - 256));
  return t;
})();

/** jdcolor.c build_ycc_rgb_table: SCALEBITS 16, FIX(x) = round(x · 2^16); Cb→G carries the rounding half. */
const YCC = (() => {
  const FIX = (x: number) => Math.floor(x * 65536 + 0.5);
  const crR = new Int32Array(256), cbB = new Int32Array(256), crG = new Int32Array(256), cbG = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    const x = i - 128;
    crR[i] = (FIX(1.402) * x + 32768) >> 16;
    cbB[i] = (FIX(1.772) * x + 32768) >> 16;
    crG[i] = -FIX(0.71414) * x;
    cbG[i] = -FIX(0.34414) * x + 32768;
  }
  return { crR, cbB, crG, cbG };
})();

/**
 * A component's samples for each output row, upsampled by jdsample.c's method for its ratio:
 * fullsize (the plane row itself), h2v1 or h2v2 fancy (components wider than 2 samples), h1v2 fancy,
 * or box replication (int_upsample, and h2v1/h2v2 for components 2 or fewer samples wide).
 * row(y) fills `src` if needed and returns the offset of row y's first sample in it.
 */
class RowUpsampler {
  readonly src: Uint8Array;
  private readonly plane: Uint8Array;
  private readonly stride: number;
  private readonly dw: number;
  private readonly lastRow: number;
  private readonly hr: number;
  private readonly vr: number;
  private readonly kind: 'full' | 'h2v1' | 'h1v2' | 'h2v2' | 'box';

  constructor(c: Component, maxH: number, maxV: number, private readonly width: number) {
    this.plane = c.plane!;
    this.stride = c.bw * 8;
    this.dw = c.dw;
    this.lastRow = c.dh - 1;
    this.hr = maxH / c.h;
    this.vr = maxV / c.v;
    const { hr, vr, dw } = this;
    this.kind =
      hr === 1 && vr === 1 ? 'full'
      : hr === 2 && vr === 1 && dw > 2 ? 'h2v1'
      : hr === 1 && vr === 2 ? 'h1v2'
      : hr === 2 && vr === 2 && dw > 2 ? 'h2v2'
      : 'box';
    this.src = this.kind === 'full' ? this.plane : new Uint8Array(width + 2 * dw + 8);
  }

  row(y: number): number {
    switch (this.kind) {
      case 'full':
        return y * this.stride;
      case 'h2v1':
        h2v1Fancy(this.plane, y * this.stride, this.dw, this.src);
        return 0;
      case 'h1v2': {
        // The nearer row weighs 3, the other 1; rows past the image edge repeat the edge row.
        const iy = y >> 1, odd = y & 1;
        const near = iy * this.stride;
        const far = (odd ? Math.min(iy + 1, this.lastRow) : Math.max(iy - 1, 0)) * this.stride;
        h1v2Fancy(this.plane, near, far, odd ? 2 : 1, this.dw, this.src);
        return 0;
      }
      case 'h2v2': {
        const iy = y >> 1;
        const near = iy * this.stride;
        const far = (y & 1 ? Math.min(iy + 1, this.lastRow) : Math.max(iy - 1, 0)) * this.stride;
        h2v2Fancy(this.plane, near, far, this.dw, this.src);
        return 0;
      }
      default: {
        const i = Math.floor(y / this.vr) * this.stride, hr = this.hr, src = this.src, plane = this.plane;
        for (let x = 0; x < this.width; x++) src[x] = plane[i + Math.floor(x / hr)];
        return 0;
      }
    }
  }
}

/** jdsample.c h2v1_fancy_upsample: outputs 3/4 nearer + 1/4 further sample, rounding alternately. */
function h2v1Fancy(p: Uint8Array, i: number, dw: number, out: Uint8Array): void {
  let v = p[i];
  out[0] = v;
  out[1] = (v * 3 + p[i + 1] + 2) >> 2;
  for (let x = 1, o = 2; x < dw - 1; x++, o += 2) {
    v = p[i + x] * 3;
    out[o] = (v + p[i + x - 1] + 1) >> 2;
    out[o + 1] = (v + p[i + x + 1] + 2) >> 2;
  }
  v = p[i + dw - 1];
  out[2 * dw - 2] = (v * 3 + p[i + dw - 2] + 1) >> 2;
  out[2 * dw - 1] = v;
}

/** libjpeg-turbo's h1v2_fancy_upsample: bias 1 towards the row above, 2 towards the row below. */
function h1v2Fancy(p: Uint8Array, near: number, far: number, bias: number, dw: number, out: Uint8Array): void {
  for (let x = 0; x < dw; x++) out[x] = (p[near + x] * 3 + p[far + x] + bias) >> 2;
}

/** jdsample.c h2v2_fancy_upsample: column sums 3·near + far, then 3/4 + 1/4 across, in 1/16ths. */
function h2v2Fancy(p: Uint8Array, near: number, far: number, dw: number, out: Uint8Array): void {
  let thiscol = p[near] * 3 + p[far];
  let nextcol = p[near + 1] * 3 + p[far + 1];
  out[0] = (thiscol * 4 + 8) >> 4;
  out[1] = (thiscol * 3 + nextcol + 7) >> 4;
  let lastcol = thiscol;
  thiscol = nextcol;
  let o = 2;
  for (let x = 2; x < dw; x++, o += 2) {
    nextcol = p[near + x] * 3 + p[far + x];
    out[o] = (thiscol * 3 + lastcol + 8) >> 4;
    out[o + 1] = (thiscol * 3 + nextcol + 7) >> 4;
    lastcol = thiscol;
    thiscol = nextcol;
  }
  out[o] = (thiscol * 3 + lastcol + 8) >> 4;
  out[o + 1] = (thiscol * 4 + 7) >> 4;
}
